"""Escalation webhook: tells an outside system (pager, EHR inbox, chat channel) that a review item is waiting.

The payload carries ids, level, category and actions, never conversation text; receivers fetch details through
the console. Bodies are signed (``X-Mindrail-Signature: sha256=<hex HMAC of the body>``) when a secret is set.
Delivery runs in the background with retries and never delays or fails the person's turn; the outcome of every
attempt is written to the audit log.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import logging
from typing import Any

import httpx

from mindrail.store import Store

log = logging.getLogger("mindrail.webhook")


class WebhookNotifier:
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
        self.url = url
        self.store = store
        self.secret = secret
        self.retries = retries
        self.backoff_s = backoff_s
        self._client = httpx.AsyncClient(timeout=timeout_s, transport=transport)
        self._tasks: set[asyncio.Task[None]] = set()

    def payload(self, cid: str, seq: int, level: str, category: str | None, actions: list[str]) -> dict[str, Any]:
        return {
            "event": "escalation",
            "conversation_id": cid,
            "turn": seq,
            "level": level,
            "category": category,
            "actions": actions,
            "at": dt.datetime.now(dt.UTC).isoformat(),
        }

    def notify(self, payload: dict[str, Any]) -> None:
        """Schedule delivery of an escalation event; returns at once."""
        task = asyncio.get_running_loop().create_task(self._deliver(payload))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for deliveries in flight (shutdown, tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _deliver(self, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, sort_keys=True).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "mindrail-webhook/1"}
        if self.secret:
            headers["X-Mindrail-Signature"] = "sha256=" + hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        outcome: dict[str, Any] = {"turn": payload["turn"], "attempts": 0}
        for attempt in range(self.retries + 1):
            outcome["attempts"] = attempt + 1
            try:
                r = await self._client.post(self.url, content=body, headers=headers)
                outcome["status"] = r.status_code
                if r.status_code < 400:
                    break
            except httpx.HTTPError as exc:
                outcome["status"] = None
                outcome["error"] = type(exc).__name__
            if attempt < self.retries:
                await asyncio.sleep(self.backoff_s * 2**attempt)
        ok = outcome.get("status") is not None and int(outcome["status"]) < 400
        kind = "webhook_delivered" if ok else "webhook_failed"
        if not ok:
            log.warning("escalation webhook failed after %d attempt(s)", outcome["attempts"])
        try:
            await asyncio.to_thread(self.store.audit, kind, "webhook", str(payload["conversation_id"]), outcome)
        except Exception as exc:  # the audit write must not crash a background task silently
            log.error("could not audit webhook outcome (%s)", type(exc).__name__)

    async def aclose(self) -> None:
        await self.drain()
        await self._client.aclose()
