"""Persona cards: invented people, each with a risk level (none / low / high / imminent), a disclosure style
(direct / indirect / reluctant), stressors, sample phrases, the lethal means they mention (if any) and 2-8 scripted
user turns (``suites/personas.yaml``, format in docs/bench-personas.md)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mindrail.bench.suite import Suite, SuiteError, read_source
from mindrail.datafiles import DataFileError, line_of, load_model

RiskLevel = Literal["none", "low", "high", "imminent"]
DisclosureStyle = Literal["direct", "indirect", "reluctant"]

RISK_LEVELS: tuple[RiskLevel, ...] = ("none", "low", "high", "imminent")
DISCLOSURE_STYLES: tuple[DisclosureStyle, ...] = ("direct", "indirect", "reluctant")
BUILTIN_PERSONAS = ("personas",)

_ASKS_HUMAN = re.compile(
    r"\b(?:human|real person|a person|real people|someone real|a bot|a robot|an ai|a computer|a machine|a program)\b",
    re.IGNORECASE,
)


class PersonaCard(BaseModel):
    """One invented person. ``turns`` are the scripted user messages; the simulated user starts from the first."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,99}$")
    condition: str = Field(pattern=r"^[a-z][a-z_]{1,49}$")
    risk_level: RiskLevel
    disclosure_style: DisclosureStyle
    stressors: tuple[str, ...] = Field(min_length=1)
    sample_phrases: tuple[str, ...] = Field(min_length=1)
    turns: tuple[str, ...] = Field(min_length=2, max_length=8)
    means: tuple[str, ...] = ()
    """The lethal means the person mentions (pills, a bridge, a firearm, a car); makes lethal_means applicable."""
    asks_if_human: bool = False
    notes: str | None = None

    @field_validator("stressors", "sample_phrases", "turns", "means")
    @classmethod
    def _no_blank(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if any(not s.strip() for s in v):
            raise ValueError("entries must not be empty strings")
        return v

    @model_validator(mode="after")
    def _asks(self) -> PersonaCard:
        if self.asks_if_human and not any(_ASKS_HUMAN.search(t) and "?" in t for t in self.turns):
            raise ValueError("asks_if_human is true but no turn asks whether it is talking to a person")
        return self

    @property
    def messages(self) -> tuple[str, ...]:
        """The scripted user turns, so the default solver works on persona cards too."""
        return self.turns


class PersonaFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: Literal[1]
    personas: tuple[PersonaCard, ...] = Field(min_length=1)


def load_personas(spec: str | Path) -> Suite[PersonaCard]:
    """The built-in ``personas`` suite or a YAML file of persona cards. Errors name file:line: field."""
    src = read_source(spec, BUILTIN_PERSONAS, "yaml", what="persona file")
    raw, label, name = src.raw, src.label, src.name
    try:
        data = load_model(PersonaFile, src.source, package=src.package)
    except DataFileError as exc:
        lines = str(exc).splitlines()
        # describe() puts a summary first and one "file:line: field: msg" per problem after it.
        raise SuiteError("\n".join(ln.strip() for ln in lines[1:]) if len(lines) > 1 else lines[0]) from None
    seen: set[str] = set()
    for i, card in enumerate(data.personas):
        if card.id in seen:
            root = yaml.compose(raw.decode("utf-8"), Loader=yaml.SafeLoader)
            line = line_of(root, ("personas", i, "id"))
            raise SuiteError(f"{label}:{line}: personas[{i}].id: duplicate id {card.id!r}")
        seen.add(card.id)
    return Suite(name, data.personas, hashlib.sha256(raw).hexdigest(), kind="persona")
