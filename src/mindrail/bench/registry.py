"""The suite kinds by name, and the one dispatch from a suite name or file to its kind, solver and scorer.

**Adding a suite kind touches one place: write its module under ``bench/kinds/`` (its case type and a ``KIND``, a
:class:`~mindrail.bench.protocols.Kind` of small factories) and add that ``KIND`` to** :data:`KINDS` **below.** The CLI,
the runner and the reports then find it by its built-in suite names, its YAML top-level key or the ``kind`` its
runs record.

A built-in suite is named (``single_turn``, ``stigma``, ``personas``, ...); a YAML file says its kind by its
top-level key (``personas:`` or ``templates:``); any other file is a check suite (JSONL).

A :class:`RunSpec` says what a run plays against as plain data (backend specs, judge names, options), and
:func:`build` makes the live target, solver and scorer from it: the command line builds one, and each Ray actor of
``bench run --ray`` builds its own, so no model, risk engine or HTTP client is ever pickled.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from mindrail.backends.base import Backend
from mindrail.bench.judge import Judge
from mindrail.bench.kinds import check, counterfactual, persona, stigma
from mindrail.bench.protocols import Scorer, Solver, SuiteKind, TaskOptions, TaskParts
from mindrail.bench.suite import Suite, SuiteError
from mindrail.bench.target import Target
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
    return _kind_parts(suite.kind, suite.name, TaskOptions(judges, engine, simulated_user, max_turns))


def _kind_parts(kind: str, name: str, options: TaskOptions) -> TaskParts[Any]:
    if kind not in KINDS:
        raise SuiteError(f"{name}: kind: {kind!r} is not a suite kind ({', '.join(KINDS)})")
    k = KINDS[kind]
    return TaskParts(k.solver(options), k.scorer(options))


class SpecError(ValueError):
    """A :class:`RunSpec` names a backend or judge that does not exist; the message starts with the option."""


@dataclass(frozen=True)
class RunSpec:
    """What a run plays against, as picklable names and specs (the ``bench run`` options)."""

    kind: str
    """The suite's kind (``Suite.kind``): which solver and scorer."""
    target: str = "local"
    """A backend spec: ``local | scripted[:FILE] | openai:BASE_URL#MODEL``."""
    guarded: bool = False
    policy: str | None = None
    """Policy YAML for a guarded target (None: the shipped policy)."""
    judges: tuple[str, ...] = ("offline",)
    """``offline`` or ``llm:BACKEND``; the first decides, the rest are second opinions."""
    user: str | None = None
    """Persona suites: a backend spec that plays the person (None: the card's scripted turns)."""
    max_turns: int = 6
    max_tokens: int = 256


@dataclass(frozen=True)
class RunParts:
    target: Target
    solver: Solver[Any]
    scorer: Scorer[Any]


def _settings(spec: str, option: str) -> Any:
    from mindrail.gateway.factory import BackendSpecError, Settings, backend_settings

    try:
        return backend_settings(spec, Settings(local_threads=2))
    except BackendSpecError as exc:
        raise SpecError(f"{option} {exc}") from None


def build_backend(spec: str, option: str = "--target") -> Backend:
    """The backend a spec names (``gateway.factory.backend_settings``); the bench's local model keeps 2 threads."""
    from mindrail.gateway.factory import make_backend

    return make_backend(_settings(spec, option))


def _judge_backend(spec: str) -> str:
    if spec == "offline":
        return ""
    if spec.startswith("llm:"):
        return spec[4:]
    raise SpecError(f"--judge {spec!r}: expected offline or llm:BACKEND")


def build_judges(specs: Sequence[str]) -> list[Judge]:
    """``offline`` or ``llm:BACKEND`` (any backend spec), each; the first is the deciding judge."""
    from mindrail.bench.judge import OfflineJudge
    from mindrail.bench.llm_judge import LLMJudge

    backends = [_judge_backend(s) for s in specs]
    return [LLMJudge(build_backend(b, "--judge")) if b else OfflineJudge() for b in backends]


def check_spec(spec: RunSpec) -> None:
    """Raise :class:`SpecError` for a spec :func:`build` would refuse, without loading anything (no model, no
    engine): a Ray run checks here before its actors start, so a typo is an error on the command line."""
    _settings(spec.target, "--target")
    for j in spec.judges:
        if b := _judge_backend(j):
            _settings(b, "--judge")
    if spec.user:
        _settings(spec.user, "--user")
    if spec.kind not in KINDS:
        raise SpecError(f"kind: {spec.kind!r} is not a suite kind ({', '.join(KINDS)})")


def build(spec: RunSpec, engine: Callable[[], RiskEngine] | None = None) -> RunParts:
    """The live target, solver and scorer ``spec`` describes. ``engine`` (default: ``RiskEngine.load``) is called
    at most once, and only when the target is guarded or the kind needs risk scores."""
    from mindrail.backends.base import GenerationOptions
    from mindrail.bench.target import GuardedTarget, RawTarget
    from mindrail.policy.decide import Policy

    backend = build_backend(spec.target)
    judges = build_judges(spec.judges)
    user = build_backend(spec.user, "--user") if spec.user else None
    load_engine = functools.cache(engine or RiskEngine.load)
    task = _kind_parts(spec.kind, spec.kind, TaskOptions(judges, load_engine, user, spec.max_turns))
    opts = GenerationOptions(max_tokens=spec.max_tokens, temperature=0.0, seed=0)
    target: Target = (
        GuardedTarget(load_engine(), Policy.load(Path(spec.policy) if spec.policy else None), backend, opts)
        if spec.guarded
        else RawTarget(backend, options=opts)
    )
    return RunParts(target, task.solver, task.scorer)
