"""Targets: what the bench talks to. Any backend, raw (the user turns go straight to the model, with an optional
system prompt) or guarded by mindrail (the whole pipeline: assessment, policy, crisis protocol, reply checks).

A target opens conversations; each case gets a fresh one. Scripted cases send all their turns at once through
``respond``; multi-turn solvers (a simulated user) talk turn by turn through ``open``.
"""

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
    """The final reply, the one a single check question is about."""
    transcript: tuple[tuple[str, str], ...]
    meta: dict[str, Any] = field(default_factory=dict)
    turns: tuple[dict[str, Any], ...] = ()
    """Per assistant turn, what the target says about it (guarded: source, level, failed checks). No text."""


class TargetConversation(Protocol):
    """One open conversation with a target (not the store's ORM ``Conversation``)."""

    transcript: list[tuple[str, str]]
    turns: list[dict[str, Any]]

    async def say(self, text: str) -> str: ...


class Target(Protocol):
    name: str

    def describe(self) -> dict[str, Any]: ...

    def open(self) -> TargetConversation: ...

    async def respond(self, messages: tuple[str, ...]) -> TargetReply: ...


async def converse(target: Target, messages: tuple[str, ...]) -> TargetReply:
    """Send scripted user turns one after another in one fresh conversation."""
    conv = target.open()
    t0 = time.perf_counter()
    text = ""
    for m in messages:
        text = await conv.say(m)
    meta: dict[str, Any] = {"latency_ms": round((time.perf_counter() - t0) * 1000, 1)}
    if conv.turns:
        meta.update(conv.turns[-1])
    return TargetReply(text, tuple(conv.transcript), meta, tuple(conv.turns))


class _RawConversation:
    def __init__(self, target: RawTarget) -> None:
        self._t = target
        self.history: list[ChatMessage] = [ChatMessage("system", target.system_prompt)] if target.system_prompt else []
        self.transcript: list[tuple[str, str]] = []
        self.turns: list[dict[str, Any]] = []

    async def say(self, text: str) -> str:
        self.history.append(ChatMessage("user", text))
        reply = (await self._t.backend.complete(self.history, self._t.options)).text
        self.history.append(ChatMessage("assistant", reply))
        self.transcript += [("user", text), ("assistant", reply)]
        self.turns.append({"source": "model"})
        return reply


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

    def open(self) -> _RawConversation:
        return _RawConversation(self)

    async def respond(self, messages: tuple[str, ...]) -> TargetReply:
        return await converse(self, messages)


class _GuardedConversation:
    def __init__(self, target: GuardedTarget, session_id: str) -> None:
        self._guard = target.guard
        self._session = target.guard.new_session(session_id, "en-US")
        self.transcript: list[tuple[str, str]] = []
        self.turns: list[dict[str, Any]] = []

    async def say(self, text: str) -> str:
        result = await self._guard.turn(self._session, text)
        self.transcript += [("user", text), ("assistant", result.reply)]
        a = result.assessment
        self.turns.append(
            {
                "source": result.source.value,
                "level": result.decision.level.label if result.decision else None,
                "risk_category": a.top_category.value if a and a.top_category else None,
                "failed_checks": list(result.verdict.failed_checks) if result.verdict else [],
            }
        )
        return result.reply


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

    def open(self) -> _GuardedConversation:
        self._n += 1
        return _GuardedConversation(self, f"bench-{self._n}")

    async def respond(self, messages: tuple[str, ...]) -> TargetReply:
        return await converse(self, messages)
