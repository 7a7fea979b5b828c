"""Any OpenAI-compatible chat server: vLLM, Ollama, llama.cpp's server, hosted APIs.

Retries cover what is worth retrying (connection errors, timeouts, 408/409/429 and 5xx), with exponential backoff
and jitter, honouring ``Retry-After``. A stream is retried only before its first piece arrived: after that a
retry would repeat text the person may already have been shown. Errors never carry conversation text or the key.

``max_tokens``, ``temperature``, ``top_p``, ``seed`` and ``stop`` are sent upstream as given. Token counts are the
upstream's ``usage`` when it reports one (streams ask for it with ``stream_options.include_usage``);
:meth:`OpenAIBackend.count_tokens` has no tokenizer for an arbitrary upstream model and estimates ~4 characters a
token.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx

from mindrail.backends.base import BackendError, ChatMessage, Completion, GenerationOptions, StreamInfo, approx_tokens

_RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


class OpenAIBackend:
    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 30.0,
        retries: int = 2,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        is_local: bool = False,
        headers: dict[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries}")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.is_local = is_local
        """Set True only for a server on this machine (e.g. llama.cpp on loopback): then nothing is redacted."""
        all_headers = dict(headers or {})
        if api_key:
            all_headers["Authorization"] = f"Bearer {api_key}"
        self._client = httpx.AsyncClient(
            base_url=self.base_url, headers=all_headers, timeout=httpx.Timeout(timeout_s), transport=transport
        )

    def _payload(self, messages: Sequence[ChatMessage], options: GenerationOptions, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [m.to_dict() for m in messages],
            "max_tokens": options.max_tokens,
            "temperature": options.temperature,
            "top_p": options.top_p,
            "stream": stream,
        }
        if options.seed is not None:
            body["seed"] = options.seed
        if options.stop:
            body["stop"] = list(options.stop)
        if stream:
            body["stream_options"] = {"include_usage": True}
        return body

    def count_tokens(self, text: str) -> int:
        return approx_tokens(text)

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        if response is not None:
            after = response.headers.get("retry-after")
            if after is not None:
                try:
                    return min(float(after), self.max_backoff_s)
                except ValueError:
                    pass
        base = min(self.backoff_s * (2**attempt), self.max_backoff_s)
        return float(base * (0.5 + random.random() / 2))

    async def _with_retries(self, send: Any) -> Any:
        last: str = "no attempt made"
        for attempt in range(self.retries + 1):
            response: httpx.Response | None = None
            try:
                return await send()
            except httpx.TimeoutException:
                last = "timed out"
            except httpx.TransportError as exc:
                last = f"connection failed ({type(exc).__name__})"
            except _RetryableStatus as exc:
                response, last = exc.response, f"HTTP {exc.response.status_code}"
            if attempt < self.retries:
                await asyncio.sleep(self._delay(attempt, response))
        raise BackendError(f"{self.name} backend at {self.base_url}: {last} after {self.retries + 1} attempt(s)")

    def _check(self, response: httpx.Response) -> None:
        if response.status_code in _RETRY_STATUS:
            raise _RetryableStatus(response)
        if response.status_code >= 400:
            raise BackendError(f"{self.name} backend at {self.base_url}: HTTP {response.status_code}")

    async def complete(self, messages: Sequence[ChatMessage], options: GenerationOptions) -> Completion:
        t0 = time.perf_counter()

        async def send() -> httpx.Response:
            r = await self._client.post("/chat/completions", json=self._payload(messages, options, False))
            self._check(r)
            return r

        response: httpx.Response = await self._with_retries(send)
        try:
            data = response.json()
            choice = data["choices"][0]
            text = choice["message"]["content"] or ""
            usage = data.get("usage") or {}
        except (ValueError, KeyError, IndexError, TypeError):
            raise BackendError(f"{self.name} backend at {self.base_url}: malformed completion response") from None
        return Completion(
            text=text,
            model=str(data.get("model") or self.model),
            finish_reason=str(choice.get("finish_reason") or "stop"),
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            latency_ms=(time.perf_counter() - t0) * 1000,
        )

    async def stream(
        self, messages: Sequence[ChatMessage], options: GenerationOptions, info: StreamInfo | None = None
    ) -> AsyncIterator[str]:
        payload = self._payload(messages, options, True)
        attempt = 0
        while True:
            started = False
            try:
                async with self._client.stream("POST", "/chat/completions", json=payload) as response:
                    if response.status_code >= 400:
                        await response.aread()
                        self._check(response)
                    async for line in response.aiter_lines():
                        piece = _sse_piece(line, info)
                        if piece is None:
                            continue
                        if piece == _DONE:
                            return
                        started = True
                        yield piece
                return
            except (httpx.TimeoutException, httpx.TransportError, _RetryableStatus) as exc:
                if started or attempt >= self.retries:
                    what = f"HTTP {exc.response.status_code}" if isinstance(exc, _RetryableStatus) else "stream failed"
                    raise BackendError(f"{self.name} backend at {self.base_url}: {what}") from None
                await asyncio.sleep(self._delay(attempt, exc.response if isinstance(exc, _RetryableStatus) else None))
                attempt += 1

    async def aclose(self) -> None:
        await self._client.aclose()


class _RetryableStatus(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


_DONE = "\x00[DONE]"  # a sentinel no server sends as content


def _sse_piece(line: str, info: StreamInfo | None = None) -> str | None:
    """The text delta in one server-sent-events line; ``_DONE`` at the end; None for anything else. A final
    ``finish_reason`` and a ``usage`` chunk (choices empty) go into ``info``."""
    if not line.startswith("data:"):
        return None
    data = line[5:].strip()
    if data == "[DONE]":
        return _DONE
    try:
        event = json.loads(data)
        choices = event["choices"]
        usage = event.get("usage")
        if info is not None and isinstance(usage, dict):
            info.prompt_tokens = _int_or_none(usage.get("prompt_tokens"))
            info.completion_tokens = _int_or_none(usage.get("completion_tokens"))
        if not choices:
            return None
        choice = choices[0]
        delta = choice.get("delta") or {}
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        raise BackendError("openai backend: malformed stream event") from None
    finish = choice.get("finish_reason")
    if info is not None and isinstance(finish, str) and finish:
        info.finish_reason = finish
    content = delta.get("content")
    return content if isinstance(content, str) and content else None


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
