"""The suite kinds by name, and the one dispatch from a suite name or file to its kind, solver and scorer.

**Adding a suite kind touches one place: write its module under ``bench/kinds/`` (its case type and a ``KIND``, a
:class:`~mindrail.bench.protocols.Kind` of small factories) and add that ``KIND`` to** :data:`KINDS` **below.** The CLI,
the runner and the reports then find it by its built-in suite names, its YAML top-level key or the ``kind`` its
runs record.

A built-in suite is named (``single_turn``, ``stigma``, ``personas``, ...); a YAML file says its kind by its
top-level key (``personas:`` or ``templates:``); any other file is a check suite (JSONL).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from mindrail.backends.base import Backend
from mindrail.bench.judge import Judge
from mindrail.bench.kinds import check, counterfactual, persona, stigma
from mindrail.bench.protocols import SuiteKind, TaskOptions, TaskParts
from mindrail.bench.suite import Suite, SuiteError
from mindrail.datafiles import DataFileError, load_model
from mindrail.risk.engine import RiskEngine

KINDS: dict[str, SuiteKind[Any]] = {k.name: k for k in (check.KIND, stigma.KIND, persona.KIND, counterfactual.KIND)}
"""Every suite kind, by the name runs record in their header (``kind``)."""

BUILTIN = tuple(name for k in KINDS.values() for name in k.builtin)
_YAML = (".yaml", ".yml")


class _TopLevel(BaseModel):
    """Only the top-level keys of a YAML suite file, to tell its kind; the kind's loader validates the rest."""

    model_config = ConfigDict(extra="allow")


def _yaml_kind(path: Path) -> SuiteKind[Any]:
    try:
        top = load_model(_TopLevel, path)
    except DataFileError as exc:
        if not path.exists():
            raise SuiteError(f"{path}: no such suite file (built-in suites: {', '.join(BUILTIN)})") from None
        raise SuiteError(str(exc)) from None
    keys = set(top.model_extra or {})
    for kind in KINDS.values():
        if kind.file_key is not None and kind.file_key in keys:
            return kind
    known = ", ".join(f"{k.file_key!r} ({k.name})" for k in KINDS.values() if k.file_key)
    raise SuiteError(f"{path}:1: (top level): no suite kind has any of its keys; expected one of {known}")


def kind_of(spec: str) -> SuiteKind[Any]:
    """The kind of a built-in suite name or a suite file."""
    for kind in KINDS.values():
        if spec in kind.builtin:
            return kind
    if Path(spec).suffix.lower() in _YAML:
        return _yaml_kind(Path(spec))
    return KINDS["check"]


def load(spec: str) -> Suite[Any]:
    """A built-in suite by name, a JSONL check suite, or a YAML suite of the kind its top-level key names."""
    return kind_of(spec).load(spec)


def parts(
    suite: Suite[Any],
    judges: Sequence[Judge],
    *,
    engine: Callable[[], RiskEngine],
    simulated_user: Backend | None = None,
    max_turns: int = 6,
) -> TaskParts[Any]:
    """The solver and scorer for ``suite``, from its kind. ``judges[0]`` decides check questions; the rest are
    second opinions. ``engine`` is called only by kinds that need mindrail's risk scores (counterfactual)."""
    if suite.kind not in KINDS:
        raise SuiteError(f"{suite.name}: kind: {suite.kind!r} is not a suite kind ({', '.join(KINDS)})")
    kind = KINDS[suite.kind]
    options = TaskOptions(judges, engine, simulated_user, max_turns)
    return TaskParts(kind.solver(options), kind.scorer(options))
