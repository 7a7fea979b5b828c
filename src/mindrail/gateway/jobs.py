"""Background work every gateway instance runs, done once across all of them: notification jobs (an escalation's
webhook and e-mail, an overdue review's), held replies that time out, and the review SLA timers.

Each instance runs one :class:`JobRunner` (started by the app's lifespan). Nothing here is leader-elected: every
instance claims from the same PostgreSQL tables, and the store's ``FOR UPDATE SKIP LOCKED`` claims (store.jobs,
``expire_holds``, ``mark_overdue``) make each piece of work happen once, whichever instance gets it, and carry on
when an instance dies (a killed instance's lease expires and another takes its job).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import secrets
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter

from mindrail.gateway.notify import Notifier
from mindrail.risk.types import Level
from mindrail.store import Store
from mindrail.store.jobs import JobRecord
from mindrail.store.models import utcnow

log = logging.getLogger("mindrail.jobs")

DEFAULT_SLA_MINUTES: dict[Level, int] = {
    Level.IMMINENT: 5,
    Level.HIGH: 15,
    Level.MODERATE: 60,
    Level.LOW: 240,
    Level.NONE: 1440,
}
"""How long a review item may wait, open or claimed, before it is overdue (the console's timers, the SLA sweep)."""

LEVEL_NAMES: dict[int, str] = {int(level): level.label for level in Level}
"""Level numbers as notices name them."""


@dataclass(frozen=True, slots=True)
class JobSettings:
    poll_s: float = 1.0
    """How often an idle instance looks for due jobs."""
    sweep_s: float = 5.0
    """How often it looks for held replies to time out and reviews gone overdue."""
    lease_s: float = 60.0
    """How long a claimed job is an instance's: longer than one send can take (webhook 5 s, SMTP 10 s), so a
    slow send is not taken over; after it, a killed instance's job goes to another."""
    retries: int = 2
    """Attempts after the first before a job fails for good (audited ``<channel>_failed``)."""
    backoff_s: float = 0.5
    """Wait before the first retry, doubled each time."""
    batch: int = 10
    """Jobs claimed at once by one instance."""


def instance_id() -> str:
    """Who holds a lease: host, process and a random part (a restarted process with a reused pid is another)."""
    return f"{socket.gethostname()[:48]}:{os.getpid()}:{secrets.token_hex(4)}"


class JobMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.jobs = Counter(
            "mindrail_jobs",
            "Notification jobs finished here, by channel and outcome",
            ["kind", "outcome"],
            registry=registry,
        )
        self.holds = Counter("mindrail_holds_timed_out", "Held replies timed out by this instance", registry=registry)
        self.overdue = Counter("mindrail_reviews_overdue", "Reviews marked overdue by this instance", registry=registry)
        self.errors = Counter(
            "mindrail_job_loop_errors", "Background passes that failed (database unreachable...)", registry=registry
        )


class JobRunner:
    """One instance's share of the background work. ``fallback(locale)``: the safe reply a timed-out hold gets."""

    def __init__(
        self,
        store: Store,
        notifiers: Sequence[Notifier] = (),
        *,
        fallback: Callable[[str | None], str],
        hold_timeout_s: float = 300.0,
        sla_minutes: Mapping[Level, int] | None = None,
        settings: JobSettings | None = None,
        registry: CollectorRegistry | None = None,
        worker: str | None = None,
    ) -> None:
        self.store = store
        self.notifiers = {n.name: n for n in notifiers}
        self.fallback = fallback
        self.hold_timeout = dt.timedelta(seconds=hold_timeout_s)
        self.sla = {int(k): dt.timedelta(minutes=v) for k, v in {**DEFAULT_SLA_MINUTES, **(sla_minutes or {})}.items()}
        self.settings = settings or JobSettings()
        self.worker = worker or instance_id()
        self.metrics = JobMetrics(registry or CollectorRegistry())
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._last_sweep = 0.0

    @property
    def channels(self) -> tuple[str, ...]:
        """The job kinds this instance delivers (and enqueues for escalations)."""
        return tuple(self.notifiers)

    # ------------------------------------------------------------------ one pass
    async def sweep(self) -> tuple[int, int]:
        """Time out held replies and mark overdue reviews: (holds, overdue) this instance did."""
        holds = await asyncio.to_thread(self.store.expire_holds, self.hold_timeout, self.fallback)
        overdue = await asyncio.to_thread(self.store.mark_overdue, self.sla, self.channels, LEVEL_NAMES)
        self.metrics.holds.inc(holds)
        self.metrics.overdue.inc(overdue)
        return holds, overdue

    async def deliver_due(self) -> int:
        """Claim due jobs and deliver them concurrently; the number claimed."""
        lease = dt.timedelta(seconds=self.settings.lease_s)
        claimed = await asyncio.to_thread(
            self.store.claim_jobs, self.worker, self.channels, limit=self.settings.batch, lease=lease
        )
        await asyncio.gather(*(self._run(job) for job in claimed))
        return len(claimed)

    async def _run(self, job: JobRecord) -> None:
        notifier = self.notifiers[job.kind]
        try:
            ok, facts = await notifier.send(job.payload, job.key, self.worker)
        except Exception as exc:  # any failure of a send is a failed attempt, never a dead loop
            ok, facts = False, {"error": type(exc).__name__}
        retry_at = None
        if not ok and job.attempts < self.settings.retries:
            retry_at = utcnow() + dt.timedelta(seconds=self.settings.backoff_s * 2**job.attempts)
        kind = notifier.ok_kind if ok else f"{notifier.name}_failed"
        try:
            mine = await asyncio.to_thread(
                self.store.finish_job, job, self.worker, ok=ok, facts=facts, audit_kind=kind, retry_at=retry_at
            )
        except Exception as exc:  # the lease runs out and another instance retries
            log.error("could not record a %s job's outcome (%s)", job.kind, type(exc).__name__)
            return
        if not mine:
            log.warning("a %s job's lease had passed to another instance before it finished", job.kind)
        outcome = "delivered" if ok else ("retry" if retry_at is not None else "failed")
        self.metrics.jobs.labels(job.kind, outcome).inc()
        if outcome == "failed":
            log.warning("%s notification failed after %d attempt(s)", job.kind, job.attempts + 1)

    async def run_once(self, *, sweep: bool = True) -> int:
        """One pass: the sweep (when ``sweep``), then the due jobs. Returns the jobs claimed."""
        if sweep:
            await self.sweep()
        return await self.deliver_due()

    async def drain(self, timeout_s: float = 30.0) -> None:
        """Deliver until no job of this instance's channels is pending (tests, shutdown): waits out retries."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while loop.time() < deadline:
            await self.run_once(sweep=False)
            pending = [j for j in await asyncio.to_thread(self.store.jobs) if j["status"] == "pending"]
            if not any(j["kind"] in self.notifiers for j in pending):
                return
            await asyncio.sleep(min(0.1, self.settings.poll_s))
        raise TimeoutError("jobs still pending")

    # ------------------------------------------------------------------ the loop
    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            try:
                now = loop.time()
                sweep = now - self._last_sweep >= self.settings.sweep_s
                if sweep:
                    self._last_sweep = now
                claimed = await self.run_once(sweep=sweep)
            except Exception as exc:  # a database hiccup: try again next poll
                self.metrics.errors.inc()
                log.error("background pass failed (%s)", type(exc).__name__)
                claimed = 0
            if claimed < self.settings.batch:  # a full batch: more may be due, go again at once
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self.settings.poll_s)

    def start(self) -> None:
        """Run the loop in the background of the running event loop (the app's lifespan)."""
        loop = asyncio.get_running_loop()
        if self._task is not None and not self._task.done() and self._task.get_loop() is loop:
            return
        self._stop = asyncio.Event()
        self._task = loop.create_task(self._loop())

    async def stop(self) -> None:
        """Finish the pass in progress and stop; jobs left are any instance's to take. A loop started on another
        event loop (an app served again by a test client) is cancelled there instead."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stop.set()
        if task.get_loop() is asyncio.get_running_loop():
            await task
        elif not task.get_loop().is_closed():
            task.get_loop().call_soon_threadsafe(task.cancel)
