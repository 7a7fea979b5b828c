"""Scripted trainees, for tests, benchmarks and demonstrations: a good one that reflects twice for each question,
answers every open moment with what it expects and does the module's safety acts, taking its words from the good
reply bank; and a poor one that cycles through the poor bank's advice, closed questions, judgement, minimising
and secrecy. Both are deterministic."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from mindrail.practice.cards import Act
from mindrail.practice.feedback import MISSTEPS
from mindrail.practice.replies import poor_replies
from mindrail.practice.report import module_file
from mindrail.practice.session import PracticeSession


class Trainee(Protocol):
    def reply(self, session: PracticeSession) -> str: ...


SAFETY_ORDER = (
    Act.ASKED_SUICIDE, Act.ASKED_METHOD, Act.ASKED_INTENT, Act.ASKED_PLAN, Act.SAFETY_PLAN, Act.MEANS_SAFETY,
    Act.CRISIS_LINE,
)  # fmt: skip


class GoodTrainee:
    """Reflects more than it asks (two reflections to each question: MITI "good"), asks directly about suicide
    once the person has opened a little, follows a disclosure with what its moment expects, and works through the
    module's required acts."""

    def __init__(self) -> None:
        self._used: set[str] = set()

    def _needed(self, session: PracticeSession, done: set[Act]) -> list[Act]:
        card = session.card
        need: list[Act] = []
        for m in session.record.book.open:
            assert m.disclosure.moment is not None
            expect = m.disclosure.moment.expect
            if Act.REFLECTION_COMPLEX in expect:  # a reflection answers the moment and keeps the ratio
                return [Act.REFLECTION_COMPLEX]
            return [a for a in expect if a not in done] or list(expect)
        if card.risk.cssrs.value != "none":
            for c in module_file().modules[card.module].checks:
                if c.act is not None and c.act not in done:
                    need.append(c.act)
                if c.any_of and not set(c.any_of) & done:
                    need.append(c.any_of[0])
            need += [a for a in card.resolution.requires if a not in done]
        return [a for a in SAFETY_ORDER if a in need] + [a for a in need if a not in SAFETY_ORDER]

    def reply(self, session: PracticeSession) -> str:
        done: set[Act] = set()
        r = q = 0
        for f in session.record.feedback:
            done |= f.acts
            r += f.code.is_reflection
            q += f.code.is_question
        openness = session.person.state.openness
        turn = session.trainee_turns + 1
        needed = self._needed(session, done)
        last_chance = any(m.deadline <= turn for m in session.record.book.open)
        if session.record.book.open and needed and (last_chance or r >= 2 * (q + 1)):
            act = needed[0]
        elif session.record.book.open:
            act = Act.REFLECTION_COMPLEX  # the window has room: reflect first, keep the ratio, ask next turn
        elif needed and turn >= 3 and r >= 2 * (q + 1):
            act = needed[0]
        elif r >= 2 * (q + 1) + 1:
            act = Act.QUESTION_OPEN
        else:
            act = Act.REFLECTION_COMPLEX
        said = session.last_person_text()
        s = session.bank.suggest(act, said, openness=openness, module=session.card.module,
                                 exclude=frozenset(self._used), fill=session.fill)  # fmt: skip
        if s is None:
            s = session.bank.suggest(Act.REFLECTION_COMPLEX, said, openness=openness, exclude=frozenset(self._used))
        assert s is not None
        self._used.add(s.reply.id)
        return s.reply.text


class PoorTrainee:
    """The mistakes new helpers make, in turn: advice, a closed question, judgement, minimising, a promise of
    secrecy, small talk."""

    ORDER = (Act.ADVICE, Act.QUESTION_CLOSED, Act.MINIMISING, Act.ADVICE, Act.JUDGEMENT, Act.QUESTION_CLOSED,
             Act.PROMISED_SECRECY, Act.OTHER)  # fmt: skip

    def __init__(self) -> None:
        bank = poor_replies()
        self._lines = {a: [p.text for p in bank if p.act == a] for a in self.ORDER}
        self._turns: Iterator[int] = iter(range(10**6))

    def reply(self, session: PracticeSession) -> str:
        i = next(self._turns)
        act = self.ORDER[i % len(self.ORDER)]
        lines = self._lines[act]
        return lines[(i // len(self.ORDER)) % len(lines)]


def play(session: PracticeSession, trainee: Trainee) -> PracticeSession:
    """Run a session to its end (resolution or the card's turn limit)."""
    if not session.record.entries:
        session.start()
    while not session.ended:
        session.step(trainee.reply(session))
    return session


__all__ = ["MISSTEPS", "GoodTrainee", "PoorTrainee", "Trainee", "play"]
