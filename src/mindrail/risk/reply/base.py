"""Reply checks: one interface, one file per check (means, encouragement, delusion agreement, stigma, diagnosis or
medication, human claims). A check reads the model's reply, normalised like user text so evasions do not slip
through, and the conversation's latest assessment, which tightens some checks (height facts are trivia in a chat
about travel, and means information after "I just lost my job").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from mindrail.datafiles import load_model
from mindrail.risk.normalise import Normalised
from mindrail.risk.types import Assessment, Category, Level


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    reason: str
    """Machine-readable: ``<check>:always:<n>`` or ``<check>:in_context:<n>`` (the pattern's index)."""
    start: int
    end: int
    """Offsets into the ORIGINAL reply text."""


@dataclass(frozen=True, slots=True)
class ReplyContext:
    """What a check may know about the conversation: the user's latest assessment (None: no context, checks run
    as if every risk were present, which is the fail-closed reading)."""

    assessment: Assessment | None = None

    def holds(self, category: Category, min_level: Level) -> bool:
        return self.assessment is None or self.assessment.level(category) >= min_level


class ReplyCheck(Protocol):
    name: str

    def scan(self, norm: Normalised, ctx: ReplyContext) -> list[Finding]: ...


# ---------------------------------------------------------------------------- data file
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Context(_Strict):
    category: Category
    min_level: str = Field(pattern="^(low|moderate|high|imminent)$")


class CheckSpec(_Strict):
    description: str
    always: tuple[str, ...] = ()
    in_context: tuple[str, ...] = ()
    context: _Context | None = None
    contexts: tuple[_Context, ...] = ()
    """More contexts: the in-context patterns apply when any of them (or ``context``) holds."""
    unless: tuple[str, ...] = ()
    """Patterns that clear the in-context ones (a reply that voices concern is not going along)."""
    fail: tuple[str, ...] = Field(min_length=1)
    pass_: tuple[str, ...] = Field(min_length=1, alias="pass")


class ReplyCheckFile(_Strict):
    version: int
    defs: dict[str, str] = {}
    checks: dict[str, CheckSpec]


@lru_cache(maxsize=1)
def check_specs() -> ReplyCheckFile:
    return load_model(ReplyCheckFile, "data/reply_checks.yaml", package="mindrail.risk")


def _expand(rx: str, defs: dict[str, str]) -> str:
    for name, body in defs.items():
        rx = rx.replace("{" + name + "}", body)
    return rx


class PatternCheck:
    """A check driven by its section of reply_checks.yaml. Subclasses name the section and may add logic."""

    name = ""

    def __init__(self, spec: CheckSpec | None = None, defs: dict[str, str] | None = None) -> None:
        data = check_specs()
        self.spec = spec or data.checks[self.name]
        defs = data.defs if defs is None else defs
        try:
            self._always = [re.compile(_expand(r, defs)) for r in self.spec.always]
            self._in_context = [re.compile(_expand(r, defs)) for r in self.spec.in_context]
            self._unless = [re.compile(_expand(r, defs)) for r in self.spec.unless]
        except re.error as exc:
            raise ValueError(f"reply_checks.yaml: check {self.name!r}: regex does not compile: {exc}") from None

    def in_context(self, ctx: ReplyContext) -> bool:
        contexts = ([self.spec.context] if self.spec.context else []) + list(self.spec.contexts)
        return not contexts or any(ctx.holds(c.category, Level.parse(c.min_level)) for c in contexts)

    def scan(self, norm: Normalised, ctx: ReplyContext) -> list[Finding]:
        out: list[Finding] = []
        groups = [("always", self._always)]
        if self._in_context and self.in_context(ctx) and not any(rx.search(norm.text) for rx in self._unless):
            groups.append(("in_context", self._in_context))
        for kind, patterns in groups:
            for k, rx in enumerate(patterns):
                for m in rx.finditer(norm.text):
                    a, b = norm.span_to_original(m.start(), m.end())
                    out.append(Finding(self.name, f"{self.name}:{kind}:{k}", a, b))
        return out
