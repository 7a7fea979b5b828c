"""The free-text answer readers, on answers written for these tests (not taken from the evaluation sets)."""

from __future__ import annotations

import pytest

from mindrail.care.answers import Reading, default_reader

READER = default_reader()


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Nearly every day", 3),
        ("2", 2),
        ("pretty much daily tbh", 3),
        ("i'm awake at 4am every nite", 3),
        ("most days i'd say", 2),
        ("like 10 out of 14", 2),
        ("maybe 3 days", 1),
        ("3 days", 1),
        ("2 nights", 1),
        ("3 lol", 3),
        ("2 - more than half", 2),
        ("twice a week or so", 1),
        ("a couple of rough days", 1),
        ("nope, not at all", 0),
        ("honestly I sleep fine", 0),
        ("every day at first but only a few days lately", 1),
    ],
)
def test_frequency_answers(text: str, value: int) -> None:
    assert READER.frequency(text).value == value


@pytest.mark.parametrize(
    "text", ["about half the time", "it comes and goes", "hmm", "idk", "7 days", "sometimes, half the time maybe?", ""]
)
def test_unclear_frequency_is_never_a_score(text: str) -> None:
    assert READER.frequency(text).value is None


@pytest.mark.parametrize(
    ("text", "reading"),
    [
        ("yeah", Reading.YES),
        ("i have, more than once", Reading.YES),
        ("yeah i guess", Reading.YES),
        ("nah never", Reading.NO),
        ("no i wouldn't", Reading.NO),
        ("i'd rather not say", Reading.DECLINED),
        ("can we talk about something else", Reading.DECLINED),
        ("pls stop asking", Reading.DECLINED),
        ("skip", Reading.DECLINED),
        ("i don't know", Reading.UNCLEAR),
        ("sort of maybe", Reading.UNCLEAR),
        ("yes, though i'd never have put it like that", Reading.UNCLEAR),
        ("what do you mean?", Reading.UNCLEAR),
    ],
)
def test_yes_no_answers(text: str, reading: Reading) -> None:
    assert READER.yes_no(text) == reading


def test_pass_inside_a_sentence_is_not_a_decline() -> None:
    assert READER.yes_no("yes, the bridge i walk past every time i pass the station") == Reading.YES


@pytest.mark.parametrize(
    ("text", "reading"),
    [("about a month ago", Reading.YES), ("last week", Reading.YES), ("years ago, when i was 16", Reading.NO)],
)
def test_recent_behaviour_answers(text: str, reading: Reading) -> None:
    assert READER.yes_no(text, "recent") == reading


def test_the_engine_reading_of_an_answer_counts_as_yes(engine) -> None:  # type: ignore[no-untyped-def]
    state = engine.new_conversation()
    a = state.add_user("i've been looking up how many of my pills would be a lethal dose")
    assert READER.yes_no("i've been looking up how many of my pills would be a lethal dose", "method", a) == Reading.YES
