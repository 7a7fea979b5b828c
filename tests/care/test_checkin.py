"""Check-ins taken in conversation, one item per turn."""

from __future__ import annotations

import pytest

from mindrail.care.checkin import CheckIn


def test_conversational_phq9_scores_like_the_form() -> None:
    replies = ["not at all", "a few days", "most nights", "every day", "nope", "sometimes", "2", "no", "never"]
    c = CheckIn.start("phq9")
    assert "question 1 of 9" in (c.prompt() or "")
    for r in replies:
        c.answer(r)
    score = c.score()
    assert score is not None and score.total == 0 + 1 + 2 + 3 + 0 + 1 + 2 + 0 + 0
    assert score.total == CheckIn.from_values("phq9", [0, 1, 2, 3, 0, 1, 2, 0, 0]).score().total  # type: ignore[union-attr]


def test_unclear_answer_is_asked_again_with_the_options() -> None:
    c = CheckIn.start("gad7")
    assert c.answer("about half the time") is None
    assert "several days" in (c.prompt() or "") and c.current == 1
    assert c.answer("more than half then") == 2
    assert c.current == 2


def test_second_unclear_answer_leaves_the_item_unanswered_and_no_total() -> None:
    c = CheckIn.start("gad7")
    c.answer("depends")
    c.answer("hard to say")
    for _ in range(6):
        c.answer("not at all")
    assert c.done and c.values[0] is None and c.score() is None


def test_item9_is_a_safety_event_as_soon_as_it_is_answered() -> None:
    c = CheckIn.start("phq9")
    for _ in range(8):
        c.answer("not at all")
    assert not c.safety_event
    c.answer("a couple of days")
    assert c.safety_event


def test_form_values_are_checked() -> None:
    with pytest.raises(ValueError, match="item 9"):
        CheckIn.from_values("phq9", [0] * 8 + [5])


def test_item9_is_scored_0_only_from_a_plain_not_at_all() -> None:
    c = CheckIn.start("phq9")
    for _ in range(8):
        c.answer("not at all")
    assert c.answer("i'm fine, nothing like that, i've just been busy") is None  # asked again with the options
    assert c.asking_again and c.current == 9
    assert c.answer("not at all") == 0
    plain = CheckIn.start("phq9")
    for _ in range(8):
        plain.answer("not at all")
    assert plain.answer("nope") == 0
