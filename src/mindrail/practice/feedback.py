"""Feedback on every trainee turn: the turn's MI code and safety behaviours, missed moments named, and a better
reply with why. The CARE trial found that practice with feedback improved skills and practice without it made
empathy worse, so feedback is the product and is on unless the trainee turns it off."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from mindrail.datafiles import StrictModel, load_model
from mindrail.practice.cards import MISSTEP_ACTS, SAFETY_ACTS, Act, Disclosure
from mindrail.practice.coder import SkillCode


class FeedbackText(StrictModel):
    version: int
    acts: dict[Act, str]
    better: str


@cache
def feedback_text() -> FeedbackText:
    return load_model(FeedbackText, "data/feedback.yaml", package="mindrail.practice")


MISSTEPS = frozenset({Act.ADVICE, *MISSTEP_ACTS})
SAFETY = SAFETY_ACTS


@dataclass(slots=True)
class OpenMoment:
    """A disclosure that calls for something from the trainee within a few turns."""

    disclosure: Disclosure
    opened_at: int
    """The trainee turn after which it was disclosed (its window is the next ``within`` trainee turns)."""

    @property
    def deadline(self) -> int:
        assert self.disclosure.moment is not None
        return self.opened_at + self.disclosure.moment.within


@dataclass(frozen=True, slots=True)
class MomentResult:
    disclosure: str
    kind: str
    caught: bool
    note: str
    turn: int


@dataclass(frozen=True, slots=True)
class Alternative:
    text: str
    act: Act
    why: str
    source: str
    """"bank:<id>" or "model"."""

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "act": self.act.value, "why": self.why, "source": self.source}


@dataclass(frozen=True, slots=True)
class TurnFeedback:
    turn: int
    code: SkillCode
    behaviours: frozenset[Act]
    notes: tuple[str, ...]
    moments: tuple[MomentResult, ...] = ()
    alternative: Alternative | None = None
    openness_before: int = 0
    openness_after: int = 0

    @property
    def acts(self) -> frozenset[Act]:
        return self.behaviours | {self.code.act}

    @property
    def missed(self) -> tuple[MomentResult, ...]:
        return tuple(m for m in self.moments if not m.caught)

    def to_dict(self) -> dict[str, Any]:
        return {
            "turn": self.turn,
            "code": self.code.act.value,
            "main": self.code.main,
            "behaviours": sorted(b.value for b in self.behaviours),
            "notes": list(self.notes),
            "moments": [
                {"disclosure": m.disclosure, "kind": m.kind, "caught": m.caught, "note": m.note, "turn": m.turn}
                for m in self.moments
            ],
            "alternative": self.alternative.to_dict() if self.alternative else None,
            "openness_before": self.openness_before,
            "openness_after": self.openness_after,
        }


def notes_for(acts: Iterable[Act]) -> tuple[str, ...]:
    """What the trainee is told about the acts of a turn: safety acts first, then missteps, then the skill."""
    text = feedback_text().acts
    chosen = set(acts)
    order = [*SAFETY, Act.PROMISED_SECRECY, Act.JUDGEMENT, Act.MINIMISING, Act.ADVICE]
    order += [a for a in Act if a not in order]
    return tuple(text[a] for a in order if a in chosen and text.get(a))


def target_act(acts: frozenset[Act], code: SkillCode, open_moments: list[OpenMoment], done: set[Act]) -> Act:
    """The skill the better reply should show: what an open moment expects (first one not yet done), else the
    MI skill one step up from what the trainee did."""
    for m in open_moments:
        mo = m.disclosure.moment
        assert mo is not None
        if not set(mo.expect) & acts:
            pending = [a for a in mo.expect if a not in done] or list(mo.expect)
            return pending[0]
    if acts & MISSTEPS or code.act in (Act.QUESTION_CLOSED, Act.OTHER, Act.INFORMATION, Act.REFLECTION_SIMPLE):
        return Act.REFLECTION_COMPLEX
    if code.act == Act.REFLECTION_COMPLEX:
        return Act.QUESTION_OPEN
    return Act.REFLECTION_COMPLEX


@dataclass(slots=True)
class MomentBook:
    """The open moments of a session and everything settled so far."""

    open: list[OpenMoment] = field(default_factory=list)
    settled: list[MomentResult] = field(default_factory=list)

    def add(self, disclosure: Disclosure | None, turn: int) -> None:
        if disclosure is not None and disclosure.moment is not None:
            self.open.append(OpenMoment(disclosure, turn))

    def settle(self, acts: frozenset[Act], turn: int, *, final: bool = False) -> list[MomentResult]:
        """Moments the trainee's ``turn`` caught, and moments whose window ended without the expected act (missed;
        at the end of a session every open moment is missed); the rest stay open."""
        still: list[OpenMoment] = []
        now: list[MomentResult] = []
        for m in self.open:
            mo = m.disclosure.moment
            assert mo is not None
            if set(mo.expect) & acts:
                now.append(MomentResult(m.disclosure.id, m.disclosure.kind, True, mo.note, turn))
            elif final or turn >= m.deadline:
                now.append(MomentResult(m.disclosure.id, m.disclosure.kind, False, mo.note, turn))
            else:
                still.append(m)
        self.open = still
        self.settled.extend(now)
        return now
