"""Escalation webhook: tells an outside system (pager, EHR inbox, chat channel) that a review item is waiting.

The payload carries ids, level, category and actions, never conversation text; receivers fetch details through
the console. Bodies are signed (``X-Mindrail-Signature: sha256=<hex HMAC of the body>``) when a secret is set.
Each delivery carries ``Idempotency-Key: <job key>`` (e.g. ``escalation:42:webhook``): delivery is at least once
(gateway.jobs), so a receiver that keeps the keys it has seen gets each notice exactly once. It runs in the
background (a job) and never delays or fails the person's turn; every outcome is written to the audit log.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx


class WebhookNotifier:
    name = "webhook"
    ok_kind = "webhook_delivered"

    def __init__(
        self,
        url: str,
        *,
        secret: bytes | None = None,
        timeout_s: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self.secret = secret
        self.timeout_s = timeout_s
        self.transport = transport

    async def send(self, event: dict[str, Any], key: str, sender: str = "") -> tuple[bool, dict[str, Any]]:
        body = json.dumps(event, sort_keys=True).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "mindrail-webhook/1", "Idempotency-Key": key}
        if sender:
            headers["X-Mindrail-Sender"] = sender
        if self.secret:
            headers["X-Mindrail-Signature"] = "sha256=" + hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        # A client per send: notices are rare, and a pooled client would be tied to one event loop.
        async with httpx.AsyncClient(timeout=self.timeout_s, transport=self.transport) as client:
            r = await client.post(self.url, content=body, headers=headers)
        return r.status_code < 400, {"status": r.status_code}
