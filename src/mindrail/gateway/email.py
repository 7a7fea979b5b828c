"""Escalation e-mail: tells the care team a review item is waiting. Like the webhook, the message names the
level, category and a link to the console, never conversation text; it is sent in the background with retries,
never delays the person's turn, and each outcome is audited."""

from __future__ import annotations

import asyncio
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from mindrail.gateway.notify import BackgroundNotifier
from mindrail.store import Store


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


class EmailNotifier(BackgroundNotifier):
    name = "email"
    ok_kind = "email_sent"
    transient = (OSError, smtplib.SMTPException)

    def __init__(self, settings: SmtpSettings, store: Store, *, retries: int = 2, backoff_s: float = 0.5) -> None:
        if not settings.recipients:
            raise ValueError("email notifications need at least one recipient")
        super().__init__(store, retries=retries, backoff_s=backoff_s)
        self.settings = settings

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

    def _facts(self) -> dict[str, Any]:
        return {"recipients": len(self.settings.recipients)}

    async def _attempt(self, event: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        await asyncio.to_thread(self._send, self.message(event))
        return True, {}
