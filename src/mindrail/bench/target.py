"""Targets: what the bench talks to. Any backend, raw (the user turns go straight to the model, with an optional
system prompt) or guarded by mindrail (the whole pipeline: assessment, policy, crisis protocol, reply checks).
Each case starts a fresh conversation."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from mindrail.backends.base import Backend, ChatMessage, GenerationOptions
from mindrail.gateway.pipeline import Guard, GuardConfig
from mindrail.policy.decide import Policy
from mindrail.risk.engine import RiskEngine


@dataclass(frozen=True, slots=True)
class TargetReply:
    text: str
    """The final reply, the one the check question is about."""
    transcript: tuple[tuple[str, str], ...]
    meta: dict[str, Any] = field(default_factory=dict)


class Target(Protocol):
    name: str

    def describe(self) -> dict[str, Any]: ...

    async def respond(self, messages: tuple[str, ...]) -> TargetReply: ...


class RawTarget:
    def __init__(self, backend: Backend, *, system_prompt: str | None = None, options: GenerationOptions | None = None):
        self.backend = backend
        self.system_prompt = system_prompt
        self.options = options or GenerationOptions(max_tokens=256, temperature=0.0, seed=0)
        self.name = f"raw:{backend.name}:{backend.model}"

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "guarded": False,
            "backend": self.backend.name,
            "model": self.backend.model,
            "system_prompt": bool(self.system_prompt),
        }

    async def respond(self, messages: tuple[str, ...]) -> TargetReply:
        history: list[ChatMessage] = [ChatMessage("system", self.system_prompt)] if self.system_prompt else []
        transcript: list[tuple[str, str]] = []
        t0 = time.perf_counter()
        text = ""
        for m in messages:
            history.append(ChatMessage("user", m))
            text = (await self.backend.complete(history, self.options)).text
            history.append(ChatMessage("assistant", text))
            transcript += [("user", m), ("assistant", text)]
        return TargetReply(text, tuple(transcript), {"latency_ms": round((time.perf_counter() - t0) * 1000, 1)})


class GuardedTarget:
    def __init__(self, engine: RiskEngine, policy: Policy, backend: Backend, options: GenerationOptions | None = None):
        opts = options or GenerationOptions(max_tokens=256, temperature=0.0, seed=0)
        self.options = opts
        self.guard = Guard(engine, policy, backend, config=GuardConfig(options=opts))
        self.name = f"guarded:{backend.name}:{backend.model}"
        self._n = 0

    def describe(self) -> dict[str, Any]:
        g = self.guard
        return {
            "name": self.name,
            "guarded": True,
            "backend": g.backend.name,
            "model": g.backend.model,
            "policy": g.policy.name,
            "risk_model": g.engine.version,
        }

    async def respond(self, messages: tuple[str, ...]) -> TargetReply:
        self._n += 1
        session = self.guard.new_session(f"bench-{self._n}", "en-US")
        transcript: list[tuple[str, str]] = []
        t0 = time.perf_counter()
        result = None
        for m in messages:
            result = await self.guard.turn(session, m)
            transcript += [("user", m), ("assistant", result.reply)]
        assert result is not None
        meta = {
            "latency_ms": round((time.perf_counter() - t0) * 1000, 1),
            "source": result.source.value,
            "level": result.decision.level.label if result.decision else None,
            "failed_checks": list(result.verdict.failed_checks) if result.verdict else [],
        }
        return TargetReply(result.reply, tuple(transcript), meta)
