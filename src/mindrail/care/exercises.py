"""The self-help library: a small curated set of exercises as data (``care/data/exercises.yaml``), each with its
source and the situations it fits. The gateway offers one when distress fits and the person wants it, never in
place of crisis help, and shows its words as written (no model text)."""

from __future__ import annotations

import datetime as dt
import re
from functools import cache

from pydantic import Field, model_validator

from mindrail.datafiles import StrictModel, load_model


class ExerciseSource(StrictModel):
    name: str
    url: str
    checked: dt.date
    verified: bool
    """Whether the page itself was read when the entry was written (False: the canonical page, unread)."""


class Exercise(StrictModel):
    id: str = Field(pattern=r"^[a-z0-9_]+$")
    title: str
    summary: str
    when: tuple[str, ...] = Field(min_length=1)
    not_when: tuple[str, ...] = Field(min_length=1)
    steps: tuple[str, ...] = Field(min_length=2)
    minutes: int = Field(ge=1, le=60)
    cues: str = ""
    """A regex of words in the person's message that suggest this exercise fits (whole words)."""
    source: ExerciseSource

    @model_validator(mode="after")
    def _crisis_first(self) -> Exercise:
        if not any("crisis" in w.lower() for w in self.not_when):
            raise ValueError("not_when must say that crisis help comes first")
        try:
            re.compile(self.cues)
        except re.error as exc:
            raise ValueError(f"cues: not a valid regex ({exc})") from None
        return self


class ExerciseFile(StrictModel):
    version: int
    offer: str
    """How an exercise is offered; ``{title}`` and ``{minutes}`` are filled in."""
    exercises: tuple[Exercise, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> ExerciseFile:
        ids = [e.id for e in self.exercises]
        if len(set(ids)) != len(ids):
            raise ValueError("exercise ids must be unique")
        return self


@cache
def library() -> ExerciseFile:
    return load_model(ExerciseFile, "data/exercises.yaml", package="mindrail.care")


def exercise(exercise_id: str) -> Exercise:
    for e in library().exercises:
        if e.id == exercise_id:
            return e
    raise KeyError(f"unknown exercise {exercise_id!r}")


def suggest(text: str) -> Exercise | None:
    """The first exercise whose cues the message matches (file order), or None: an exercise is offered only when
    something the person said suggests it fits."""
    low = text.lower()
    for e in library().exercises:
        if e.cues and re.search(rf"\b(?:{e.cues})\b", low):
            return e
    return None


def offer_text(e: Exercise) -> str:
    return library().offer.replace("{title}", e.title).replace("{minutes}", str(e.minutes))


def render(e: Exercise) -> str:
    """The exercise as the person sees it in chat: title, steps, and where it comes from."""
    steps = "\n".join(f"{n}. {s}" for n, s in enumerate(e.steps, 1))
    return f"**{e.title}** (about {e.minutes} minutes)\n\n{e.summary}\n\n{steps}\n\nSource: {e.source.name}"
