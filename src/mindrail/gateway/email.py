"""Escalation e-mail: tells the care team a review item is waiting. Like the webhook, the message names the
level, category and a link to the console, never conversation text; it is sent in the background (a job, retried
by gateway.jobs), never delays the person's turn, and each outcome is audited. Its ``Message-ID`` is derived from
the job's key, so the rare repeat (an instance killed between sending and recording it) is the same message to a
mail system that drops duplicates."""

from __future__ import annotations

import asyncio
import hashlib
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any


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
    name = "email"
    ok_kind = "email_sent"

    def __init__(self, settings: SmtpSettings) -> None:
        if not settings.recipients:
            raise ValueError("email notifications need at least one recipient")
        self.settings = settings

    def message(self, event: dict[str, Any], key: str = "", sender: str = "") -> EmailMessage:
        st = self.settings
        msg = EmailMessage()
        msg["From"] = st.sender
        msg["To"] = ", ".join(st.recipients)
        overdue = event.get("event") == "overdue"
        what = "review is overdue" if overdue else "escalation waiting for review"
        msg["Subject"] = f"[mindrail] {str(event.get('level', '')).upper()} {what}"
        cid = str(event.get("conversation_id", ""))
        if sender:
            msg["X-Mindrail-Sender"] = sender
        if key:
            domain = st.sender.rpartition("@")[2] or "mindrail"
            msg["Message-ID"] = f"<{hashlib.sha256(f'{key}:{cid}'.encode()).hexdigest()[:32]}@{domain}>"
        lead = (
            f"A review has waited past its {event.get('sla_minutes')}-minute SLA.\n\n"
            if overdue
            else "A conversation needs a clinician's review.\n\n"
        )
        msg.set_content(
            f"{lead}Level: {event.get('level')}\nCategory: {event.get('category')}\n"
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

    async def send(self, event: dict[str, Any], key: str, sender: str = "") -> tuple[bool, dict[str, Any]]:
        await asyncio.to_thread(self._send, self.message(event, key, sender))
        return True, {"recipients": len(self.settings.recipients)}
