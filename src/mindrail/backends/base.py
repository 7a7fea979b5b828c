"""The one interface every chat model sits behind: messages in, a reply out, whole or streamed.

The gateway never knows which model it talks to. It needs four things from a backend: the reply, a stream of
text pieces for streaming clients, a token count in the model's own units (for OpenAI's ``usage``), and whether
text sent to it leaves this machine (``is_local``), which decides whether identifiers are redacted first.
Sampling settings a client asked for (``max_tokens``, ``temperature``, ``stop``) travel in
:class:`GenerationOptions`, which every backend honours.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant"]
ROLES: tuple[Role, ...] = ("system", "user", "assistant")


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, got {self.role!r}")
        if not isinstance(self.content, str):
            raise TypeError(f"content must be str, got {type(self.content).__name__}")

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    model: str
    finish_reason: str = "stop"
    """"stop", "length", or "error" when a backend returned a partial reply before failing."""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_ms: float = 0.0
    meta: dict[str, str] = field(default_factory=dict)


MAX_STOP_SEQUENCES = 4
"""As OpenAI: at most four stop sequences."""


@dataclass(frozen=True, slots=True)
class GenerationOptions:
    max_tokens: int = 256
    temperature: float = 0.3
    top_p: float = 0.95
    seed: int | None = None
    stop: tuple[str, ...] = ()
    """Sequences that end the reply (not included in it)."""

    def __post_init__(self) -> None:
        if not 1 <= self.max_tokens <= 8192:
            raise ValueError(f"max_tokens must be in [1, 8192], got {self.max_tokens}")
        if not 0.0 <= self.temperature <= 2.0:
            raise ValueError(f"temperature must be in [0, 2], got {self.temperature}")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if len(self.stop) > MAX_STOP_SEQUENCES or any(not s for s in self.stop):
            raise ValueError(f"stop must be at most {MAX_STOP_SEQUENCES} non-empty strings")


@dataclass(slots=True)
class StreamInfo:
    """Filled in by a backend while it streams, read once the stream has ended: how the reply ended and the
    token counts when the model reports them (None when it does not)."""

    finish_reason: str = "stop"
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


def approx_tokens(text: str) -> int:
    """A tokenizer-free estimate, ~4 characters per token (OpenAI's rule of thumb for English), at least 1 for
    non-empty text. Used only where the model's own tokenizer is not available."""
    return 0 if not text else max(1, (len(text) + 3) // 4)


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """``text`` up to the first stop sequence, and whether one was found."""
    cuts = [i for i in (text.find(s) for s in stop) if i >= 0]
    return (text[: min(cuts)], True) if cuts else (text, False)


class BackendError(RuntimeError):
    """The model could not give a reply (unreachable, timed out, refused, malformed answer). Messages never carry
    conversation text: they may be logged."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


@runtime_checkable
class Backend(Protocol):
    name: str
    """Kind of backend: "local", "openai", "scripted"."""
    model: str
    is_local: bool
    """True when messages never leave this machine; non-local backends get redacted text."""

    async def complete(self, messages: Sequence[ChatMessage], options: GenerationOptions) -> Completion: ...

    def stream(
        self, messages: Sequence[ChatMessage], options: GenerationOptions, info: StreamInfo | None = None
    ) -> AsyncIterator[str]:
        """Text pieces as the model produces them. Raises BackendError like ``complete``. When ``info`` is given,
        the backend records how the reply ended (``length`` at max_tokens) and any token counts in it."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens in ``text`` in the model's own units (or a documented estimate). Cheap, thread-safe, and never
        queued behind a generation, so a crisis reply is not delayed by counting."""
        ...

    async def aclose(self) -> None: ...
