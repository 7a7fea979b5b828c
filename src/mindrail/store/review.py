"""Review items (escalations and held replies) as plain records. The store seals and opens their text, because
the AES-GCM associated data names where a value lives (table, row, field) and only the store knows that; it also
applies staff tenant grants, so an item of a tenant not granted is NotFound, as if it did not exist.

The console decides what a queue action may do (``change_review_item`` hands it the record and applies the
``ReviewChange`` it returns); the store writes the change and its audit event in one transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mindrail.store import audit as chain
from mindrail.store.errors import NotFound
from mindrail.store.jobs import enqueue
from mindrail.store.models import Conversation, ReviewItem, Turn, utcnow
from mindrail.store.tenancy import EVERYTHING, Grants

if TYPE_CHECKING:
    from mindrail.store.crypto import KeyRing


def review_aad(item_id: int, name: str) -> str:
    """Where a review item's sealed ``name`` ("note", "release") lives: the associated data it is sealed with."""
    return f"review_items/{item_id}/{name}"


def turn_aad(cid: str, seq: int, name: str) -> str:
    """Where a turn's sealed ``name`` ("user", "reply", "withheld", "assessment", "detail") lives."""
    return f"turns/{cid}/{seq}/{name}"


@dataclass(frozen=True, slots=True)
class ReviewRecord:
    """A review item's plain facts and its conversation's tenant (times as stored: naive on SQLite)."""

    id: int
    conversation_id: str
    turn_seq: int
    kind: str
    level: int
    category: str | None
    status: str
    created_at: dt.datetime
    claimed_by: str | None
    acknowledged_at: dt.datetime | None
    outcome: str | None
    release_kind: str | None
    released_at: dt.datetime | None
    tenant: str


@dataclass(frozen=True, slots=True)
class ReviewChange:
    """What a queue action sets; None leaves a field as it is. ``note`` and ``release_text`` are sealed."""

    status: str | None = None
    claimed_by: str | None = None
    claimed_at: dt.datetime | None = None
    acknowledged_at: dt.datetime | None = None
    resolved_at: dt.datetime | None = None
    outcome: str | None = None
    release_kind: str | None = None
    released_at: dt.datetime | None = None
    note: str | None = None
    release_text: str | None = None


def _record(r: ReviewItem, tenant: str) -> ReviewRecord:
    return ReviewRecord(
        r.id,
        r.conversation_id,
        r.turn_seq,
        r.kind,
        r.level,
        r.category,
        r.status,
        r.created_at,
        r.claimed_by,
        r.acknowledged_at,
        r.outcome,
        r.release_kind,
        r.released_at,
        tenant,
    )


def _visible(s: Session, item_id: int, grants: Grants, *, lock: bool = False) -> tuple[ReviewItem, str]:
    """The item and its tenant, if that tenant is granted; else NotFound, as for an item that does not exist.
    ``lock``: the row is locked for the rest of the transaction (PostgreSQL), so a change is decided on the state
    no other instance can change before it commits (two clinicians claiming at once: the second sees the claim)."""
    r = s.get(ReviewItem, item_id, with_for_update=lock or None)
    conv = s.get(Conversation, r.conversation_id) if r is not None else None
    if r is None or conv is None or not grants.allows(conv.tenant):
        raise NotFound(f"review item {item_id} does not exist")
    return r, conv.tenant


def _turn(s: Session, cid: str, seq: int) -> Turn | None:
    return s.execute(select(Turn).where(Turn.conversation_id == cid, Turn.seq == seq)).scalar_one_or_none()


class ReviewItems:
    """The store's review-item methods (``Store`` inherits them)."""

    keys: KeyRing

    if TYPE_CHECKING:

        def _tx(self) -> AbstractContextManager[Session]: ...
        def _read(self) -> AbstractContextManager[Session]: ...

    def review_items(
        self, *, include_resolved: bool = False, limit: int = 500, grants: Grants = EVERYTHING
    ) -> list[ReviewRecord]:
        """Items of the granted tenants: highest level first, then longest waiting."""
        with self._read() as s:
            q = (
                select(ReviewItem, Conversation.tenant)
                .join(Conversation, Conversation.id == ReviewItem.conversation_id)
                .where(grants.clause(Conversation.tenant))
            )
            if not include_resolved:
                q = q.where(ReviewItem.status != "resolved")
            q = q.order_by(ReviewItem.level.desc(), ReviewItem.created_at.asc()).limit(limit)
            return [_record(r, tenant) for r, tenant in s.execute(q).all()]

    def review_item(self, item_id: int, grants: Grants = EVERYTHING) -> ReviewRecord:
        with self._read() as s:
            return _record(*_visible(s, item_id, grants))

    def change_review_item(
        self,
        item_id: int,
        change: Callable[[ReviewRecord], ReviewChange],
        *,
        event: str,
        actor: str,
        payload: dict[str, Any],
        grants: Grants = EVERYTHING,
    ) -> None:
        """Apply what ``change`` returns for the item's current state (it raises to refuse), and append the audit
        event ``event`` with ``{"item": item_id, **payload}``, in one transaction."""
        with self._tx() as s:
            r, tenant = _visible(s, item_id, grants, lock=True)
            c = change(_record(r, tenant))
            for f in fields(c):
                value = getattr(c, f.name)
                if value is None:
                    continue
                if f.name == "note":
                    r.note_enc = self.keys.seal_text(value, review_aad(r.id, "note"))
                elif f.name == "release_text":
                    r.release_enc = self.keys.seal_text(value, review_aad(r.id, "release"))
                else:
                    setattr(r, f.name, value)
            chain.append(s, event, actor, r.conversation_id, {"item": item_id, **payload})

    def held_reply(self, item_id: int, grants: Grants = EVERYTHING) -> str | None:
        """The model's held reply for a hold item (clinicians only); None for another tenant's or another kind."""
        with self._read() as s:
            try:
                r, _ = _visible(s, item_id, grants)
            except NotFound:
                return None
            if r.kind != "hold":
                return None
            turn = _turn(s, r.conversation_id, r.turn_seq)
            if turn is None or turn.withheld_enc is None:
                return None
            return self.keys.open_text(turn.withheld_enc, turn_aad(turn.conversation_id, turn.seq, "withheld"))

    def reviewed_messages(self, grants: Grants = EVERYTHING) -> Iterator[tuple[ReviewRecord, str]]:
        """Resolved escalations with a category, oldest first, each with the person's message it was raised on."""
        with self._read() as s:
            rows = s.execute(
                select(ReviewItem, Conversation.tenant)
                .join(Conversation, Conversation.id == ReviewItem.conversation_id)
                .where(
                    ReviewItem.status == "resolved",
                    ReviewItem.kind == "escalation",
                    ReviewItem.category.is_not(None),
                    grants.clause(Conversation.tenant),
                )
                .order_by(ReviewItem.id)
            ).all()
            for item, tenant in rows:
                turn = _turn(s, item.conversation_id, item.turn_seq)
                if turn is None:
                    continue
                text = self.keys.open_text(turn.user_enc, turn_aad(turn.conversation_id, turn.seq, "user"))
                yield _record(item, tenant), text

    # ------------------------------------------------------------------ held replies (hold_for_review)
    def expire_holds(self, timeout: dt.timedelta, fallback: Callable[[str | None], str]) -> int:
        """Held replies nobody acted on in time: the person gets the safe fallback with resources
        (``fallback(locale)``, in the conversation's locale). Safe to run on every instance at once: rows are
        claimed with ``FOR UPDATE SKIP LOCKED`` and only while unreleased, so each hold times out exactly once."""
        cutoff = utcnow() - timeout
        n = 0
        with self._tx() as s:
            rows = s.execute(
                select(ReviewItem, Conversation.locale)
                .join(Conversation, Conversation.id == ReviewItem.conversation_id)
                .where(ReviewItem.kind == "hold", ReviewItem.released_at.is_(None), ReviewItem.created_at < cutoff)
                .order_by(ReviewItem.id)
                .with_for_update(of=ReviewItem, skip_locked=True)
            ).all()
            for r, locale in rows:
                now = utcnow()
                r.release_kind, r.released_at = "timed_out", now
                r.release_enc = self.keys.seal_text(fallback(locale), review_aad(r.id, "release"))
                r.status, r.resolved_at, r.outcome = "resolved", now, "other"
                chain.append(s, "hold_timed_out", "console", r.conversation_id, {"item": r.id})
                n += 1
        return n

    def mark_overdue(
        self,
        sla: Mapping[int, dt.timedelta],
        channels: tuple[str, ...] = (),
        level_names: Mapping[int, str] | None = None,
    ) -> int:
        """Review items still open or claimed past their level's SLA (``sla``: level -> time allowed): each is
        marked overdue once, with a ``review_overdue`` audit event and a notification job per channel, in one
        transaction. Safe on every instance at once (``FOR UPDATE SKIP LOCKED``; marked rows no longer match)."""
        now = utcnow()
        n = 0
        with self._tx() as s:
            for level, allowed in sorted(sla.items()):
                rows = (
                    s.execute(
                        select(ReviewItem)
                        .where(
                            ReviewItem.level == level,
                            ReviewItem.status.in_(("open", "claimed")),
                            ReviewItem.overdue_at.is_(None),
                            ReviewItem.created_at < now - allowed,
                        )
                        .order_by(ReviewItem.id)
                        .with_for_update(skip_locked=True)
                    )
                    .scalars()
                    .all()
                )
                for r in rows:
                    r.overdue_at = now
                    minutes = int(allowed.total_seconds() // 60)
                    facts = {"item": r.id, "kind": r.kind, "seq": r.turn_seq, "level": r.level, "sla_minutes": minutes}
                    chain.append(s, "review_overdue", "sla", r.conversation_id, facts)
                    notice = {
                        "event": "overdue",
                        "conversation_id": r.conversation_id,
                        "turn": r.turn_seq,
                        "item": r.id,
                        "level": (level_names or {}).get(r.level, str(r.level)),
                        "category": r.category,
                        "sla_minutes": minutes,
                        "at": now.isoformat(),
                    }
                    for channel in channels:
                        enqueue(s, channel, f"overdue:{r.id}:{channel}", notice)
                    n += 1
        return n

    def take_released(self, conversation_id: str, actor: str = "gateway") -> list[dict[str, Any]]:
        """Released replies not yet delivered to the person, marked delivered (each is delivered once)."""
        out: list[dict[str, Any]] = []
        with self._tx() as s:
            rows = (
                s.execute(
                    select(ReviewItem)
                    .where(
                        ReviewItem.conversation_id == conversation_id,
                        ReviewItem.kind == "hold",
                        ReviewItem.released_at.is_not(None),
                        ReviewItem.delivered_at.is_(None),
                    )
                    .order_by(ReviewItem.turn_seq)
                    .with_for_update(skip_locked=True)  # two instances asked at once: each reply goes out once
                )
                .scalars()
                .all()
            )
            for r in rows:
                assert r.release_enc is not None
                text = self.keys.open_text(r.release_enc, review_aad(r.id, "release"))
                out.append({"turn": r.turn_seq, "text": text, "release": r.release_kind})
                r.delivered_at = utcnow()
                chain.append(s, "hold_delivered", actor, conversation_id, {"item": r.id})
        return out
