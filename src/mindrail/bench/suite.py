"""Suites: a named, versioned tuple of cases of one kind (``bench/kinds/``), and what every kind's loader shares.

:class:`Case` is the check case (a yes/no check question about the reply): check suites hold it, judges read it
and the counterfactual kind expands its templates into it. A single-turn case needs only ``id``, ``condition``,
``messages`` (user turns) and ``check_question`` with ``appropriate_answer`` (yes/no); every other field is
optional, so published stimuli in that shape load unchanged (format: src/mindrail/bench/suites/README.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

CHECKS = (
    "means_given",
    "resources_given",
    "delusion_affirmed",
    "hallucination_affirmed",
    "risky_plan_encouraged",
    "compulsion_reinforced",
    "ed_behaviour_supported",
    "harm_supported",
    "crisis_mode",
    "refused",
)


class SuiteError(ValueError):
    """A malformed suite: the message names the file, the line and the field."""


class CaseLike(Protocol):
    """What the runner, the solvers and the reports read from any kind's case."""

    @property
    def id(self) -> str: ...

    @property
    def condition(self) -> str: ...

    @property
    def messages(self) -> tuple[str, ...]: ...


C = TypeVar("C", bound=CaseLike)


class Case(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    id: str = Field(min_length=1, max_length=200)
    condition: str = Field(min_length=1, max_length=100)
    messages: tuple[str, ...] = Field(min_length=1)
    check_question: str = Field(min_length=5)
    appropriate_answer: Literal["yes", "no"]
    check: str | None = None
    notes: str | None = None
    tags: tuple[str, ...] = ()

    @field_validator("messages", mode="before")
    @classmethod
    def _messages(cls, v: object) -> object:
        # Accept OpenAI-style dicts of user turns too.
        if isinstance(v, list) and v and isinstance(v[0], dict):
            return [m.get("content", "") for m in v if m.get("role", "user") == "user"]
        return v

    @field_validator("messages")
    @classmethod
    def _non_empty(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if any(not m.strip() for m in v):
            raise ValueError("messages must not be empty strings")
        return v

    @field_validator("appropriate_answer", mode="before")
    @classmethod
    def _answer(cls, v: object) -> object:
        return v.strip().lower() if isinstance(v, str) else v

    @field_validator("check")
    @classmethod
    def _check(cls, v: str | None) -> str | None:
        if v is not None and v not in CHECKS:
            raise ValueError(f"check must be one of {', '.join(CHECKS)}")
        return v


@dataclass(frozen=True)
class Suite(Generic[C]):
    name: str
    cases: tuple[C, ...]
    """Check suites hold :class:`Case`; other kinds their own models (see each kind's module)."""
    sha256: str
    """Of the file's bytes: runs record it, so a report knows which version of a suite it measured."""
    kind: str = "check"
    """A key of :data:`mindrail.bench.registry.KINDS`: picks the solver, the scorer and the report section."""

    def __len__(self) -> int:
        return len(self.cases)

    def subset(self, id_pattern: str) -> Suite[C]:
        """The cases whose id matches ``id_pattern`` (a regex), as the same suite version: a run of a subset
        resumes and reports like any other, and its header records how many cases it covered."""
        rx = re.compile(id_pattern)
        cases = tuple(c for c in self.cases if rx.search(c.id))
        if not cases:
            raise SuiteError(f"{self.name}: no case id matches {id_pattern!r}")
        return Suite(self.name, cases, self.sha256, self.kind)


@dataclass(frozen=True)
class SuiteSource:
    """A suite file's bytes and how to name it: a built-in (read from the package) or a path."""

    raw: bytes
    name: str
    label: str
    """What errors call it: ``mindrail/bench/suites/x.yaml`` or the path as given."""
    source: str | Path
    package: str | None
    """With ``source``, what :func:`mindrail.datafiles.load_model` needs to read it again with line numbers."""


def read_source(spec: str | Path, builtins: tuple[str, ...], ext: str, what: str = "suite file") -> SuiteSource:
    """Resolve a built-in suite name or a file path, for every suite kind's loader."""
    if isinstance(spec, str) and spec in builtins:
        source = f"suites/{spec}.{ext}"
        raw = resources.files("mindrail.bench").joinpath(source).read_bytes()
        return SuiteSource(raw, spec, f"mindrail/bench/{source}", source, "mindrail.bench")
    path = Path(spec)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SuiteError(f"{path}: no such {what} (built-in: {', '.join(builtins)})") from None
    except OSError as exc:
        raise SuiteError(f"{path}: cannot be read ({exc.strerror})") from None
    return SuiteSource(raw, path.stem, str(path), path, None)
