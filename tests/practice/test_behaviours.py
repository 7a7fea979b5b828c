"""Safety behaviours and missteps, on sentences written for these tests (not the evaluation sets)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mindrail.datafiles import DataFileError
from mindrail.practice.behaviours import BehaviourReader, default_reader
from mindrail.practice.cards import Act
from mindrail.practice.session import crisis_line_text


@pytest.mark.parametrize(
    ("text", "act"),
    [
        ("Are you having thoughts of killing yourself?", Act.ASKED_SUICIDE),
        ("are u thinking about suicide", Act.ASKED_SUICIDE),
        ("Have you thought about how you would do it?", Act.ASKED_METHOD),
        ("Do you think you would act on those thoughts?", Act.ASKED_INTENT),
        ("Have you picked a day, or a place?", Act.ASKED_PLAN),
        ("Could we write down a safety plan together?", Act.SAFETY_PLAN),
        ("Would your brother hold onto the rifle for a few weeks?", Act.MEANS_SAFETY),
        ("You can call or text 988 any time, day or night.", Act.CRISIS_LINE),
        ("Don't worry, I won't tell anyone.", Act.PROMISED_SECRECY),
        ("That's a selfish way to think about your kids.", Act.JUDGEMENT),
        ("Everyone feels like that sometimes, it'll pass.", Act.MINIMISING),
    ],
)
def test_reads_each_behaviour(text: str, act: Act) -> None:
    assert act in default_reader().read(text)


@pytest.mark.parametrize(
    ("text", "act"),
    [
        ("You're not going to do anything silly, are you?", Act.ASKED_SUICIDE),
        ("What's your plan for the weekend with the kids?", Act.ASKED_PLAN),
        ("I keep what you say private, unless you're in danger; then I'd get help.", Act.PROMISED_SECRECY),
        ("I won't judge you for any of it.", Act.JUDGEMENT),
        ("Has your brother said anything to you about suicide?", Act.ASKED_SUICIDE),
        ("Asking about suicide plainly does not put the idea in anyone's head.", Act.ASKED_SUICIDE),
    ],
)
def test_near_misses_do_not_count(text: str, act: Act) -> None:
    assert act not in default_reader().read(text)


def test_naming_a_crisis_line_is_not_asking_about_suicide() -> None:
    found = default_reader().read(f"You can reach {crisis_line_text('US')} any time.")
    assert Act.CRISIS_LINE in found
    assert Act.ASKED_SUICIDE not in found


def test_a_bad_pattern_names_the_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "b.yaml"
    bad.write_text("version: 1\nbehaviours:\n  judgement:\n    any: ['(unclosed']\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=r"b\.yaml:\d+: behaviours\.judgement\.any"):
        BehaviourReader.load(bad)


def test_skill_codes_are_not_behaviours(tmp_path: Path) -> None:
    bad = tmp_path / "b.yaml"
    bad.write_text("version: 1\nbehaviours:\n  advice:\n    any: ['should']\n", encoding="utf-8")
    with pytest.raises(DataFileError, match="not behaviours"):
        BehaviourReader.load(bad)


def test_learned_heads_read_phrasings_the_patterns_miss() -> None:
    from mindrail.practice.coder import default_coder

    reader, coder = default_reader(), default_coder()
    assert reader.learned
    for text, act in (
        ("Could your sister hang onto the tablets for you this week?", Act.MEANS_SAFETY),
        ("Let's work out what you'll do if tonight gets really bad.", Act.SAFETY_PLAN),
    ):
        assert act not in reader.patterns(text)
        assert act in reader.read(text, coder.embed([text])[0])
    small_talk = "What kind of music do you like?"
    assert reader.read(small_talk, coder.embed([small_talk])[0]) == frozenset()


def test_heads_for_unknown_behaviours_are_refused() -> None:
    reader = BehaviourReader.load()
    with pytest.raises(ValueError, match="unknown behaviours"):
        reader.set_heads({"terms": [], "idf": [], "threshold": 0.7, "heads": {"advice": {"coef": [], "intercept": 0}}})
