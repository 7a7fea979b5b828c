"""The review queue: escalations and held replies, sorted by level then waiting time, with SLA timers.

Every state change is an audit event naming the staff member (``staff:<username>``); outcomes are a fixed list so
the dashboard and the label export can count them. Every read and action takes the staff member's tenant grants:
an item of a tenant they are not granted does not exist for them (NotFound, 404).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mindrail.risk.types import Level
from mindrail.store import NotFound, Store
from mindrail.store.models import Conversation, ReviewItem, Turn, utcnow
from mindrail.store.tenancy import EVERYTHING, Grants, staff_actor

OUTCOMES = ("contacted_person", "referred", "emergency_services", "false_alarm", "other")
RELEASES = ("approved", "edited", "rejected")
DEFAULT_SLA_MINUTES = {Level.IMMINENT: 5, Level.HIGH: 15, Level.MODERATE: 60, Level.LOW: 240, Level.NONE: 1440}


class QueueError(ValueError):
    """An action that does not fit the item's state (resolving an unclaimed item, claiming a resolved one...)."""


@dataclass(frozen=True, slots=True)
class QueueItem:
    id: int
    conversation_id: str
    turn_seq: int
    kind: str
    level: Level
    category: str | None
    status: str
    created_at: dt.datetime
    claimed_by: str | None
    waiting_minutes: float
    sla_minutes: int
    outcome: str | None
    tenant: str

    @property
    def overdue(self) -> bool:
        return self.status in ("open", "claimed") and self.waiting_minutes > self.sla_minutes


def _utc(ts: dt.datetime) -> dt.datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=dt.UTC)


class ReviewQueue:
    def __init__(self, store: Store, sla_minutes: dict[Level, int] | None = None) -> None:
        self.store = store
        self.sla = {**DEFAULT_SLA_MINUTES, **(sla_minutes or {})}

    def _item(self, r: ReviewItem, tenant: str, now: dt.datetime) -> QueueItem:
        level = Level(r.level)
        end = _utc(r.acknowledged_at) if r.acknowledged_at else now
        return QueueItem(
            r.id,
            r.conversation_id,
            r.turn_seq,
            r.kind,
            level,
            r.category,
            r.status,
            _utc(r.created_at),
            r.claimed_by,
            (end - _utc(r.created_at)).total_seconds() / 60,
            self.sla[level],
            r.outcome,
            tenant,
        )

    def items(
        self, *, include_resolved: bool = False, limit: int = 500, grants: Grants = EVERYTHING
    ) -> list[QueueItem]:
        """Open work of the granted tenants first: highest level, then longest waiting."""
        now = utcnow()
        with self.store.reading() as s:
            q = (
                select(ReviewItem, Conversation.tenant)
                .join(Conversation, Conversation.id == ReviewItem.conversation_id)
                .where(grants.clause(Conversation.tenant))
            )
            if not include_resolved:
                q = q.where(ReviewItem.status != "resolved")
            q = q.order_by(ReviewItem.level.desc(), ReviewItem.created_at.asc()).limit(limit)
            return [self._item(r, tenant, now) for r, tenant in s.execute(q).all()]

    @staticmethod
    def _visible(s: Session, item_id: int, grants: Grants) -> ReviewItem:
        """The item, if its conversation's tenant is granted; else NotFound, as for an item that does not exist."""
        r = s.get(ReviewItem, item_id)
        conv = s.get(Conversation, r.conversation_id) if r is not None else None
        if r is None or conv is None or not grants.allows(conv.tenant):
            raise NotFound(f"review item {item_id} does not exist")
        return r

    def get(self, item_id: int, grants: Grants = EVERYTHING) -> QueueItem:
        with self.store.reading() as s:
            r = self._visible(s, item_id, grants)
            conv = s.get(Conversation, r.conversation_id)
            assert conv is not None
            return self._item(r, conv.tenant, utcnow())

    def _change(
        self, item_id: int, actor: str, kind: str, payload: dict[str, Any], fn: Any, grants: Grants = EVERYTHING
    ) -> None:
        with self.store.transaction() as s:
            r = self._visible(s, item_id, grants)
            fn(r)
            self.store.append_audit(s, kind, staff_actor(actor), r.conversation_id, {"item": item_id, **payload})

    def claim(self, item_id: int, actor: str, grants: Grants = EVERYTHING) -> None:
        def fn(r: ReviewItem) -> None:
            if r.status == "resolved":
                raise QueueError("this item is already resolved")
            if r.claimed_by and r.claimed_by != actor:
                raise QueueError(f"already claimed by {r.claimed_by}")
            r.status, r.claimed_by, r.claimed_at = "claimed", actor, utcnow()

        self._change(item_id, actor, "review_claimed", {}, fn, grants)

    def acknowledge(self, item_id: int, actor: str, grants: Grants = EVERYTHING) -> None:
        def fn(r: ReviewItem) -> None:
            if r.claimed_by != actor:
                raise QueueError("claim the item before acknowledging it")
            if r.acknowledged_at is None:
                r.acknowledged_at = utcnow()

        self._change(item_id, actor, "review_acknowledged", {}, fn, grants)

    def resolve(self, item_id: int, actor: str, outcome: str, note: str = "", grants: Grants = EVERYTHING) -> None:
        if outcome not in OUTCOMES:
            raise QueueError(f"outcome must be one of {', '.join(OUTCOMES)}")
        keys = self.store.keys

        def fn(r: ReviewItem) -> None:
            if r.claimed_by != actor:
                raise QueueError("claim the item before resolving it")
            now = utcnow()
            r.acknowledged_at = r.acknowledged_at or now
            r.status, r.resolved_at, r.outcome = "resolved", now, outcome
            if note:
                r.note_enc = keys.seal_text(note, f"review_items/{r.id}/note")

        self._change(item_id, actor, "review_resolved", {"outcome": outcome, "note": bool(note)}, fn, grants)

    # ------------------------------------------------------------------ held replies
    def pending_reply(self, item_id: int, grants: Grants = EVERYTHING) -> str | None:
        """The model's held reply for a hold item (clinicians only)."""
        with self.store.reading() as s:
            try:
                r = self._visible(s, item_id, grants)
            except NotFound:
                return None
            if r.kind != "hold":
                return None
            turn = s.execute(
                select(Turn).where(Turn.conversation_id == r.conversation_id, Turn.seq == r.turn_seq)
            ).scalar_one_or_none()
            if turn is None or turn.withheld_enc is None:
                return None
            return self.store.keys.open_text(turn.withheld_enc, f"turns/{turn.conversation_id}/{turn.seq}/withheld")

    def release(self, item_id: int, actor: str, kind: str, text: str, grants: Grants = EVERYTHING) -> None:
        """Approve (the held reply as is), edit (a clinician's text) or reject (the safe reply): the text goes to
        the person, and the item is resolved."""
        if kind not in RELEASES:
            raise QueueError(f"release must be one of {', '.join(RELEASES)}")
        keys = self.store.keys

        def fn(r: ReviewItem) -> None:
            if r.kind != "hold":
                raise QueueError("only held replies can be released")
            if r.released_at is not None:
                raise QueueError(f"already released ({r.release_kind})")
            if r.claimed_by != actor:
                raise QueueError("claim the item before releasing the reply")
            now = utcnow()
            r.release_kind, r.released_at = kind, now
            r.release_enc = keys.seal_text(text, f"review_items/{r.id}/release")
            r.acknowledged_at = r.acknowledged_at or now
            r.status, r.resolved_at, r.outcome = "resolved", now, "other"

        self._change(item_id, actor, "hold_released", {"release": kind}, fn, grants)
