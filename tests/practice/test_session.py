"""Whole sessions with scripted trainees, through the shipped coder: every card is reachable end to end, the good
trainee rates good and the poor one below fair, sessions are deterministic, and every turn gets feedback."""

from __future__ import annotations

import pytest

from mindrail.practice.cards import Act, card, cards
from mindrail.practice.coder import default_coder
from mindrail.practice.report import report
from mindrail.practice.session import PracticeSession
from mindrail.practice.trainees import GoodTrainee, PoorTrainee, play

IDS = [c.id for c in cards()]


@pytest.mark.parametrize("card_id", IDS)
def test_good_trainee_reaches_the_end_and_rates_good(card_id: str) -> None:
    c = card(card_id)
    s = play(PracticeSession(c, default_coder(), seed=1), GoodTrainee())
    assert s.record.resolved
    assert report(c, s.record).rating == "good"


@pytest.mark.parametrize("card_id", IDS)
def test_poor_trainee_rates_below_fair(card_id: str) -> None:
    c = card(card_id)
    s = play(PracticeSession(c, default_coder(), seed=1), PoorTrainee())
    assert s.ended
    assert not s.record.resolved
    assert report(c, s.record).rating == "below fair"


def test_same_seed_same_transcript() -> None:
    def transcript() -> list[dict[str, object]]:
        s = play(PracticeSession(card("tasha_marine_veteran"), default_coder(), seed=7), GoodTrainee())
        return [{k: v for k, v in e.to_dict().items()} for e in s.record.entries]

    assert transcript() == transcript()


def test_every_turn_gets_feedback_with_an_alternative() -> None:
    s = PracticeSession(card("dre_army_separated"), default_coder())
    s.start()
    fb, reply = s.step("You should just get a job, man.")
    assert fb.code.act in (Act.ADVICE, Act.INFORMATION, Act.OTHER, Act.REFLECTION_SIMPLE, Act.REFLECTION_COMPLEX)
    assert fb.alternative is not None and fb.alternative.why
    assert "{" not in fb.alternative.text
    assert reply.text


def test_a_missed_moment_is_named() -> None:
    c = card("ray_national_guard")
    s = PracticeSession(c, default_coder())
    s.start()
    for _ in range(6):
        s.step("It sounds like you've been carrying all of this on your own for a long time.")
    s.step("Are you thinking about killing yourself?")
    assert any(e.source == "disclosure:active_thoughts" for e in s.record.entries)
    s.step("Okay. What did you have for dinner?")
    s.step("Right. What's the weather like there?")
    rec = s.finish()
    missed = [m for m in rec.book.settled if not m.caught and m.disclosure == "active_thoughts"]
    assert missed and "plan" in missed[0].note


def test_a_crisis_line_suggestion_is_filled_from_the_vetted_resources() -> None:
    s = PracticeSession(card("sam_night_nurse_overdose"), default_coder(), locale="GB")
    s.start()
    texts = []
    for _ in range(4):
        fb, _ = s.step("I'm here with you.")
        texts.append(fb.alternative.text if fb.alternative else "")
    assert all("{crisis_line}" not in t for t in texts)


def test_empty_turn_and_turns_after_the_end_are_refused() -> None:
    s = PracticeSession(card("jordan_student_exams"), default_coder())
    s.start()
    with pytest.raises(ValueError, match="empty"):
        s.step("   ")
    s.finish()
    with pytest.raises(RuntimeError, match="ended"):
        s.step("hello")
