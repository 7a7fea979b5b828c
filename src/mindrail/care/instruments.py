"""Validated questionnaires (PHQ-9, GAD-7) as data files, and their published scoring.

The wording, LOINC codes, notices and bands live in ``care/data/instruments/*.yaml``; this module only checks them
and adds item scores up. Scoring follows the published rules (sum of item scores; bands at the authors'
cut-points). An item marked ``safety`` (PHQ-9 item 9) above 0 is a safety event whatever the total: the gateway
starts the risk inquiry or the crisis protocol, and a clinician always sees it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Literal

from pydantic import Field, model_validator

from mindrail.datafiles import StrictModel, load_model

PACKAGE = "mindrail.care"
INSTRUMENTS = ("phq9", "gad7")


class Source(StrictModel):
    citation: str
    url: str
    checked: dt.date


class Option(StrictModel):
    value: int = Field(ge=0)
    text: str
    loinc: str = Field(pattern=r"^LA\d+-\d$")


class OptionSet(StrictModel):
    loinc_answer_list: str = Field(pattern=r"^LL\d+-\d$")
    options: tuple[Option, ...] = Field(min_length=2)

    @model_validator(mode="after")
    def _ordered(self) -> OptionSet:
        if [o.value for o in self.options] != list(range(len(self.options))):
            raise ValueError("option values must be 0, 1, 2, ... in order")
        return self


class OptionsFile(StrictModel):
    frequency: OptionSet


class Item(StrictModel):
    n: int = Field(ge=1)
    text: str
    ask: str
    loinc: str = Field(pattern=r"^\d+-\d$")
    safety: bool = False
    """Any answer above 0 is a safety event (PHQ-9 item 9)."""


class Band(StrictModel):
    min: int = Field(ge=0)
    max: int = Field(ge=0)
    label: str
    plain: str
    """What the person sees beside their score: plain words, no diagnosis."""


class Codes(StrictModel):
    panel: str = Field(pattern=r"^\d+-\d$")
    total: str = Field(pattern=r"^\d+-\d$")


class InstrumentFile(StrictModel):
    id: str
    title: str
    stem: str
    loinc: Codes
    notice: str
    source: Source
    options: Literal["frequency"]
    items: tuple[Item, ...] = Field(min_length=1)
    bands: tuple[Band, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> InstrumentFile:
        if [i.n for i in self.items] != list(range(1, len(self.items) + 1)):
            raise ValueError("items must be numbered 1, 2, ... in order")
        if len({i.loinc for i in self.items}) != len(self.items):
            raise ValueError("item LOINC codes must be distinct")
        return self


@dataclass(frozen=True, slots=True)
class Score:
    instrument: str
    values: tuple[int, ...]
    total: int
    band: str
    plain: str
    safety_items: tuple[int, ...]
    """Numbers of safety items answered above 0 (PHQ-9 item 9)."""

    @property
    def safety_event(self) -> bool:
        return bool(self.safety_items)


@dataclass(frozen=True, slots=True)
class Instrument:
    """A loaded questionnaire with its answer options; :meth:`score` applies the published rules."""

    spec: InstrumentFile
    options: OptionSet

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def items(self) -> tuple[Item, ...]:
        return self.spec.items

    @property
    def max_value(self) -> int:
        return len(self.options.options) - 1

    @property
    def max_total(self) -> int:
        return self.max_value * len(self.items)

    def option(self, value: int) -> Option:
        return self.options.options[value]

    def band(self, total: int) -> Band:
        for b in self.spec.bands:
            if b.min <= total <= b.max:
                return b
        raise ValueError(f"{self.id}: total {total} is outside every band")

    def score(self, values: Sequence[int]) -> Score:
        """Published scoring: every item answered 0..3, total = sum, band by the cut-points. A missing or out-of-range
        item is an error (a partial questionnaire has no valid total)."""
        if len(values) != len(self.items):
            raise ValueError(f"{self.id}: {len(self.items)} answers needed, got {len(values)}")
        for item, v in zip(self.items, values, strict=True):
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= self.max_value:
                raise ValueError(f"{self.id}: item {item.n} must be an integer 0..{self.max_value}")
        total = sum(values)
        band = self.band(total)
        safety = tuple(i.n for i, v in zip(self.items, values, strict=True) if i.safety and v > 0)
        return Score(self.id, tuple(values), total, band.label, band.plain, safety)


def _check_bands(spec: InstrumentFile, max_total: int) -> None:
    expected = 0
    for b in spec.bands:
        if b.min != expected or b.max < b.min:
            raise ValueError(f"{spec.id}: bands must cover 0..{max_total} without gaps (band {b.label!r})")
        expected = b.max + 1
    if expected != max_total + 1:
        raise ValueError(f"{spec.id}: bands must end at the maximum total {max_total}")


@cache
def load_instrument(name: str) -> Instrument:
    """``phq9`` or ``gad7`` from the package data (errors name file, line and field)."""
    if name not in INSTRUMENTS:
        raise KeyError(f"unknown instrument {name!r}; known: {', '.join(INSTRUMENTS)}")
    spec = load_model(InstrumentFile, f"data/instruments/{name}.yaml", package=PACKAGE)
    options = load_model(OptionsFile, "data/options.yaml", package=PACKAGE).frequency
    inst = Instrument(spec, options)
    _check_bands(spec, inst.max_total)
    return inst
