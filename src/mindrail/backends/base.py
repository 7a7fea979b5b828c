"""The one interface every chat model sits behind: messages in, a reply out, whole or streamed.

The gateway never knows which model it talks to. It needs three things from a backend: the reply, a stream of
text pieces for streaming clients, and whether text sent to it leaves this machine (``is_local``), which
decides whether identifiers are redacted first.
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


@dataclass(frozen=True, slots=True)
class GenerationOptions:
    max_tokens: int = 256
    temperature: float = 0.3
    top_p: float = 0.95
    seed: int | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.max_tokens <= 8192:
            raise ValueError(f"max_tokens must be in [1, 8192], got {self.max_tokens}")
        if not 0.0 <= self.temperature <= 2.0:
            raise ValueError(f"temperature must be in [0, 2], got {self.temperature}")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")


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

    def stream(self, messages: Sequence[ChatMessage], options: GenerationOptions) -> AsyncIterator[str]:
        """Text pieces as the model produces them. Raises BackendError like ``complete``."""
        ...

    async def aclose(self) -> None: ...
