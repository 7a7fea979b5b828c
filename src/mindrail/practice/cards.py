"""Persona cards (``practice/data/personas/*.yaml``): who the simulated person is, what they will disclose and
when, and how their openness moves with the trainee's behaviour. Cards are data with a schema, so a trainer can
write a new case without code, and errors name the file, line and field."""

from __future__ import annotations

from enum import StrEnum
from functools import cache
from importlib import resources
from pathlib import Path

from pydantic import Field, model_validator

from mindrail.datafiles import StrictModel, load_model


class Module(StrEnum):
    """The four HomeTeam modules (peer-support training for veterans), in teaching order."""

    COMMUNICATING_SUPPORT = "communicating_support"
    TALKING_ABOUT_SUICIDE = "talking_about_suicide"
    ESTABLISHING_SAFETY = "establishing_safety"
    CONNECTING_TO_RESOURCES = "connecting_to_resources"


class Act(StrEnum):
    """What a trainee utterance does, as the simulator and the feedback see it: one MI skill code (from the
    coder) plus any safety behaviours and missteps (from ``behaviours.yaml``)."""

    REFLECTION_SIMPLE = "reflection_simple"
    REFLECTION_COMPLEX = "reflection_complex"
    QUESTION_OPEN = "question_open"
    QUESTION_CLOSED = "question_closed"
    INFORMATION = "information"
    ADVICE = "advice"
    OTHER = "other"
    ASKED_SUICIDE = "asked_suicide"
    ASKED_METHOD = "asked_method"
    ASKED_INTENT = "asked_intent"
    ASKED_PLAN = "asked_plan"
    SAFETY_PLAN = "safety_plan"
    MEANS_SAFETY = "means_safety"
    CRISIS_LINE = "crisis_line"
    PROMISED_SECRECY = "promised_secrecy"
    JUDGEMENT = "judgement"
    MINIMISING = "minimising"


SAFETY_ACTS: tuple[Act, ...] = (
    Act.ASKED_SUICIDE,
    Act.ASKED_METHOD,
    Act.ASKED_INTENT,
    Act.ASKED_PLAN,
    Act.SAFETY_PLAN,
    Act.MEANS_SAFETY,
    Act.CRISIS_LINE,
)
"""The safety behaviours, in the order a helper usually does them (ask, then method/intent/plan, then safety)."""
MISSTEP_ACTS: tuple[Act, ...] = (Act.PROMISED_SECRECY, Act.JUDGEMENT, Act.MINIMISING)


class Cssrs(StrEnum):
    """The highest C-SSRS screener rung the person reaches if the trainee asks (docs/risk-model.md)."""

    NONE = "none"
    WISH_DEAD = "wish_dead"
    ACTIVE_THOUGHTS = "active_thoughts"
    METHOD = "method"
    INTENT = "intent"
    PLAN = "plan"
    PREPARATORY = "preparatory"
    ACT_UNDER_WAY = "act_under_way"


STYLES = (
    "guarded",
    "verbose",
    "tangential",
    "hostile",
    "minimising",
    "plain",
    # Patient-Psi's conversational styles (Wang et al., EMNLP 2024)
    "upset",
    "reserved",
    "pleasing",
    "going_off_on_tangents",
)


class When(StrictModel):
    """When a disclosure comes: all of these must hold on the trainee's turn before it."""

    openness: int = Field(default=0, ge=0, le=4)
    """At least this openness (0 closed … 4 trusting)."""
    after_turn: int = Field(default=1, ge=1)
    """Not before the person's turn number (their first reply to the trainee is turn 1)."""
    asked: tuple[Act, ...] = ()
    """The trainee must have done one of these acts at some point (e.g. asked about method)."""
    after: tuple[str, ...] = ()
    """Disclosures (ids) that must already have come."""


class Moment(StrictModel):
    """What a good helper does after this disclosure, and what the feedback says when it does not happen."""

    expect: tuple[Act, ...] = Field(min_length=1)
    """Any one of these acts counts."""
    within: int = Field(default=2, ge=1, le=6)
    """Trainee turns after the disclosure."""
    note: str = Field(min_length=10)
    """Named to the trainee when missed: "they mentioned not wanting to wake up; this was a moment to ask
    directly"."""


class Disclosure(StrictModel):
    id: str = Field(pattern=r"^[a-z0-9_]+$")
    kind: str = Field(pattern=r"^[a-z0-9_]+$")
    """What it is: passive_ideation, method, plan, means, third_party_worry, trigger, strength, ..."""
    when: When = When()
    say: tuple[str, ...] = Field(min_length=1)
    """Ways the person says it (one is chosen, seeded)."""
    moment: Moment | None = None


class Risk(StrictModel):
    level: str = Field(pattern=r"^(none|low|moderate|high|imminent)$")
    cssrs: Cssrs
    subject: str = Field(default="self", pattern=r"^(self|someone_else)$")
    """someone_else: the person is worried about someone else (a third-party worry)."""


class Resolution(StrictModel):
    """How the case can end well: these acts done and openness reached; the person then says one of ``say``."""

    requires: tuple[Act, ...] = ()
    openness: int = Field(default=3, ge=0, le=4)
    min_turns: int = Field(default=10, ge=1)
    """Not before this turn of the person's, and not while a disclosure's moment is still open: people do not
    resolve on cue (simulated patients that did were the main fault a published simulator benchmark found)."""
    say: tuple[str, ...] = Field(min_length=1)


class PersonaCard(StrictModel):
    id: str = Field(pattern=r"^[a-z0-9_]+$")
    name: str
    module: Module
    summary: str = Field(min_length=10, max_length=200)
    background: str = Field(min_length=40)
    presenting_problem: str = Field(min_length=20)
    risk: Risk
    style: tuple[str, ...] = Field(min_length=1)
    start_openness: int = Field(default=1, ge=0, le=4)
    opening: tuple[str, ...] = Field(min_length=1)
    talk: dict[int, tuple[str, ...]]
    """What the person says when nothing else is due, by openness 0-4 (every level 0-4 must be present)."""
    reactions: dict[Act, tuple[str, ...]] = Field(default_factory=dict)
    disclosures: tuple[Disclosure, ...] = ()
    resolution: Resolution
    max_turns: int = Field(default=20, ge=4, le=60)
    written_by: str
    """Who wrote the card (kept so that evaluation material and cards never share a writer unawares)."""

    @model_validator(mode="after")
    def _consistent(self) -> PersonaCard:
        bad = [s for s in self.style if s not in STYLES]
        if bad:
            raise ValueError(f"style: unknown {bad}; known: {', '.join(STYLES)}")
        missing = sorted({0, 1, 2, 3, 4} - set(self.talk))
        if missing:
            raise ValueError(f"talk: openness levels {missing} have no lines")
        ids = [d.id for d in self.disclosures]
        if len(set(ids)) != len(ids):
            raise ValueError("disclosures: ids must be unique")
        for d in self.disclosures:
            unknown = [a for a in d.when.after if a not in ids]
            if unknown:
                raise ValueError(f"disclosures[{d.id}].when.after: unknown disclosure {unknown}")
        return self


def personas_dir() -> Path:
    return Path(str(resources.files("mindrail.practice").joinpath("data/personas")))


def load_card(path: Path) -> PersonaCard:
    return load_model(PersonaCard, path)


@cache
def cards(directory: Path | None = None) -> tuple[PersonaCard, ...]:
    """Every card in ``directory`` (default: the shipped ones), sorted by module then id; ids must be unique."""
    folder = directory or personas_dir()
    loaded = [load_card(p) for p in sorted(folder.glob("*.yaml"))]
    seen: dict[str, int] = {}
    for c in loaded:
        seen[c.id] = seen.get(c.id, 0) + 1
    dup = [k for k, n in seen.items() if n > 1]
    if dup:
        raise ValueError(f"{folder}: duplicate card ids {dup}")
    order = list(Module)
    return tuple(sorted(loaded, key=lambda c: (order.index(c.module), c.id)))


def card(card_id: str) -> PersonaCard:
    for c in cards():
        if c.id == card_id:
            return c
    raise KeyError(f"unknown persona card {card_id!r}; see `mindrail practice list`")
