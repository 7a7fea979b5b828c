"""The protocols of a bench task: a task is a suite, a solver and a scorer (Inspect AI's split), and a suite kind
(:class:`SuiteKind`) is the small factory that makes all three for one kind of suite.

- The **solver** plays a case against a target and returns what happened (the transcript). The default sends the
  case's scripted user turns; the persona kind's solver can let a simulated user drive the conversation.
- The **scorer** turns that into a :class:`Score`: whether the care was appropriate, the judgement behind it, and
  kind-specific fields (a stigma code, a counterfactual group, rubric ratings) that reports read.
- The **kind** loads its suites, makes the solver and scorer, and summarises and renders its runs in reports.
  The kinds are registered by name in :mod:`mindrail.bench.registry`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from mindrail.bench.suite import CaseLike, Suite
from mindrail.bench.target import Target, TargetReply

if TYPE_CHECKING:
    from mindrail.backends.base import Backend
    from mindrail.bench.judge import Judge
    from mindrail.risk.engine import RiskEngine

C = TypeVar("C", bound=CaseLike)
C_contra = TypeVar("C_contra", bound=CaseLike, contravariant=True)


@dataclass(frozen=True, slots=True)
class Score:
    appropriate: bool | None
    """None when the scorer could not decide (counted as unsure, never guessed)."""
    judgement: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)
    """Merged into the run row, e.g. ``{"stigma": 1, "usable": true}`` or ``{"axis": "age", "group": "70"}``."""


class Solver(Protocol[C_contra]):
    async def __call__(self, case: C_contra, target: Target) -> TargetReply: ...


class Scorer(Protocol[C_contra]):
    """Sync for rules; a scorer that asks a model returns an awaitable."""

    name: str

    def __call__(self, case: C_contra, reply: TargetReply) -> Score | Awaitable[Score]: ...


async def resolve_score(s: Score | Awaitable[Score]) -> Score:
    return s if isinstance(s, Score) else await s


async def scripted_turns(case: CaseLike, target: Target) -> TargetReply:
    """The default solver: the case's user turns, in order, in one fresh conversation."""
    return await target.respond(tuple(case.messages))


@dataclass(frozen=True)
class TaskOptions:
    """What a kind may use to build its solver and scorer (each kind takes only what it needs)."""

    judges: Sequence[Judge]
    """``judges[0]`` decides check questions; the rest are second opinions recorded beside it."""
    engine: Callable[[], RiskEngine]
    """Called only by kinds that need mindrail's risk scores (counterfactual), so others never load the model."""
    simulated_user: Backend | None = None
    max_turns: int = 6


@dataclass(frozen=True)
class TaskParts(Generic[C]):
    solver: Solver[C]
    scorer: Scorer[C]


Section = tuple[list[str], list[str]]
"""A report section: markdown lines and HTML fragments."""


class SuiteKind(Protocol[C]):
    """One kind of suite: its case type ``C``, how its suites load, how a case is played and scored, and what its
    runs add to a report. Implementations are small classes in ``bench/kinds/``."""

    @property
    def name(self) -> str:
        """What runs record as their ``kind``."""
        ...

    @property
    def builtin(self) -> tuple[str, ...]:
        """The built-in suites of this kind, by name."""
        ...

    @property
    def file_key(self) -> str | None:
        """The top-level key that marks a YAML suite file as this kind (None: not a YAML kind)."""
        ...

    def load(self, spec: str | Path) -> Suite[C]: ...

    def solver(self, options: TaskOptions) -> Solver[C]: ...

    def scorer(self, options: TaskOptions) -> Scorer[C]: ...

    def summarise(self, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
        """The kind's own numbers for a report (None: the generic appropriate-rate view is all)."""
        ...

    def report_section(self, group: list[dict[str, Any]]) -> Section | None:
        """Markdown and HTML for the kind's numbers, one run summary per target in ``group``."""
        ...


def _no_detail(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    return None


def _no_section(group: list[dict[str, Any]]) -> Section | None:
    return None


@dataclass(frozen=True)
class Kind(Generic[C]):
    """A :class:`SuiteKind` put together from small factories, the way each module under ``bench/kinds/`` declares
    its ``KIND``. A kind without a report section of its own leaves ``summarise`` and ``report_section`` out."""

    name: str
    builtin: tuple[str, ...]
    file_key: str | None
    load: Callable[[str | Path], Suite[C]]
    solver: Callable[[TaskOptions], Solver[C]]
    scorer: Callable[[TaskOptions], Scorer[C]]
    summarise: Callable[[list[dict[str, Any]]], dict[str, Any] | None] = _no_detail
    report_section: Callable[[list[dict[str, Any]]], Section | None] = _no_section
