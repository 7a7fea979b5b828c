"""One practice session: a simulated person from a card, a trainee's turns, feedback on each, and the record the
report is made from. Data flows one way through a trainee turn: code it (MI coder + behaviour patterns) → settle
the moments it caught or missed → choose a better reply → the person answers (state machine) → record."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

from mindrail.practice.behaviours import BehaviourReader, default_reader
from mindrail.practice.cards import Act, PersonaCard
from mindrail.practice.coder import SkillCoder
from mindrail.practice.feedback import Alternative, MomentBook, TurnFeedback, feedback_text, notes_for, target_act
from mindrail.practice.model import ModelDrafter, ModelVoice
from mindrail.practice.replies import ReplyBank
from mindrail.practice.simulator import Person, PersonTurn


def crisis_line_text(locale: str | None) -> str:
    """The first vetted service of the trainee's region (``policy/data/resources.yaml``): what ``{crisis_line}``
    in a bank reply becomes, so no number is ever written into the bank."""
    from mindrail.policy.resources import default_resources

    _, loc = default_resources().for_locale(locale)
    return loc.services[0].contact_line() if loc.services else f"emergency services ({loc.emergency.number})"


@cache
def bank_for(coder: SkillCoder) -> ReplyBank:
    """One reply bank per coder, so the bank's situations are embedded once per process, not once per session."""
    return ReplyBank(coder.embed)


@dataclass(slots=True)
class Entry:
    role: str
    """"person" or "trainee"."""
    text: str
    turn: int
    source: str = ""
    openness: int | None = None
    feedback: TurnFeedback | None = None
    scripted: str | None = None
    """The state machine's line when a model reworded it (``text`` is what the trainee saw)."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": self.role, "text": self.text, "turn": self.turn}
        if self.role == "person":
            out |= {"source": self.source, "openness": self.openness}
            if self.scripted is not None:
                out["scripted"] = self.scripted
        if self.feedback is not None:
            out["feedback"] = self.feedback.to_dict()
        return out


@dataclass(slots=True)
class SessionRecord:
    card_id: str
    seed: int
    feedback_on: bool
    started: dt.datetime
    entries: list[Entry] = field(default_factory=list)
    finished: dt.datetime | None = None
    resolved: bool = False
    book: MomentBook = field(default_factory=MomentBook)

    @property
    def feedback(self) -> list[TurnFeedback]:
        return [e.feedback for e in self.entries if e.feedback is not None]


class PracticeSession:
    """Drives one session. ``feedback=False`` still codes every turn (the report needs it) but shows nothing per
    turn; the default is on (CARE: practice without feedback made empathy worse)."""

    def __init__(
        self,
        card: PersonaCard,
        coder: SkillCoder,
        *,
        bank: ReplyBank | None = None,
        reader: BehaviourReader | None = None,
        seed: int = 0,
        feedback: bool = True,
        locale: str | None = "US",
        voice: ModelVoice | None = None,
        drafter: ModelDrafter | None = None,
    ) -> None:
        self.card = card
        self.coder = coder
        self.reader = reader or default_reader()
        self.bank = bank or bank_for(coder)
        self.person = Person(card, seed)
        self.crisis_line = crisis_line_text(locale)
        self.voice = voice
        self.drafter = drafter
        self.record = SessionRecord(card.id, seed, feedback, dt.datetime.now(dt.UTC))
        self._offered: set[str] = set()

    @property
    def ended(self) -> bool:
        return self.record.finished is not None

    @property
    def trainee_turns(self) -> int:
        return sum(1 for e in self.record.entries if e.role == "trainee")

    def start(self) -> PersonTurn:
        if self.record.entries:
            raise RuntimeError("session already started")
        opening = self.person.open()
        self.record.entries.append(Entry("person", opening.text, 0, opening.source, opening.openness))
        return opening

    @property
    def risk_discussed(self) -> bool:
        """Whether suicide has come up: the trainee asked about it, or the person disclosed something."""
        return any(Act.ASKED_SUICIDE in f.acts for f in self.record.feedback) or any(
            e.source.startswith("disclosure:") for e in self.record.entries if e.role == "person"
        )

    def last_person_text(self) -> str:
        return next((e.text for e in reversed(self.record.entries) if e.role == "person"), "")

    def step(self, text: str) -> tuple[TurnFeedback, PersonTurn]:
        """One trainee turn and the person's answer. Feedback is computed either way; whether it is shown is the
        caller's (``record.feedback_on``)."""
        if self.ended:
            raise RuntimeError("session has ended")
        if not self.record.entries:
            self.start()
        if not text.strip():
            raise ValueError("empty trainee turn")
        turn = self.trainee_turns + 1
        said = self.last_person_text()
        vector = self.coder.embed([text])
        code = self.coder.code_vectors(vector)[0]
        behaviours = self.reader.read(text, vector[0], context=said, risk=self.risk_discussed)
        acts = behaviours | {code.act}
        before = self.person.state.openness
        target = target_act(acts, code, self.record.book.open, self.person.state.done | set(acts))
        moments = self.record.book.settle(acts, turn)
        alternative = self._alternative(target, said, before)
        reply = self.person.respond(acts, pending=bool(self.record.book.open))
        fb = TurnFeedback(
            turn, code, behaviours, notes_for(acts), tuple(moments), alternative, before, self.person.state.openness
        )
        self.record.entries.append(Entry("trainee", text, turn, feedback=fb))
        self.record.entries.append(Entry("person", reply.text, reply.turn, reply.source, reply.openness))
        self.record.book.add(reply.disclosure, turn)
        if reply.ended or turn >= self.card.max_turns:
            self.finish(resolved=reply.ended)
        return fb, reply

    def fill(self, text: str) -> str:
        return text.replace("{crisis_line}", self.crisis_line)

    async def astep(self, text: str) -> tuple[TurnFeedback, PersonTurn]:
        """``step``, then the model (when configured) rewords the person's line and may draft the alternative;
        either falls back to the authored text."""
        said = self.last_person_text()
        fb, reply = self.step(text)
        person, trainee = self.record.entries[-1], self.record.entries[-2]
        if self.voice is not None:
            spoken = await self.voice.say(self.card, reply.text, text)
            if spoken != reply.text:
                person.scripted, person.text = reply.text, spoken
        if self.drafter is not None and fb.alternative is not None:
            drafted = await self.drafter.draft(fb.alternative.act, said, self.crisis_line)
            if drafted is not None:
                fb = replace(fb, alternative=replace(fb.alternative, text=drafted, source="model"))
                trainee.feedback = fb
        return fb, reply

    def _alternative(self, act: Act, said: str, openness: int) -> Alternative | None:
        ranked = self.bank.ranked(
            act, said, openness=openness, module=self.card.module, exclude=frozenset(self._offered)
        )
        if not ranked:
            return None
        best = ranked[0].reply
        self._offered.add(best.id)
        return Alternative(
            self.fill(best.text), best.act, feedback_text().better.format(why=best.why), f"bank:{best.id}"
        )

    def finish(self, *, resolved: bool = False) -> SessionRecord:
        """End the session: every moment still open is missed."""
        if self.record.finished is None:
            self.record.book.settle(frozenset(), self.trainee_turns, final=True)
            self.record.finished = dt.datetime.now(dt.UTC)
            self.record.resolved = resolved
        return self.record


def replay(
    card: PersonaCard,
    coder: SkillCoder,
    turns: list[str],
    *,
    seed: int = 0,
    feedback: bool = True,
    started: dt.datetime | None = None,
    locale: str | None = "US",
) -> PracticeSession:
    """A session rebuilt from its card, seed and the trainee's turns: the state machine is deterministic, so a
    web request on any instance can continue a session from what the store keeps."""
    session = PracticeSession(card, coder, seed=seed, feedback=feedback, locale=locale)
    if started is not None:
        session.record.started = started
    session.start()
    for text in turns:
        if session.ended:
            break
        session.step(text)
    return session
