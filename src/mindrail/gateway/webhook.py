"""Escalation webhook: tells an outside system (pager, EHR inbox, chat channel) that a review item is waiting.

The payload carries ids, level, category and actions, never conversation text; receivers fetch details through
the console. Bodies are signed (``X-Mindrail-Signature: sha256=<hex HMAC of the body>``) when a secret is set.
Delivery runs in the background with retries and never delays or fails the person's turn; the outcome of every
attempt is written to the audit log.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx

from mindrail.gateway.notify import BackgroundNotifier
from mindrail.store import Store


class WebhookNotifier(BackgroundNotifier):
    name = "webhook"
    ok_kind = "webhook_delivered"
    transient = (httpx.HTTPError,)

    def __init__(
        self,
        url: str,
        store: Store,
        *,
        secret: bytes | None = None,
        timeout_s: float = 5.0,
        retries: int = 2,
        backoff_s: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(store, retries=retries, backoff_s=backoff_s)
        self.url = url
        self.secret = secret
        self._client = httpx.AsyncClient(timeout=timeout_s, transport=transport)

    async def _attempt(self, event: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        body = json.dumps(event, sort_keys=True).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "mindrail-webhook/1"}
        if self.secret:
            headers["X-Mindrail-Signature"] = "sha256=" + hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        r = await self._client.post(self.url, content=body, headers=headers)
        return r.status_code < 400, {"status": r.status_code}

    async def aclose(self) -> None:
        await super().aclose()
        await self._client.aclose()
