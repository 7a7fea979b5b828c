"""The review queue: escalations and held replies, sorted by level then waiting time, with SLA timers.

Every state change is an audit event naming the staff member (``staff:<username>``); outcomes are a fixed list so
the dashboard and the label export can count them. Every read and action takes the staff member's tenant grants:
an item of a tenant they are not granted does not exist for them (NotFound, 404).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mindrail.gateway.jobs import DEFAULT_SLA_MINUTES
from mindrail.risk.types import Level
from mindrail.store import Store
from mindrail.store.models import as_utc, utcnow
from mindrail.store.review import ReviewChange, ReviewRecord
from mindrail.store.tenancy import EVERYTHING, Grants, staff_actor

OUTCOMES = ("contacted_person", "referred", "emergency_services", "false_alarm", "other")
RELEASES = ("approved", "edited", "rejected")


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


class ReviewQueue:
    """The queue's rules over the store's review items; the store reads, seals and audits them."""

    def __init__(self, store: Store, sla_minutes: Mapping[Level, int] | None = None) -> None:
        self.store = store
        self.sla = {**DEFAULT_SLA_MINUTES, **(sla_minutes or {})}

    def _item(self, r: ReviewRecord, now: dt.datetime) -> QueueItem:
        level = Level(r.level)
        end = as_utc(r.acknowledged_at) if r.acknowledged_at else now
        return QueueItem(
            r.id,
            r.conversation_id,
            r.turn_seq,
            r.kind,
            level,
            r.category,
            r.status,
            as_utc(r.created_at),
            r.claimed_by,
            (end - as_utc(r.created_at)).total_seconds() / 60,
            self.sla[level],
            r.outcome,
            r.tenant,
        )

    def items(
        self, *, include_resolved: bool = False, limit: int = 500, grants: Grants = EVERYTHING
    ) -> list[QueueItem]:
        """Open work of the granted tenants first: highest level, then longest waiting."""
        now = utcnow()
        records = self.store.review_items(include_resolved=include_resolved, limit=limit, grants=grants)
        return [self._item(r, now) for r in records]

    def get(self, item_id: int, grants: Grants = EVERYTHING) -> QueueItem:
        """The item, if its conversation's tenant is granted; else NotFound, as for an item that does not exist."""
        return self._item(self.store.review_item(item_id, grants), utcnow())

    def _change(
        self,
        item_id: int,
        actor: str,
        kind: str,
        payload: dict[str, Any],
        fn: Callable[[ReviewRecord], ReviewChange],
        grants: Grants = EVERYTHING,
    ) -> None:
        self.store.change_review_item(item_id, fn, event=kind, actor=staff_actor(actor), payload=payload, grants=grants)

    def claim(self, item_id: int, actor: str, grants: Grants = EVERYTHING) -> None:
        def fn(r: ReviewRecord) -> ReviewChange:
            if r.status == "resolved":
                raise QueueError("this item is already resolved")
            if r.claimed_by and r.claimed_by != actor:
                raise QueueError(f"already claimed by {r.claimed_by}")
            return ReviewChange(status="claimed", claimed_by=actor, claimed_at=utcnow())

        self._change(item_id, actor, "review_claimed", {}, fn, grants)

    def acknowledge(self, item_id: int, actor: str, grants: Grants = EVERYTHING) -> None:
        def fn(r: ReviewRecord) -> ReviewChange:
            if r.claimed_by != actor:
                raise QueueError("claim the item before acknowledging it")
            return ReviewChange(acknowledged_at=utcnow() if r.acknowledged_at is None else None)

        self._change(item_id, actor, "review_acknowledged", {}, fn, grants)

    def resolve(self, item_id: int, actor: str, outcome: str, note: str = "", grants: Grants = EVERYTHING) -> None:
        if outcome not in OUTCOMES:
            raise QueueError(f"outcome must be one of {', '.join(OUTCOMES)}")

        def fn(r: ReviewRecord) -> ReviewChange:
            if r.claimed_by != actor:
                raise QueueError("claim the item before resolving it")
            now = utcnow()
            return ReviewChange(
                status="resolved",
                acknowledged_at=r.acknowledged_at or now,
                resolved_at=now,
                outcome=outcome,
                note=note or None,
            )

        self._change(item_id, actor, "review_resolved", {"outcome": outcome, "note": bool(note)}, fn, grants)

    # ------------------------------------------------------------------ held replies
    def pending_reply(self, item_id: int, grants: Grants = EVERYTHING) -> str | None:
        """The model's held reply for a hold item (clinicians only)."""
        return self.store.held_reply(item_id, grants)

    def release(self, item_id: int, actor: str, kind: str, text: str, grants: Grants = EVERYTHING) -> None:
        """Approve (the held reply as is), edit (a clinician's text) or reject (the safe reply): the text goes to
        the person, and the item is resolved."""
        if kind not in RELEASES:
            raise QueueError(f"release must be one of {', '.join(RELEASES)}")

        def fn(r: ReviewRecord) -> ReviewChange:
            if r.kind != "hold":
                raise QueueError("only held replies can be released")
            if r.released_at is not None:
                raise QueueError(f"already released ({r.release_kind})")
            if r.claimed_by != actor:
                raise QueueError("claim the item before releasing the reply")
            now = utcnow()
            return ReviewChange(
                release_kind=kind,
                released_at=now,
                release_text=text,
                acknowledged_at=r.acknowledged_at or now,
                status="resolved",
                resolved_at=now,
                outcome="other",
            )

        self._change(item_id, actor, "hold_released", {"release": kind}, fn, grants)
