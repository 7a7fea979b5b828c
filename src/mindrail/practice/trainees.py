"""Scripted trainees, for tests, benchmarks and demonstrations: a good one that reflects twice for each question,
answers every open moment with what it expects and does the module's safety acts, taking its words from the good
reply bank; and a poor one that cycles through the poor bank's advice, closed questions, judgement, minimising
and secrecy. Both are deterministic."""

from __future__ import annotations

from typing import Protocol

from mindrail.practice.cards import SAFETY_ACTS, Act
from mindrail.practice.replies import poor_replies
from mindrail.practice.report import module_file
from mindrail.practice.session import PracticeSession


class Trainee(Protocol):
    def reply(self, session: PracticeSession) -> str: ...


SAFETY_ORDER = SAFETY_ACTS


class GoodTrainee:
    """Reflects more than it asks (two reflections to each question, with room kept for a question a moment may
    force: MITI "good"), says only bank replies that the coder and the patterns read as the skill it means (so
    sessions test the simulator and the scoring; the coder's own accuracy is measured on held-out data), asks
    directly about suicide
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
            last_chance = m.deadline <= session.trainee_turns + 1
            if Act.REFLECTION_COMPLEX in expect and not last_chance:  # answers the moment and keeps the ratio
                return [Act.REFLECTION_COMPLEX]
            # last chance: an act the patterns read plainly, in case a reflection was coded as something else
            ranked = sorted(expect, key=lambda a: a in (Act.REFLECTION_COMPLEX, Act.QUESTION_OPEN))
            return [a for a in ranked if a not in done] or ranked
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
        if session.record.book.open:
            # reflect first while the window has room (keeps the ratio), then do what the moment expects
            ask = bool(needed) and (last_chance or r >= 2 * (q + 1))
        else:
            # a module's safety acts, once there are reflections enough to keep 2:1 after a forced question too
            ask = bool(needed) and turn >= 3 and r >= 2 * (q + 2)
        if ask:
            wants = [*needed, Act.REFLECTION_COMPLEX]
        elif not needed and r >= 2 * (q + 1) + 1:
            wants = [Act.QUESTION_OPEN, Act.REFLECTION_COMPLEX]
        else:
            wants = [Act.REFLECTION_COMPLEX]
        said = session.last_person_text()
        for want in wants:
            for s in session.bank.ranked(
                want, said, openness=openness, module=session.card.module, exclude=frozenset(self._used)
            ):
                text = session.fill(s.reply.text)
                vector = session.coder.embed([text])
                shown = session.reader.read(text, vector[0], context=said, risk=session.risk_discussed)
                shown |= {session.coder.code_vectors(vector)[0].act}
                if want in shown:
                    self._used.add(s.reply.id)
                    return text
        raise RuntimeError(f"no bank reply reads as {wants[0].value}")


class PoorTrainee:
    """The mistakes new helpers make, in turn: advice, a closed question, judgement, minimising, a promise of
    secrecy, small talk."""

    ORDER = (
        Act.ADVICE,
        Act.QUESTION_CLOSED,
        Act.MINIMISING,
        Act.ADVICE,
        Act.JUDGEMENT,
        Act.QUESTION_CLOSED,
        Act.PROMISED_SECRECY,
        Act.OTHER,
    )

    def __init__(self) -> None:
        bank = poor_replies()
        self._lines = {a: [p.text for p in bank if p.act == a] for a in self.ORDER}
        self._turns = 0

    def reply(self, session: PracticeSession) -> str:
        i = self._turns
        self._turns += 1
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


__all__ = ["GoodTrainee", "PoorTrainee", "Trainee", "play"]
