"""The review queue: escalations and held replies, sorted by level then waiting time, with SLA timers.

Every state change is an audit event with the staff member's name; outcomes are a fixed list so the dashboard and
the label export can count them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from mindrail.risk.types import Level
from mindrail.store import NotFound, Store
from mindrail.store.models import ReviewItem, Turn, utcnow

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

    @property
    def overdue(self) -> bool:
        return self.status in ("open", "claimed") and self.waiting_minutes > self.sla_minutes


def _utc(ts: dt.datetime) -> dt.datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=dt.UTC)


class ReviewQueue:
    def __init__(self, store: Store, sla_minutes: dict[Level, int] | None = None) -> None:
        self.store = store
        self.sla = {**DEFAULT_SLA_MINUTES, **(sla_minutes or {})}

    def _item(self, r: ReviewItem, now: dt.datetime) -> QueueItem:
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
        )

    def items(self, *, include_resolved: bool = False, limit: int = 500) -> list[QueueItem]:
        """Open work first: highest level, then longest waiting."""
        now = utcnow()
        with self.store.reading() as s:
            q = select(ReviewItem)
            if not include_resolved:
                q = q.where(ReviewItem.status != "resolved")
            q = q.order_by(ReviewItem.level.desc(), ReviewItem.created_at.asc()).limit(limit)
            return [self._item(r, now) for r in s.execute(q).scalars()]

    def get(self, item_id: int) -> QueueItem:
        with self.store.reading() as s:
            r = s.get(ReviewItem, item_id)
            if r is None:
                raise NotFound(f"review item {item_id} does not exist")
            return self._item(r, utcnow())

    def _change(self, item_id: int, actor: str, kind: str, payload: dict[str, Any], fn: Any) -> None:
        with self.store.transaction() as s:
            r = s.get(ReviewItem, item_id)
            if r is None:
                raise NotFound(f"review item {item_id} does not exist")
            fn(r)
            self.store.append_audit(s, kind, actor, r.conversation_id, {"item": item_id, **payload})

    def claim(self, item_id: int, actor: str) -> None:
        def fn(r: ReviewItem) -> None:
            if r.status == "resolved":
                raise QueueError("this item is already resolved")
            if r.claimed_by and r.claimed_by != actor:
                raise QueueError(f"already claimed by {r.claimed_by}")
            r.status, r.claimed_by, r.claimed_at = "claimed", actor, utcnow()

        self._change(item_id, actor, "review_claimed", {}, fn)

    def acknowledge(self, item_id: int, actor: str) -> None:
        def fn(r: ReviewItem) -> None:
            if r.claimed_by != actor:
                raise QueueError("claim the item before acknowledging it")
            if r.acknowledged_at is None:
                r.acknowledged_at = utcnow()

        self._change(item_id, actor, "review_acknowledged", {}, fn)

    def resolve(self, item_id: int, actor: str, outcome: str, note: str = "") -> None:
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

        self._change(item_id, actor, "review_resolved", {"outcome": outcome, "note": bool(note)}, fn)

    # ------------------------------------------------------------------ held replies
    def pending_reply(self, item_id: int) -> str | None:
        """The model's held reply for a hold item (clinicians only)."""
        with self.store.reading() as s:
            r = s.get(ReviewItem, item_id)
            if r is None or r.kind != "hold":
                return None
            turn = s.execute(
                select(Turn).where(Turn.conversation_id == r.conversation_id, Turn.seq == r.turn_seq)
            ).scalar_one_or_none()
            if turn is None or turn.withheld_enc is None:
                return None
            return self.store.keys.open_text(turn.withheld_enc, f"turns/{turn.conversation_id}/{turn.seq}/withheld")

    def release(self, item_id: int, actor: str, kind: str, text: str) -> None:
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

        self._change(item_id, actor, "hold_released", {"release": kind}, fn)
