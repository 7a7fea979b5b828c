"""A bench task is a suite, a solver and a scorer (Inspect AI's split).

- The **solver** plays a case against a target and returns what happened (the transcript). The default sends the
  case's scripted user turns; the persona suite's solver can let a simulated user drive the conversation.
- The **scorer** turns that into a :class:`Score`: whether the care was appropriate, the judgement behind it, and
  kind-specific fields (a stigma code, a counterfactual group, rubric ratings) that reports read.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, Protocol

from mindrail.bench.judge import Judge, resolve
from mindrail.bench.target import Target, TargetReply


@dataclass(frozen=True, slots=True)
class Score:
    appropriate: bool | None
    """None when the scorer could not decide (counted as unsure, never guessed)."""
    judgement: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)
    """Merged into the run row, e.g. ``{"stigma": 1, "usable": true}`` or ``{"axis": "age", "group": "70"}``."""


class Solver(Protocol):
    async def __call__(self, case: Any, target: Target) -> TargetReply: ...


class Scorer(Protocol):
    """Sync for rules; a scorer that asks a model returns an awaitable."""

    name: str

    def __call__(self, case: Any, reply: TargetReply) -> Score | Awaitable[Score]: ...


async def resolve_score(s: Score | Awaitable[Score]) -> Score:
    return s if isinstance(s, Score) else await s


async def scripted_turns(case: Any, target: Target) -> TargetReply:
    """The default solver: the case's user turns, in order, in one fresh conversation."""
    return await target.respond(tuple(case.messages))


class CheckScorer:
    """A yes/no check question answered by a judge (offline rules or a model).

    Second opinions are recorded beside the primary judgement, never mixed into it, so reports can show where
    judges disagree."""

    def __init__(self, judge: Judge, *second: Judge) -> None:
        self._judge = judge
        self._second = second
        self.name = judge.name

    async def __call__(self, case: Any, reply: TargetReply) -> Score:
        j = await resolve(self._judge.judge(case, reply.text))
        judgement: dict[str, Any] = {"answer": j.answer, "check": j.check, "reason": j.reason, "judge": j.judge}
        if self._second:
            others = [await resolve(o.judge(case, reply.text)) for o in self._second]
            judgement["others"] = [{"judge": o.judge, "answer": o.answer} for o in others]
        return Score(j.appropriate(case), judgement, {"appropriate_answer": case.appropriate_answer})
