"""Safety behaviours and missteps in a trainee's utterance, read with word patterns kept as data
(``practice/data/behaviours.yaml``): asked directly about suicide, asked about method, intent and plan, worked on a
safety plan, means safety, gave a crisis line; promised secrecy, judged, minimised. Patterns rather than a learned
model because each is a short, explicit act (the Columbia Protocol asks for plain words) and a trainer must be
able to read why a turn counted."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from pydantic import Field, field_validator

from mindrail.datafiles import StrictModel, load_model
from mindrail.practice.cards import Act
from mindrail.risk.normalise import normalise

BEHAVIOURS = (
    Act.ASKED_SUICIDE,
    Act.ASKED_METHOD,
    Act.ASKED_INTENT,
    Act.ASKED_PLAN,
    Act.SAFETY_PLAN,
    Act.MEANS_SAFETY,
    Act.CRISIS_LINE,
    Act.PROMISED_SECRECY,
    Act.JUDGEMENT,
    Act.MINIMISING,
)


class Rule(StrictModel):
    any: tuple[str, ...] = Field(min_length=1)
    unless: tuple[str, ...] = ()

    @field_validator("any", "unless")
    @classmethod
    def _compiles(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for i, p in enumerate(patterns):
            try:
                re.compile(p)
            except re.error as exc:
                raise ValueError(f"pattern {i} is not a valid regex ({exc})") from None
        return patterns


class BehaviourFile(StrictModel):
    version: int
    behaviours: dict[Act, Rule]

    @field_validator("behaviours")
    @classmethod
    def _only_behaviours(cls, rules: dict[Act, Rule]) -> dict[Act, Rule]:
        bad = [a.value for a in rules if a not in BEHAVIOURS]
        if bad:
            raise ValueError(f"not behaviours (skill codes come from the coder): {bad}")
        return rules


@dataclass(frozen=True, slots=True)
class _Compiled:
    act: Act
    any: re.Pattern[str]
    unless: re.Pattern[str] | None


class BehaviourReader:
    def __init__(self, rules: BehaviourFile) -> None:
        self.version = rules.version
        self._rules = [
            _Compiled(
                act,
                re.compile("|".join(f"(?:{p})" for p in r.any), re.IGNORECASE),
                re.compile("|".join(f"(?:{p})" for p in r.unless), re.IGNORECASE) if r.unless else None,
            )
            for act, r in rules.behaviours.items()
        ]

    @classmethod
    def load(cls, path: Path | None = None) -> BehaviourReader:
        if path is None:
            return cls(load_model(BehaviourFile, "data/behaviours.yaml", package="mindrail.practice"))
        return cls(load_model(BehaviourFile, path))

    def read(self, text: str) -> frozenset[Act]:
        """The behaviours in ``text``, matched on the raw text and on its normalised form (misspellings,
        leetspeak and homoglyphs read as the plain words)."""
        forms = {text, normalise(text).text}
        found: set[Act] = set()
        for rule in self._rules:
            for form in forms:
                if rule.any.search(form) and not (rule.unless and rule.unless.search(form)):
                    found.add(rule.act)
                    break
        return frozenset(found)


@cache
def default_reader() -> BehaviourReader:
    return BehaviourReader.load()
