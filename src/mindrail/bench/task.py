"""A bench task is a suite, a solver and a scorer (Inspect AI's split).

- The **solver** plays a case against a target and returns what happened (the transcript). The default sends the
  case's scripted user turns; the persona suite's solver can let a simulated user drive the conversation.
- The **scorer** turns that into a :class:`Score`: whether the care was appropriate, the judgement behind it, and
  kind-specific fields (a stigma code, a counterfactual group, rubric ratings) that reports read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from mindrail.bench.judge import Judge
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
    name: str

    def __call__(self, case: Any, reply: TargetReply) -> Score: ...


async def scripted_turns(case: Any, target: Target) -> TargetReply:
    """The default solver: the case's user turns, in order, in one fresh conversation."""
    return await target.respond(tuple(case.messages))


class CheckScorer:
    """A yes/no check question answered by a judge (offline rules or a model)."""

    def __init__(self, judge: Judge) -> None:
        self._judge = judge
        self.name = judge.name

    def __call__(self, case: Any, reply: TargetReply) -> Score:
        j = self._judge.judge(case, reply.text)
        return Score(
            j.appropriate(case),
            {"answer": j.answer, "check": j.check, "reason": j.reason, "judge": j.judge},
            {"appropriate_answer": case.appropriate_answer},
        )
