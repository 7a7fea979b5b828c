"""Escalation notifiers: told about each escalation, they deliver in the background with retries, never delay or
fail the person's turn, and write every outcome to the audit log. Subclasses say how one attempt is sent."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar, Protocol

from mindrail.store import Store

log = logging.getLogger("mindrail.notify")


class Notifier(Protocol):
    """Anything told about escalations (webhook, e-mail); ``notify`` returns at once."""

    def notify(self, event: dict[str, Any]) -> None: ...


class BackgroundNotifier:
    name: ClassVar[str]
    ok_kind: ClassVar[str]
    """Audit event kind for a delivery; ``<name>_failed`` otherwise."""
    transient: ClassVar[tuple[type[BaseException], ...]]
    """Exceptions that count as a failed attempt (retried), not a bug."""

    def __init__(self, store: Store, *, retries: int = 2, backoff_s: float = 0.5) -> None:
        self.store = store
        self.retries = retries
        self.backoff_s = backoff_s
        self._tasks: set[asyncio.Task[None]] = set()

    async def _attempt(self, event: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        """Send once: (delivered, facts for the audit record, never text)."""
        raise NotImplementedError

    def _facts(self) -> dict[str, Any]:
        return {}

    def notify(self, event: dict[str, Any]) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for deliveries in flight (shutdown, tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _deliver(self, event: dict[str, Any]) -> None:
        outcome: dict[str, Any] = {"turn": event.get("turn"), "attempts": 0, **self._facts()}
        ok = False
        for attempt in range(self.retries + 1):
            outcome["attempts"] = attempt + 1
            try:
                ok, facts = await self._attempt(event)
            except self.transient as exc:
                ok, facts = False, {"error": type(exc).__name__}
            outcome.update(facts)
            if ok:
                break
            if attempt < self.retries:
                await asyncio.sleep(self.backoff_s * 2**attempt)
        if not ok:
            log.warning("escalation %s failed after %d attempt(s)", self.name, outcome["attempts"])
        kind = self.ok_kind if ok else f"{self.name}_failed"
        try:
            await asyncio.to_thread(self.store.audit, kind, self.name, str(event.get("conversation_id")), outcome)
        except Exception as exc:  # the audit write must not crash a background task silently
            log.error("could not audit %s outcome (%s)", self.name, type(exc).__name__)

    async def aclose(self) -> None:
        await self.drain()
