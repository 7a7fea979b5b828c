"""The hash-chained audit log. Each event's hash covers its content and the previous event's hash, so an edit, a
deletion or a reordering anywhere breaks the chain from that point; the head row catches a truncated tail.

Events hold facts and references, never conversation text: a turn's event carries a digest of the sealed turn
row, so the chain also makes the stored transcript tamper-evident.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mindrail.store.models import AuditEvent, AuditHead, Conversation, as_utc

GENESIS = "0" * 64


def canonical(
    seq: int,
    at: dt.datetime,
    kind: str,
    actor: str,
    conversation_id: str | None,
    payload: Any,
    prev: str,
    tenant: str | None = None,
) -> bytes:
    """What an event's hash covers. ``tenant`` is included only when set: events written before tenancy existed
    (and install-wide events) hash exactly as they did, and setting or clearing a tenant later breaks the hash."""
    body = {
        "seq": seq,
        "at": at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "kind": kind,
        "actor": actor,
        "conversation_id": conversation_id,
        "payload": payload,
        "prev": prev,
    }
    if tenant is not None:
        body["tenant"] = tenant
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def event_hash(ev: AuditEvent) -> str:
    at = as_utc(ev.at)
    return hashlib.sha256(
        canonical(ev.seq, at, ev.kind, ev.actor, ev.conversation_id, ev.payload, ev.prev_hash, ev.tenant)
    ).hexdigest()


def append(
    session: Session,
    kind: str,
    actor: str,
    conversation_id: str | None,
    payload: dict[str, Any],
    *,
    tenant: str | None = None,
) -> AuditEvent:
    """Append one event inside the caller's transaction. The head row is locked (FOR UPDATE on PostgreSQL;
    SQLite transactions are BEGIN IMMEDIATE), so concurrent writers queue instead of forking the chain.
    ``tenant``: defaults to the conversation's tenant, so every conversation event says whose data it was."""
    if tenant is None and conversation_id is not None:
        conv = session.get(Conversation, conversation_id)
        tenant = conv.tenant if conv is not None else None
    head = session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar_one_or_none()
    if head is None:
        head = AuditHead(id=1, seq=0, hash=GENESIS)
        session.add(head)
    # JSON round trip: what is hashed is exactly what the database will hand back.
    payload = json.loads(json.dumps(payload, sort_keys=True, default=str))
    at = dt.datetime.now(dt.UTC)
    ev = AuditEvent(
        seq=head.seq + 1,
        at=at,
        kind=kind,
        actor=actor,
        conversation_id=conversation_id,
        tenant=tenant,
        payload=payload,
        prev_hash=head.hash,
        hash="",
    )
    ev.hash = event_hash(ev)
    session.add(ev)
    head.seq, head.hash = ev.seq, ev.hash
    return ev


@dataclass
class VerifyReport:
    events: int = 0
    ok: bool = True
    problems: list[str] = field(default_factory=list)
    """Each names the seq and what is wrong; at most 20 are kept."""

    def add(self, problem: str) -> None:
        self.ok = False
        if len(self.problems) < 20:
            self.problems.append(problem)


def _events(session: Session, batch: int = 1000) -> Iterator[AuditEvent]:
    last = 0
    while True:
        rows = (
            session.execute(select(AuditEvent).where(AuditEvent.seq > last).order_by(AuditEvent.seq).limit(batch))
            .scalars()
            .all()
        )
        if not rows:
            return
        yield from rows
        last = rows[-1].seq
        session.expunge_all()


def verify(session: Session) -> VerifyReport:
    """Walk the chain in constant memory."""
    report = VerifyReport()
    prev, expected_seq = GENESIS, 1
    for ev in _events(session):
        report.events += 1
        if ev.seq != expected_seq:
            report.add(f"seq {expected_seq}: missing (next event is seq {ev.seq}): deleted or reordered")
        if ev.prev_hash != prev:
            report.add(f"seq {ev.seq}: prev_hash does not match the event before it: deleted or reordered")
        if event_hash(ev) != ev.hash:
            report.add(f"seq {ev.seq}: content does not match its hash: edited")
        prev, expected_seq = ev.hash, ev.seq + 1
    head = session.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one_or_none()
    if head is not None and (head.seq != expected_seq - 1 or head.hash != prev):
        report.add(f"head says seq {head.seq} but the chain ends at seq {expected_seq - 1}: events removed at the end")
    if head is None and report.events:
        report.add("audit head row is missing")
    return report
