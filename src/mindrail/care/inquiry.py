"""The structured risk inquiry: the C-SSRS screener's questions, one per turn, read from free-text answers.

When the risk engine reports ideation whose method, intent or plan is not yet known, asking directly and kindly
is best practice (docs/care.md). :class:`Inquiry` holds one conversation's inquiry: which questions the
conversation already answered, which to ask next, what each answer was read as, and the screener's triage level.
The wording and the triage table are data (``care/data/cssrs_screener.yaml``). It never asks during acute danger:
the gateway runs the crisis protocol instead, and :meth:`Inquiry.answer` stops the inquiry when an answer itself
is imminent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cache
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, model_validator

from mindrail.care.answers import AnswerReader, Reading, default_reader
from mindrail.datafiles import StrictModel, load_model
from mindrail.risk.types import Assessment, Category, Level

SSH = Category.SUICIDE_SELF_HARM
LevelName = Annotated[Level, BeforeValidator(lambda v: Level.parse(v) if isinstance(v, str) else v)]
"""A level written by name in a data file (``high``)."""


class ScreenerSource(StrictModel):
    citation: str
    url: str
    checked: dt.date
    notes: str


class Question(StrictModel):
    id: str
    screener: str
    """The published wording."""
    ask: str
    """How mindrail asks it in chat."""
    short: str
    """The console's label."""
    if_no: str | None = None
    """Skipped when this earlier question was answered no (the screener's skip rule)."""
    only_if_yes: str | None = None
    """Asked only when this earlier question was answered yes."""


class TriageRule(StrictModel):
    all: tuple[str, ...] = Field(min_length=1)
    level: LevelName


class UnknownFloor(StrictModel):
    questions: tuple[str, ...]
    unless_no: str
    level: LevelName


class ScreenerFile(StrictModel):
    version: int
    source: ScreenerSource
    intro: str
    retry: str
    declined: str
    done: str
    questions: tuple[Question, ...] = Field(min_length=1)
    triage: tuple[TriageRule, ...]
    unknown_floor: UnknownFloor

    @model_validator(mode="after")
    def _known_ids(self) -> ScreenerFile:
        ids = [q.id for q in self.questions]
        if len(set(ids)) != len(ids):
            raise ValueError("question ids must be unique")
        named = [r for t in self.triage for r in t.all] + [*self.unknown_floor.questions, self.unknown_floor.unless_no]
        named += [n for q in self.questions for n in (q.if_no, q.only_if_yes) if n]
        unknown = sorted(set(named) - set(ids))
        if unknown:
            raise ValueError(f"unknown question id(s): {', '.join(unknown)}")
        return self


@cache
def load_screener() -> ScreenerFile:
    return load_model(ScreenerFile, "data/cssrs_screener.yaml", package="mindrail.care")


# C-SSRS items the risk engine names in its reasons (``:cssrs=<item>``) → the screener questions they answer yes.
_ENGINE_ITEMS: dict[str, tuple[str, ...]] = {
    "wish_dead": ("wish_dead",),
    "active_nonspecific": ("wish_dead", "thoughts"),
    "method": ("wish_dead", "thoughts", "method"),
    "intent": ("wish_dead", "thoughts", "intent"),
    "plan": ("wish_dead", "thoughts", "method", "plan"),
}


def known_from(assessment: Assessment) -> dict[str, Reading]:
    """Screener questions the conversation has already answered yes, from the engine's suicide reasons: someone
    who wrote "i keep thinking about ending it" is not asked whether they have had thoughts of killing
    themselves. Only current, first-person phrases count (the engine leaves third-party and past-only phrases off
    the person's own level)."""
    result = assessment.categories.get(SSH)
    out: dict[str, Reading] = {}
    if result is None or result.level == Level.NONE:
        return out
    for reason in result.reasons:
        if ":cssrs=" in reason:
            for q in _ENGINE_ITEMS.get(reason.rsplit("=", 1)[1], ()):
                out[q] = Reading.YES
    return out


def wants_inquiry(assessment: Assessment, *, lowest: Level = Level.LOW, highest: Level = Level.MODERATE) -> bool:
    """Whether the person's own suicide risk is in the band the inquiry serves: ideation is there, and nothing says
    acute danger (high and imminent get the crisis protocol, never questions). Policy sets the band."""
    return lowest <= assessment.level(SSH) <= highest


@dataclass(frozen=True, slots=True)
class Answer:
    question: str
    reading: Reading
    text: str
    """The person's words, for the clinician's view (sealed with the turn; never logged)."""
    retried: bool = False


@dataclass
class Inquiry:
    """One conversation's screener. ``known`` seeds answers the conversation already gave (:func:`known_from`)."""

    screener: ScreenerFile = field(default_factory=load_screener)
    reader: AnswerReader = field(default_factory=default_reader)
    known: dict[str, Reading] = field(default_factory=dict)
    answers: list[Answer] = field(default_factory=list)
    asked: str | None = None
    """The question awaiting an answer."""
    retrying: bool = False
    """The awaited answer is a second try after an unclear one."""
    stopped: str | None = None
    """Why the inquiry ended early: ``declined``, ``crisis`` (an imminent answer) or ``high`` (an answer reached the
    screener's high rung: the crisis protocol follows, not more questions)."""

    # ------------------------------------------------------------------ state
    def reading(self, question: str) -> Reading | None:
        for a in reversed(self.answers):
            if a.question == question:
                return a.reading
        return self.known.get(question)

    def _due(self, q: Question) -> bool:
        if self.reading(q.id) is not None:
            return False
        if q.if_no and self.reading(q.if_no) == Reading.NO:
            return False
        return not (q.only_if_yes and self.reading(q.only_if_yes) != Reading.YES)

    def next_question(self) -> Question | None:
        if self.stopped:
            return None
        return next((q for q in self.screener.questions if self._due(q)), None)

    @property
    def done(self) -> bool:
        return self.stopped is not None or (self.asked is None and self.next_question() is None)

    @property
    def questions_asked(self) -> int:
        return sum(1 + a.retried for a in self.answers) + (self.asked is not None)

    # ------------------------------------------------------------------ turns
    def ask(self) -> str | None:
        """The text of the next question (with the lead-in on the first), or None when the inquiry is over."""
        if self.asked is not None:
            return self.screener.retry if self.retrying else self._question(self.asked).ask
        q = self.next_question()
        if q is None:
            return None
        self.asked = q.id
        first = not self.answers
        return f"{self.screener.intro}\n\n{q.ask}" if first else q.ask

    def answer(self, text: str, assessment: Assessment | None = None) -> Reading:
        """Read the person's reply to the awaited question. An imminent reading of the reply stops the inquiry (the
        crisis protocol comes first); a decline stops it for good; an unclear reply is asked once more, then kept as
        unclear (which never counts as no)."""
        if self.asked is None:
            raise RuntimeError("no question is awaiting an answer")
        q = self.asked
        if assessment is not None and assessment.level(SSH) >= Level.IMMINENT:
            self.answers.append(Answer(q, Reading.YES, text, self.retrying))
            self.asked, self.retrying, self.stopped = None, False, "crisis"
            return Reading.YES
        reading = self.reader.yes_no(text, q, assessment)
        if reading == Reading.UNCLEAR and not self.retrying:
            self.retrying = True
            return reading
        self.answers.append(Answer(q, reading, text, self.retrying))
        self.asked, self.retrying = None, False
        if reading == Reading.DECLINED:
            self.stopped = "declined"
        elif self._triage() >= Level.HIGH:
            self.stopped = "high"  # the screener's high rung is reached: no more questions, the crisis protocol
        return reading

    def _question(self, qid: str) -> Question:
        return next(q for q in self.screener.questions if q.id == qid)

    # ------------------------------------------------------------------ triage
    def level(self) -> Level:
        """The screener's triage rung from the yes answers, raised to the not-yet-known rung while method, intent
        or plan stay unknown (declined, unclear or never asked) and thoughts are not ruled out; at least low, since
        the inquiry only runs once the conversation showed ideation."""
        level = self._triage()
        floor = self.screener.unknown_floor
        if self.reading(floor.unless_no) != Reading.NO and any(
            self.reading(q) in (None, Reading.DECLINED, Reading.UNCLEAR) for q in floor.questions
        ):
            level = max(level, floor.level)
        if self.stopped == "crisis":
            level = Level.IMMINENT
        return level

    def _triage(self) -> Level:
        yes = {q.id for q in self.screener.questions if self.reading(q.id) == Reading.YES}
        level = Level.LOW
        for rule in self.screener.triage:
            if set(rule.all) <= yes:
                level = max(level, rule.level)
        return level

    def summary(self) -> list[dict[str, Any]]:
        """Each answered question for the clinician: label, reading and the person's words."""
        return [
            {
                "question": a.question,
                "label": self._question(a.question).short,
                "reading": a.reading.value,
                "text": a.text,
            }
            for a in self.answers
        ]
