"""Pattern library: every documented example matches, no counter-example does, and the file validates."""

from __future__ import annotations

from pathlib import Path

import pytest

from mindrail.datafiles import DataFileError
from mindrail.risk.normalise import normalise
from mindrail.risk.patterns import PatternDetector
from mindrail.risk.types import Category, Level, Subject

DET = PatternDetector()
SPECS = (
    [(p.id, ex, True) for p in DET.spec.patterns for ex in p.examples]
    + [(p.id, ex, False) for p in DET.spec.patterns for ex in p.counter]
    + [(m.id, ex, True) for m in DET.spec.means for ex in m.examples]
    + [(m.id, ex, False) for m in DET.spec.means for ex in m.counter]
)
ML_SPECS = [(p.id, ex, True) for p in DET.multilingual_spec.patterns for ex in p.examples] + [
    (p.id, ex, False) for p in DET.multilingual_spec.patterns for ex in p.counter
]


@pytest.mark.parametrize(
    ("pattern_id", "text", "should_match"), SPECS, ids=[f"{s[0]}-{i}" for i, s in enumerate(SPECS)]
)
def test_documented_examples(pattern_id: str, text: str, should_match: bool) -> None:
    r = DET.detect(text)
    ids = {h.pattern_id for h in r.hits} | {m.pattern_id for m in r.means}
    assert (pattern_id in ids) is should_match


@pytest.mark.parametrize(
    ("pattern_id", "text", "should_match"), ML_SPECS, ids=[f"{s[0]}-{i}" for i, s in enumerate(ML_SPECS)]
)
def test_multilingual_examples(pattern_id: str, text: str, should_match: bool) -> None:
    """Multilingual examples are written as people type them (accents and all); the patterns read them
    normalised, as the detector does."""
    r = DET.detect(normalise(text).text)
    assert (pattern_id in {h.pattern_id for h in r.hits}) is should_match


def test_every_pattern_documents_an_example() -> None:
    missing = [p.id for p in DET.spec.patterns if not p.examples] + [m.id for m in DET.spec.means if not m.examples]
    assert missing == []


@pytest.mark.parametrize(
    "text",
    [
        "i killed it at the gym today",
        "we were dying of laughter",
        "my phone is dead again",
        "this exam will be the death of me",
        "i could murder a pizza right now",
        "run kill -9 on the stuck process",
        "my feet are killing me after that hike",
        "shoot me an email when you're free",
    ],
)
def test_idioms_produce_no_hits(text: str) -> None:
    r = DET.detect(text)
    assert r.hits == ()


@pytest.mark.parametrize(
    "text",
    [
        "i would never kill myself",
        "i don't want to die",
        "i'm not going to kill myself",
        "no thoughts of hurting myself",
    ],
)
def test_negated_statements_are_dropped_not_lost(text: str) -> None:
    r = DET.detect(text)
    assert not [h for h in r.hits if h.category == Category.SUICIDE_SELF_HARM]


def test_uncertain_negation_is_not_a_negation() -> None:
    r = DET.detect("i'm not sure i want to be alive anymore")
    assert any(h.category == Category.SUICIDE_SELF_HARM for h in r.hits)


def test_third_party_subject() -> None:
    r = DET.detect("my friend wants to kill herself")
    hit = next(h for h in r.hits if h.category == Category.SUICIDE_SELF_HARM)
    assert hit.subject == Subject.OTHER
    r = DET.detect("i want to kill myself")
    assert next(h for h in r.hits if h.category == Category.SUICIDE_SELF_HARM).subject == Subject.SELF


def test_ladder_levels() -> None:
    def top(text: str) -> Level:
        return max(
            (h.level for h in DET.detect(text).hits if h.category == Category.SUICIDE_SELF_HARM),
            default=Level.NONE,
        )

    assert top("i wish i could go to sleep and never wake up") == Level.LOW
    assert top("i keep thinking about taking all my pills") == Level.MODERATE
    assert top("i've decided to end it") == Level.HIGH
    assert top("i have a plan to end it") == Level.HIGH
    assert top("i've taken all my pills") == Level.IMMINENT


def test_contexts() -> None:
    assert "fiction" in DET.detect("in my novel the character decides to end his life").contexts
    assert "research" in DET.detect("i'm writing a thesis on prevention statistics").contexts
    assert "retraction" in DET.detect("lol jk i'd never actually do it").contexts
    assert "asking_for_friend" in DET.detect("how many pills is too many, asking for a friend").contexts


def test_screening_question() -> None:
    assert DET.is_screening_question("are you having thoughts of ending your life?")
    assert not DET.is_screening_question("how was your weekend?")


def test_bad_file_names_the_entry_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text(
        "version: 1\npatterns:\n  - id: x.one\n    category: suicide_self_harm\n    level: severe\n"
        "    reason: r\n    regex: a\nmeans: []\ncontexts: {}\nidioms: []\n",
        encoding="utf-8",
    )
    with pytest.raises(DataFileError) as exc:
        PatternDetector(bad)
    msg = str(exc.value)
    assert "p.yaml" in msg and "x.one" in msg and "level" in msg
    assert "p.yaml:5: patterns[0].level: " in msg  # file, line and field


def test_broken_yaml_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text("version: 1\npatterns:\n  - id: [x\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=r"p\.yaml:\d+: "):
        PatternDetector(bad)


def test_bad_regex_is_named(tmp_path: Path) -> None:
    src = Path(__file__).resolve().parents[2] / "src/mindrail/risk/data/patterns.yaml"
    text = src.read_text(encoding="utf-8").replace("id: ssh.slang", "id: ssh.slang\n    # broken", 1)
    text = text.replace("kms|kys|ctb", "kms|kys|ctb(", 1)
    bad = tmp_path / "p.yaml"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(DataFileError, match=r"ssh\.slang"):
        PatternDetector(bad)
