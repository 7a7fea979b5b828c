"""Escalation e-mail: tells the care team a review item is waiting. Like the webhook, the message names the
level, category and a link to the console, never conversation text; it is sent in the background with retries,
never delays the person's turn, and each outcome is audited."""

from __future__ import annotations

import asyncio
import logging
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from mindrail.store import Store

log = logging.getLogger("mindrail.email")


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int = 25
    sender: str = "mindrail@localhost"
    recipients: tuple[str, ...] = ()
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    console_url: str = "http://127.0.0.1:8080/console"
    timeout_s: float = 10.0


class EmailNotifier:
    def __init__(self, settings: SmtpSettings, store: Store, *, retries: int = 2, backoff_s: float = 0.5) -> None:
        if not settings.recipients:
            raise ValueError("email notifications need at least one recipient")
        self.settings = settings
        self.store = store
        self.retries = retries
        self.backoff_s = backoff_s
        self._tasks: set[asyncio.Task[None]] = set()

    def message(self, event: dict[str, Any]) -> EmailMessage:
        st = self.settings
        msg = EmailMessage()
        msg["From"] = st.sender
        msg["To"] = ", ".join(st.recipients)
        msg["Subject"] = f"[mindrail] {str(event.get('level', '')).upper()} escalation waiting for review"
        cid = str(event.get("conversation_id", ""))
        msg.set_content(
            "A conversation needs a clinician's review.\n\n"
            f"Level: {event.get('level')}\nCategory: {event.get('category')}\n"
            f"Actions taken: {', '.join(event.get('actions', []))}\nAt: {event.get('at')}\n\n"
            f"Open the review queue: {st.console_url}/queue\n"
            f"Conversation: {st.console_url}/conversations/{cid}#turn-{event.get('turn')}\n\n"
            "This message deliberately contains no conversation text.\n"
        )
        return msg

    def _send(self, msg: EmailMessage) -> None:
        st = self.settings
        with smtplib.SMTP(st.host, st.port, timeout=st.timeout_s) as smtp:
            if st.starttls:
                smtp.starttls()
            if st.username and st.password:
                smtp.login(st.username, st.password)
            smtp.send_message(msg)

    def notify(self, event: dict[str, Any]) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, event: dict[str, Any]) -> None:
        msg = self.message(event)
        outcome: dict[str, Any] = {
            "turn": event.get("turn"),
            "attempts": 0,
            "recipients": len(self.settings.recipients),
        }
        ok = False
        for attempt in range(self.retries + 1):
            outcome["attempts"] = attempt + 1
            try:
                await asyncio.to_thread(self._send, msg)
                ok = True
                break
            except (OSError, smtplib.SMTPException) as exc:
                outcome["error"] = type(exc).__name__
            if attempt < self.retries:
                await asyncio.sleep(self.backoff_s * 2**attempt)
        if not ok:
            log.warning("escalation e-mail failed after %d attempt(s)", outcome["attempts"])
        try:
            kind = "email_sent" if ok else "email_failed"
            await asyncio.to_thread(self.store.audit, kind, "email", str(event.get("conversation_id")), outcome)
        except Exception as exc:
            log.error("could not audit e-mail outcome (%s)", type(exc).__name__)

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        await self.drain()
