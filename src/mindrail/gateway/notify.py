"""Notifiers: how one escalation (or overdue review) notice is sent. They send once and say how it went; the job
runner (gateway.jobs) decides when, retries, and writes each outcome to the audit log, so a notice is delivered by
whichever gateway instance claims its job, never by every instance and never lost with a killed one."""

from __future__ import annotations

from typing import Any, ClassVar, Protocol


class Notifier(Protocol):
    """One channel (webhook, e-mail). ``name`` is the job kind it handles; ``ok_kind`` the audit event kind of a
    delivery (``<name>_failed`` when it gives up)."""

    name: ClassVar[str]
    ok_kind: ClassVar[str]

    async def send(self, event: dict[str, Any], key: str, sender: str) -> tuple[bool, dict[str, Any]]:
        """Send ``event`` once: (delivered, facts for the audit record, never text). ``key`` is the job's key,
        sent along so a receiver can drop a repeat (delivery is at least once); ``sender`` names the instance
        (``X-Mindrail-Sender``), for operators tracing a repeat. Raising counts as a failed attempt."""
        ...
