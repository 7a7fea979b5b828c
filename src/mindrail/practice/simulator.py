"""The simulated person: a state machine over a persona card. Trust moves with what the trainee does
(``data/dynamics.yaml``); disclosures come when the card's conditions hold; every line comes from the card's
banks, chosen in order with a seeded generator, so a scripted session is deterministic (same seed, same card,
same trainee turns: same transcript). A model backend may reword the line (``practice.voice``), but this machine
alone decides what is disclosed and when, so a weak model cannot derail the case."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import cache

from pydantic import Field

from mindrail.datafiles import StrictModel, load_model
from mindrail.practice.cards import Act, Disclosure, PersonaCard


class Dynamics(StrictModel):
    version: int
    gain: dict[Act, float]
    max_gain_per_turn: float = Field(gt=0, le=1)
    pace: dict[str, float]


@cache
def dynamics() -> Dynamics:
    return load_model(Dynamics, "data/dynamics.yaml", package="mindrail.practice")


# Which reaction a turn's acts draw, most telling first: a judgement is heard over the question that follows it.
REACTION_ORDER: tuple[Act, ...] = (
    Act.JUDGEMENT,
    Act.MINIMISING,
    Act.PROMISED_SECRECY,
    Act.ADVICE,
    Act.ASKED_SUICIDE,
    Act.ASKED_METHOD,
    Act.ASKED_PLAN,
    Act.ASKED_INTENT,
    Act.MEANS_SAFETY,
    Act.SAFETY_PLAN,
    Act.CRISIS_LINE,
    Act.QUESTION_CLOSED,
    Act.REFLECTION_COMPLEX,
    Act.REFLECTION_SIMPLE,
    Act.QUESTION_OPEN,
    Act.INFORMATION,
    Act.OTHER,
)
# After these the person goes on with their story (a talk line) unless they just opened up a step.
EVOKING = frozenset({Act.REFLECTION_COMPLEX, Act.REFLECTION_SIMPLE, Act.QUESTION_OPEN})


@dataclass(frozen=True, slots=True)
class PersonTurn:
    text: str
    turn: int
    """The person's turn number: 0 for the opening line."""
    source: str
    """Where the line came from: opening, disclosure:<id>, reaction:<act>, talk:<openness>, resolution."""
    openness: int
    disclosure: Disclosure | None = None
    ended: bool = False


@dataclass(slots=True)
class PersonState:
    trust: float
    turn: int = 0
    done: set[Act] = field(default_factory=set)
    disclosed: list[str] = field(default_factory=list)
    cursors: dict[str, int] = field(default_factory=dict)
    resolved: bool = False

    @property
    def openness(self) -> int:
        return max(0, min(4, int(self.trust)))


class Person:
    """One simulated person for one session."""

    def __init__(self, card: PersonaCard, seed: int = 0) -> None:
        self.card = card
        self.rng = random.Random(f"{seed}:{card.id}")
        self.state = PersonState(trust=float(card.start_openness))
        dyn = dynamics()
        self._gain = dyn.gain
        self._cap = dyn.max_gain_per_turn
        self._pace = min((dyn.pace.get(s, 1.0) for s in card.style), default=1.0)

    def open(self) -> PersonTurn:
        return PersonTurn(self.rng.choice(self.card.opening), 0, "opening", self.state.openness)

    def respond(self, acts: frozenset[Act], *, pending: bool = False) -> PersonTurn:
        """The person's reply to a trainee turn that did ``acts`` (its skill code plus any behaviours);
        ``pending``: a disclosure's moment is still open, so the case cannot resolve yet."""
        st = self.state
        st.turn += 1
        before = st.openness
        st.trust = self._moved(st.trust, acts)
        st.done |= acts
        res = self.card.resolution
        ready = set(res.requires) <= st.done and st.openness >= res.openness and st.turn >= res.min_turns
        if not st.resolved and ready and not pending:
            st.resolved = True
            return PersonTurn(self._pick("resolution", res.say), st.turn, "resolution", st.openness, ended=True)
        due = self._due()
        if due is not None:
            st.disclosed.append(due.id)
            text = self.rng.choice(due.say)
            return PersonTurn(text, st.turn, f"disclosure:{due.id}", st.openness, disclosure=due)
        opened = st.openness > before
        for act in REACTION_ORDER:
            if act in acts and act in self.card.reactions and (act not in EVOKING or opened):
                return PersonTurn(
                    self._pick(f"reaction:{act.value}", self.card.reactions[act]),
                    st.turn,
                    f"reaction:{act.value}",
                    st.openness,
                )
        level = st.openness
        return PersonTurn(self._pick(f"talk:{level}", self.card.talk[level]), st.turn, f"talk:{level}", level)

    def _moved(self, trust: float, acts: frozenset[Act]) -> float:
        delta = sum(self._gain.get(a, 0.0) for a in acts)
        if delta > 0:
            delta = min(delta * self._pace, self._cap)
        return max(0.0, min(4.99, trust + delta))

    def _due(self) -> Disclosure | None:
        st = self.state
        for d in self.card.disclosures:
            w = d.when
            if d.id in st.disclosed or st.openness < w.openness or st.turn < w.after_turn:
                continue
            if w.asked and not (set(w.asked) & st.done):
                continue
            if not set(w.after) <= set(st.disclosed):
                continue
            return d
        return None

    def _pick(self, bank: str, lines: tuple[str, ...]) -> str:
        """Lines in order, without repeating until the bank is used up (then from the start again)."""
        i = self.state.cursors.get(bank, 0)
        self.state.cursors[bank] = i + 1
        return lines[i % len(lines)]
