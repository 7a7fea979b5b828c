"""Shared value types of the risk engine.

Every other package (policy, gateway, store, bench) depends on these and on nothing else in
``mindrail.risk``, so they are plain frozen dataclasses with a stable JSON form.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any


class Level(IntEnum):
    """Ordered risk level; comparisons (``<``, ``max``) follow clinical severity."""

    NONE = 0
    LOW = 1
    MODERATE = 2
    HIGH = 3
    IMMINENT = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: str | int | Level) -> Level:
        """Accept ``"moderate"``, ``2`` or a Level; raise ValueError naming the bad value."""
        if isinstance(value, Level):
            return value
        if isinstance(value, int):
            return cls(value)
        try:
            return cls[str(value).strip().upper()]
        except KeyError:
            allowed = ", ".join(m.label for m in cls)
            raise ValueError(f"unknown level {value!r}; expected one of: {allowed}") from None


class Category(StrEnum):
    SUICIDE_SELF_HARM = "suicide_self_harm"
    HARM_TO_OTHERS = "harm_to_others"
    PSYCHOSIS = "psychosis"
    MANIA = "mania"
    ABUSE = "abuse"
    EATING_DISORDER = "eating_disorder"
    DISTRESS = "distress"


CATEGORIES: tuple[Category, ...] = tuple(Category)


class Subject(StrEnum):
    """Whose risk the text is about; "my friend wants to die" needs a different response."""

    SELF = "self"
    OTHER = "someone_else"
    UNCLEAR = "unclear"


class Flag(StrEnum):
    TRUNCATED = "truncated"
    LANGUAGE_UNSUPPORTED = "language_unsupported"
    LOW_CONFIDENCE = "low_confidence"
    GLOSSED = "glossed"
    """Spanish, French, German or Portuguese, assessed through the bilingual glossary (mindrail.risk.gloss):
    read, but less surely than English."""


@dataclass(frozen=True, slots=True)
class Span:
    """Half-open character range ``[start, end)`` into the ORIGINAL text."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if self.start < 0 or self.end < self.start:
            raise ValueError(f"invalid span [{self.start}, {self.end})")

    def to_list(self) -> list[int]:
        return [self.start, self.end]


@dataclass(frozen=True, slots=True)
class CategoryResult:
    score: float
    level: Level
    evidence: tuple[Span, ...] = ()
    reasons: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": round(self.score, 4),
            "level": self.level.label,
            "evidence": [s.to_list() for s in self.evidence],
            "reasons": list(self.reasons),
        }


EMPTY_RESULT = CategoryResult(score=0.0, level=Level.NONE)


@dataclass(frozen=True, slots=True)
class Assessment:
    """The engine's judgement of one user turn, in the context of the conversation so far."""

    categories: dict[Category, CategoryResult]
    subject: Subject
    flags: frozenset[Flag]
    model_version: str
    turn: int = 0
    """Which of the person's messages this is, from 1 (assistant and system messages are not turns; see
    docs/architecture.md, "Turns"). 0: made outside any conversation state."""
    message: dict[Category, CategoryResult] = field(default_factory=dict)
    third_party: dict[Category, CategoryResult] = field(default_factory=dict)
    """Someone else's risk the person told about (a friend's attempt): a concern to act on, never the person's
    own level. When the person shows no risk of their own, ``categories`` holds it too, with subject
    someone_else."""
    cssrs_unknown: tuple[str, ...] = ()
    """C-SSRS items (method, intent, plan) not yet known for the person's current ideation: the level holds at
    moderate "until asked about", and these are what to ask."""
    rose: frozenset[Category] | None = None
    """Categories whose level is above the previous user turn's in this conversation: news for a clinician. A
    level that only holds is not escalated again (one misread message carried for six turns is one escalation,
    not six). None (an assessment made outside a conversation) counts every category as risen."""

    def is_rising(self, category: Category) -> bool:
        return self.rose is None or category in self.rose

    @property
    def top_level(self) -> Level:
        return max((r.level for r in self.categories.values()), default=Level.NONE)

    @property
    def top_category(self) -> Category | None:
        best = max(self.categories.items(), key=lambda kv: (kv[1].level, kv[1].score), default=None)
        if best is None or best[1].level == Level.NONE:
            return None
        return best[0]

    def level(self, category: Category) -> Level:
        return self.categories.get(category, EMPTY_RESULT).level

    def score(self, category: Category) -> float:
        return self.categories.get(category, EMPTY_RESULT).score

    def to_dict(self) -> dict[str, Any]:
        return {
            "turn": self.turn,
            "top_level": self.top_level.label,
            "top_category": self.top_category.value if self.top_category else None,
            "subject": self.subject.value,
            "flags": sorted(f.value for f in self.flags),
            "model_version": self.model_version,
            "categories": {c.value: r.to_dict() for c, r in self.categories.items()},
            "third_party": {c.value: r.to_dict() for c, r in self.third_party.items()},
            "cssrs_unknown": list(self.cssrs_unknown),
            "rose": sorted(c.value for c in self.rose) if self.rose is not None else None,
        }
