"""Which loader, solver and scorer a suite gets: the one place that knows every suite kind.

Built-in suites are named; a file is a check suite if it is JSONL, and a YAML file says its kind by its top-level
key (``personas:`` or ``templates:``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mindrail.backends.base import Backend
from mindrail.bench.judge import Judge
from mindrail.bench.suite import BUILTIN as CHECK_SUITES
from mindrail.bench.suite import Suite, SuiteError, load_suite
from mindrail.bench.task import CheckScorer, Scorer, Solver, scripted_turns
from mindrail.risk.engine import RiskEngine

BUILTIN = (*CHECK_SUITES, "stigma", "personas", "counterfactual")


def _yaml_kind(path: Path) -> str:
    try:
        with path.open(encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except FileNotFoundError:
        raise SuiteError(f"{path}: no such suite file (built-in suites: {', '.join(BUILTIN)})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise SuiteError(f"{path}:{mark.line + 1 if mark else 1}: not valid YAML") from None
    if isinstance(data, dict) and "personas" in data:
        return "persona"
    if isinstance(data, dict) and "templates" in data:
        return "counterfactual"
    raise SuiteError(f"{path}:1: expected a top-level 'personas' or 'templates' key")


def load(spec: str) -> Suite:
    """A built-in suite by name, a JSONL check suite, or a YAML persona / counterfactual suite."""
    if spec == "stigma":
        from mindrail.bench.stigma import load_stigma

        return load_stigma()
    kind = None
    if spec == "personas":
        kind = "persona"
    elif spec == "counterfactual":
        kind = "counterfactual"
    elif spec not in CHECK_SUITES and Path(spec).suffix.lower() in (".yaml", ".yml"):
        kind = _yaml_kind(Path(spec))
    if kind == "persona":
        from mindrail.bench.persona import load_personas

        return load_personas(spec)
    if kind == "counterfactual":
        from mindrail.bench.counterfactual import load_counterfactual

        return load_counterfactual(spec)
    return load_suite(spec)


@dataclass(frozen=True)
class TaskParts:
    solver: Solver
    scorer: Scorer


def parts(
    suite: Suite,
    judges: list[Judge],
    *,
    engine: Callable[[], RiskEngine],
    simulated_user: Backend | None = None,
    max_turns: int = 6,
) -> TaskParts:
    """The solver and scorer for ``suite``. ``judges[0]`` decides check questions; the rest are second opinions.
    ``engine`` is called only by kinds that need mindrail's risk scores (counterfactual)."""
    solver: Any = scripted_turns
    if suite.kind == "stigma":
        from mindrail.bench.stigma import StigmaScorer

        return TaskParts(solver, StigmaScorer())
    if suite.kind == "persona":
        from mindrail.bench.persona import RubricScorer, SimulatedUser, scripted_persona

        solver = SimulatedUser(simulated_user, max_turns=max_turns) if simulated_user else scripted_persona
        return TaskParts(solver, RubricScorer())
    if suite.kind == "counterfactual":
        from mindrail.bench.counterfactual import CounterfactualScorer

        return TaskParts(solver, CounterfactualScorer(engine(), judges[0], *judges[1:]))
    return TaskParts(solver, CheckScorer(judges[0], *judges[1:]))
