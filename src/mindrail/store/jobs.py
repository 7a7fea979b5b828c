"""The job table: background work done once across every gateway instance sharing the database, with PostgreSQL
itself as the queue (no broker).

A job is written in the same transaction as what makes it due (an escalation's review item), so it exists exactly
when that does, and its ``key`` makes a second enqueue a no-op. An instance claims due jobs with
``SELECT ... FOR UPDATE SKIP LOCKED`` (two instances never claim the same row; neither waits for the other) and
holds each under a lease: an instance killed mid-delivery leaves a lease that expires, and another instance
retries the job. Only the lease holder can finish a job (``finish_job`` checks ``locked_by``), and the outcome's
audit event is written in that same transaction, so each job has exactly one outcome in the audit chain.

Delivery itself is at least once: an instance killed after the receiver accepted a notification but before it
recorded that is the one window where a job runs twice. Every delivery therefore carries the job's key
(``Idempotency-Key`` on webhooks, a fixed ``Message-ID`` on e-mails) so receivers can drop the repeat.

On SQLite (one instance) ``FOR UPDATE`` is a no-op and the store's write lock serialises claims instead.
"""

from __future__ import annotations

import datetime as dt
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from mindrail.store import audit as chain
from mindrail.store.models import Job, utcnow


@dataclass(frozen=True, slots=True)
class JobRecord:
    """A claimed job: what its handler needs."""

    id: int
    kind: str
    key: str
    payload: dict[str, Any]
    attempts: int
    """Attempts before this one."""


def enqueue(s: Session, kind: str, key: str, payload: dict[str, Any]) -> None:
    """Add a job inside the caller's transaction; a job with the same ``key`` already there is left as it is
    (``ON CONFLICT DO NOTHING``, so a concurrent enqueue of the same key never fails the caller's transaction)."""
    values = {
        "kind": kind,
        "key": key,
        "payload": payload,
        "status": "pending",
        "attempts": 0,
        "created_at": utcnow(),
        "run_after": utcnow(),
    }
    dialect = s.get_bind().dialect.name
    if dialect == "postgresql":
        s.execute(postgresql.insert(Job).values(**values).on_conflict_do_nothing(index_elements=["key"]))
    elif dialect == "sqlite":
        s.execute(sqlite.insert(Job).values(**values).on_conflict_do_nothing(index_elements=["key"]))
    elif s.execute(select(Job.id).where(Job.key == key)).first() is None:
        s.add(Job(**values))


class JobQueue:
    """Store methods for the job table (mixed into :class:`~mindrail.store.store.Store`)."""

    if TYPE_CHECKING:

        def _tx(self) -> AbstractContextManager[Session]: ...
        def _read(self) -> AbstractContextManager[Session]: ...

    def enqueue_job(self, kind: str, key: str, payload: dict[str, Any]) -> None:
        with self._tx() as s:
            enqueue(s, kind, key, payload)

    def claim_jobs(
        self, worker: str, kinds: tuple[str, ...], *, limit: int = 10, lease: dt.timedelta = dt.timedelta(seconds=60)
    ) -> list[JobRecord]:
        """Up to ``limit`` due jobs of ``kinds``, oldest first, leased to ``worker`` until now + ``lease``: rows
        another instance holds (locked, or leased and not expired) are skipped, never waited for."""
        if not kinds:
            return []
        now = utcnow()
        with self._tx() as s:
            rows = (
                s.execute(
                    select(Job)
                    .where(
                        Job.status == "pending",
                        Job.kind.in_(kinds),
                        Job.run_after <= now,
                        or_(Job.locked_until.is_(None), Job.locked_until < now),
                    )
                    .order_by(Job.id)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
                .scalars()
                .all()
            )
            for r in rows:
                r.locked_by, r.locked_until = worker, now + lease
            return [JobRecord(r.id, r.kind, r.key, dict(r.payload), r.attempts) for r in rows]

    def finish_job(
        self,
        job: JobRecord,
        worker: str,
        *,
        ok: bool,
        facts: dict[str, Any],
        audit_kind: str,
        retry_at: dt.datetime | None = None,
    ) -> bool:
        """Record an attempt's outcome, if ``worker`` still holds the job's lease (False otherwise: its lease
        expired and another instance owns the job now, so this outcome is not recorded twice). ``ok``: done, with
        its audit event. Not ok with ``retry_at``: released to run again then. Not ok without: failed for good,
        with its audit event (``audit_kind``)."""
        now = utcnow()
        values: dict[str, Any] = {"attempts": Job.attempts + 1, "locked_by": None, "locked_until": None}
        if ok:
            values.update(status="done", done_at=now, last_error=None)
        elif retry_at is not None:
            values.update(run_after=retry_at, last_error=facts.get("error"))
        else:
            values.update(status="failed", done_at=now, last_error=facts.get("error"))
        with self._tx() as s:
            res = s.execute(
                update(Job).where(Job.id == job.id, Job.locked_by == worker, Job.status == "pending").values(**values)
            )
            if int(getattr(res, "rowcount", 0) or 0) != 1:
                return False
            if ok or retry_at is None:
                cid = job.payload.get("conversation_id")
                outcome = {**facts, "job": job.id, "attempts": job.attempts + 1}
                for name in ("turn", "item", "event"):
                    if name in job.payload:
                        outcome[name] = job.payload[name]
                chain.append(s, audit_kind, job.kind, str(cid) if cid is not None else None, outcome)
            return True

    def job_counts(self) -> dict[str, int]:
        """Jobs by status (monitoring: a growing ``pending`` count means no instance is delivering)."""
        with self._read() as s:
            rows = s.execute(select(Job.status, func.count()).group_by(Job.status)).all()
            return {str(status): int(n) for status, n in rows}

    def jobs(self, *, kind: str | None = None) -> list[dict[str, Any]]:
        """Every job's plain facts, oldest first (tests and the multi-instance check)."""
        with self._read() as s:
            q = select(Job).order_by(Job.id)
            if kind is not None:
                q = q.where(Job.kind == kind)
            return [
                {
                    "id": r.id,
                    "kind": r.kind,
                    "key": r.key,
                    "status": r.status,
                    "attempts": r.attempts,
                    "payload": dict(r.payload),
                }
                for r in s.execute(q).scalars()
            ]
