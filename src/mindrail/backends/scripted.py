"""Canned replies: for tests, demos without a model, and audits of fixed transcripts.

Replies come from rules (first regex that matches the latest user message wins), then from a queue of replies in
order, then from a default. A file holds the same as YAML: ``{rules: [{match, reply}], replies: [...], default}``.

Generation options are honoured as far as canned text allows: the reply ends at the first ``stop`` sequence and
after ``max_tokens`` tokens (``finish_reason`` "length"); ``temperature`` cannot change a canned reply, and is
recorded with the rest in :attr:`ScriptedBackend.options`. Tokens are approximated as whitespace-separated words
(there is no model and so no tokenizer).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from mindrail.backends.base import BackendError, ChatMessage, Completion, GenerationOptions, StreamInfo, cut_at_stop
from mindrail.datafiles import load_model


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    match: str = Field(min_length=1)
    reply: str


class ScriptFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    rules: tuple[_Rule, ...] = ()
    replies: tuple[str, ...] = ()
    default: str | None = "Thank you for sharing that. How are you feeling right now?"


class ScriptedBackend:
    name = "scripted"
    is_local = True

    def __init__(
        self,
        replies: Sequence[str] = (),
        *,
        rules: Sequence[tuple[str, str]] = (),
        default: str | None = "Thank you for sharing that. How are you feeling right now?",
        model: str = "scripted",
        delay_s: float = 0.0,
    ) -> None:
        self.model = model
        self._queue: deque[str] = deque(replies)
        try:
            self._rules = [(re.compile(p, re.IGNORECASE), r) for p, r in rules]
        except re.error as exc:
            raise ValueError(f"scripted rule does not compile: {exc}") from None
        self._default = default
        self._delay = delay_s
        self.calls: list[list[ChatMessage]] = []
        """Every message list received, so tests and audits can see exactly what the model was sent."""
        self.options: list[GenerationOptions] = []
        """The generation options of every call, in order."""

    @classmethod
    def from_file(cls, path: Path) -> ScriptedBackend:
        spec = load_model(ScriptFile, path)
        return cls(spec.replies, rules=[(r.match, r.reply) for r in spec.rules], default=spec.default)

    def _next(self, messages: Sequence[ChatMessage]) -> str:
        self.calls.append(list(messages))
        last_user = next((m.content for m in reversed(messages) if m.role == "user"), "")
        for rx, reply in self._rules:
            if rx.search(last_user):
                return reply
        if self._queue:
            return self._queue.popleft()
        if self._default is None:
            raise BackendError("scripted backend has no reply left")
        return self._default

    async def complete(self, messages: Sequence[ChatMessage], options: GenerationOptions) -> Completion:
        t0 = time.perf_counter()
        if self._delay:
            await asyncio.sleep(self._delay)
        self.options.append(options)
        text, _ = cut_at_stop(self._next(messages), options.stop)
        words = text.split(" ")
        finish = "stop"
        if len(words) > options.max_tokens:
            text, finish = " ".join(words[: options.max_tokens]), "length"
        return Completion(
            text,
            self.model,
            finish,
            prompt_tokens=sum(self.count_tokens(m.content) for m in messages),
            completion_tokens=self.count_tokens(text),
            latency_ms=(time.perf_counter() - t0) * 1000,
        )

    def count_tokens(self, text: str) -> int:
        """Whitespace-separated words: the documented approximation for canned text."""
        return len(text.split())

    async def stream(
        self, messages: Sequence[ChatMessage], options: GenerationOptions, info: StreamInfo | None = None
    ) -> AsyncIterator[str]:
        completion = await self.complete(messages, options)
        if info is not None:
            info.finish_reason = completion.finish_reason
            info.prompt_tokens, info.completion_tokens = completion.prompt_tokens, completion.completion_tokens
        pieces = re.findall(r"\S+\s*|\s+", completion.text)
        for piece in pieces:
            if self._delay:
                await asyncio.sleep(self._delay / max(len(pieces), 1))
            yield piece

    async def aclose(self) -> None:
        return None
