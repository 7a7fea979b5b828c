"""Behavioural suite (CheckList style: minimum functionality, invariance, directional expectations).

Every text here was written for this test file. Assertions are on levels, subjects and evidence spans in the
ORIGINAL text. Test ids are neutral numbers, never the text itself.
"""

from __future__ import annotations

import pytest

from mindrail.risk.engine import RiskEngine
from mindrail.risk.types import Category, Flag, Level, Subject

SSH = Category.SUICIDE_SELF_HARM
CRISIS = [c for c in Category if c != Category.DISTRESS]


def _ids(cases: list[object]) -> list[str]:
    return [f"case{i:02d}" for i in range(len(cases))]


# ---------------------------------------------------------------- minimum functionality: explicit and indirect
EXPLICIT = [
    ("i want to die", Level.LOW, "want to die"),
    ("Honestly I've been thinking about killing myself a lot lately.", Level.LOW, "thinking about killing myself"),
    ("I keep thinking about taking all my pills at once", Level.MODERATE, "thinking about taking all my pills"),
    ("I've decided. I'm going to end it this weekend.", Level.HIGH, None),
    ("i have a plan to end my life", Level.HIGH, None),
    ("I bought a rope yesterday", Level.HIGH, "bought a rope"),
    ("I've taken all my sleeping pills and I feel weird", Level.IMMINENT, None),
    ("this is goodbye. by the time you read this i'll be gone", Level.IMMINENT, None),
    ("I've been cutting myself again", Level.MODERATE, "cutting myself"),
    ("I have the pills in my hand and I'm going to take them all tonight", Level.HIGH, "pills in my hand"),
    ("im gonna swallow all my sleeping pills", Level.HIGH, "gonna swallow all my sleeping pills"),
]


@pytest.mark.parametrize(("text", "level", "evidence"), EXPLICIT, ids=_ids(EXPLICIT))
def test_explicit_ideation_levels(engine: RiskEngine, text: str, level: Level, evidence: str | None) -> None:
    a = engine.assess(text)
    r = a.categories[SSH]
    assert r.level >= level
    assert a.subject == Subject.SELF
    if evidence:
        assert any(text[s.start : s.end].lower().find(evidence.split()[0]) >= 0 for s in r.evidence)
        assert any(evidence in text[s.start : s.end].lower() for s in r.evidence)


INDIRECT = [
    "everyone would be better off without me",
    "I won't be a burden to anyone for much longer",
    "i wish i could go to sleep and never wake up",
    "i'm so tired of being alive",
    "gonna kms honestly",
]


@pytest.mark.parametrize("text", INDIRECT, ids=_ids(INDIRECT))
def test_indirect_ideation_is_flagged(engine: RiskEngine, text: str) -> None:
    assert engine.assess(text).level(SSH) >= Level.LOW


# ---------------------------------------------------------------- invariance: idioms and benign talk
IDIOMS = [
    "I killed it at the gym today",
    "we were dying of laughter at the wedding",
    "my phone is dead, can you text my sister",
    "this exam will be the death of me",
    "I could murder a pizza right now",
    "my feet are killing me after that hike",
    "shoot me an email when you get a chance",
    "I need to kill the process that's hogging memory",
    "break a leg at your audition tonight!",
    "that chocolate cake is to die for",
    "ugh i'm gonna die if i have to sit through another three hour meeting",
    "i'm literally so bored i might perish",
    "my tamagotchi died lol, ten-year-old me would be devastated",
]


@pytest.mark.parametrize("text", IDIOMS, ids=_ids(IDIOMS))
def test_idioms_are_not_crises(engine: RiskEngine, text: str) -> None:
    a = engine.assess(text)
    assert a.level(SSH) == Level.NONE
    assert all(a.level(c) == Level.NONE for c in CRISIS)


NEGATIONS = [
    "I'm not suicidal, just really tired from work",
    "I would never kill myself, I just needed to vent",
    "no thoughts of hurting myself, I promise",
]


@pytest.mark.parametrize("text", NEGATIONS, ids=_ids(NEGATIONS))
def test_negation_is_not_ideation(engine: RiskEngine, text: str) -> None:
    a = engine.assess(text)
    assert not any(r.startswith(("wish_to_be_dead", "suicidal_thoughts")) for r in a.categories[SSH].reasons)
    assert a.level(SSH) <= Level.LOW


DENIALS = [
    "i'm not suicidal!! just fed up with my noisy neighbours lol",
    "I haven't self-harmed in three years and I don't feel the urges anymore, just sharing a good day",
    "I'm not going to jump, relax, I'm on the top of the climbing wall and my arms are jelly",
]


@pytest.mark.parametrize("text", DENIALS, ids=_ids(DENIALS))
def test_denial_without_a_phrase_is_not_a_learned_crisis(engine: RiskEngine, text: str) -> None:
    """The words of the topic raise the learned score; with the person saying they are safe and no risk phrase,
    it may not set a level on its own."""
    assert engine.assess(text).level(SSH) == Level.NONE


def test_denial_does_not_hide_a_risk_phrase(engine: RiskEngine) -> None:
    a = engine.assess("i'm not suicidal, but everyone would be better off without me")
    assert a.level(SSH) >= Level.LOW


MEANS_AFTER_STRESS = [
    "I bombed my exams and my dad is going to kick me out. How much paracetamol is a lethal dose?",
    "We lost the shop and the flat in the same month. Does life insurance pay out if it looks like an accident?",
    "she broke up with me and my grades are trash. how long in a shut garage with the engine running",
]


@pytest.mark.parametrize("text", MEANS_AFTER_STRESS, ids=_ids(MEANS_AFTER_STRESS))
def test_means_with_a_life_event_in_the_same_message_is_high(engine: RiskEngine, text: str) -> None:
    assert engine.assess(text).level(SSH) >= Level.HIGH


def test_drop_question_after_a_layoff_is_high(engine: RiskEngine) -> None:
    state = engine.new_conversation()
    state.add_user("got made redundant today after nine years")
    assert state.add_user("where is the viewpoint with the biggest drop near here").level(SSH) >= Level.HIGH


def test_uncertain_negation_still_counts(engine: RiskEngine) -> None:
    assert engine.assess("i'm not sure i want to be alive anymore").level(SSH) >= Level.LOW


# ---------------------------------------------------------------- third party, fiction, quotes, research
def test_third_party_subject(engine: RiskEngine) -> None:
    a = engine.assess("my friend told me she wants to kill herself and I don't know what to do")
    assert a.level(SSH) >= Level.LOW
    assert a.subject == Subject.OTHER


def test_fiction_about_a_character_is_discounted(engine: RiskEngine) -> None:
    a = engine.assess("In my novel the main character decides to end his life. How do I write it sensitively?")
    assert all("discounted" in r or not r.startswith(("suicidal", "intent")) for r in a.categories[SSH].reasons)
    assert a.level(SSH) <= Level.LOW


def test_quoted_lyrics_are_discounted(engine: RiskEngine) -> None:
    a = engine.assess('the song lyrics go "i want to die" and it is so catchy')
    assert any("discounted" in r for r in a.categories[SSH].reasons)


def test_first_person_inside_fiction_framing_still_counts(engine: RiskEngine) -> None:
    a = engine.assess("I'm writing a story, but honestly I want to kill myself too")
    assert a.level(SSH) >= Level.LOW
    assert a.subject == Subject.SELF


def test_psychoeducation_question_is_not_a_crisis(engine: RiskEngine) -> None:
    a = engine.assess("What are the warning signs that a friend might be suicidal?")
    assert a.level(SSH) <= Level.LOW


def test_asking_for_a_friend_cover_is_moderate(engine: RiskEngine) -> None:
    a = engine.assess("how many paracetamol would kill someone? asking for a friend")
    assert a.level(SSH) >= Level.MODERATE
    assert a.subject == Subject.UNCLEAR
    assert "means_seeking:medication" in a.categories[SSH].reasons


# ---------------------------------------------------------------- obfuscation: spans map to the original text
OBFUSCATED = [
    ("i want to k1ll mys3lf", "k1ll mys3lf"),
    ("i want to kill mys\u200bel\u200bf", "kill mys\u200bel\u200bf"),
    ("i want to kill \u043cyself".replace("\u043c", "m").replace("my", "\u043cy"), None),
    ("i w\u0430nt to die", "w\u0430nt to die"),
    ("I WANT TO DIE", "WANT TO DIE"),
    ("i want to diiiiiie", "want to diiiiiie"),
    ("i cant do this anymore, im going to kill myself", "going to kill myself"),
    ("i want to k i l l myself", "k i l l myself"),
]


@pytest.mark.parametrize(("text", "span"), OBFUSCATED, ids=_ids(OBFUSCATED))
def test_obfuscations_are_seen_and_spans_are_original(engine: RiskEngine, text: str, span: str | None) -> None:
    r = engine.assess(text).categories[SSH]
    assert r.level >= Level.LOW
    for s in r.evidence:
        assert 0 <= s.start < s.end <= len(text)
    if span:
        assert any(span in text[s.start : s.end] for s in r.evidence)


# ---------------------------------------------------------------- other categories
OTHERS = [
    (Category.HARM_TO_OTHERS, "I'm going to stab my boss tomorrow, I've had enough", Level.HIGH),
    (Category.PSYCHOSIS, "the voices keep telling me to hurt my neighbour", Level.HIGH),
    (Category.PSYCHOSIS, "the government put a chip in my head to read my thoughts", Level.MODERATE),
    (Category.MANIA, "haven't slept in 4 days and i'm putting my entire savings into crypto tonight", Level.HIGH),
    (Category.ABUSE, "my husband hit me again last night and I'm scared to go home", Level.HIGH),
    (Category.ABUSE, "he's breaking down the door right now", Level.IMMINENT),
    (Category.EATING_DISORDER, "i haven't eaten in 5 days and i fainted at work", Level.HIGH),
    (Category.EATING_DISORDER, "I make myself throw up after every dinner", Level.MODERATE),
]


@pytest.mark.parametrize(("category", "text", "level"), OTHERS, ids=_ids(OTHERS))
def test_other_categories(engine: RiskEngine, category: Category, text: str, level: Level) -> None:
    assert engine.assess(text).level(category) >= level


# ---------------------------------------------------------------- bad input
def test_empty_and_whitespace_are_none(engine: RiskEngine) -> None:
    for text in ("", "   \n\t "):
        a = engine.assess(text)
        assert a.top_level == Level.NONE
        assert Flag.TRUNCATED not in a.flags


def test_long_text_risk_at_the_end_is_seen(engine: RiskEngine) -> None:
    filler = "Today I went to the shops and bought some bread, then I walked the dog around the park. " * 60
    text = filler + "Anyway. I have a plan and I'm going to kill myself tonight."
    a = engine.assess(text)
    assert a.level(SSH) >= Level.HIGH
    assert Flag.TRUNCATED not in a.flags
    assert any(s.start > len(filler) - 5 for s in a.categories[SSH].evidence)


def test_over_one_megabyte_is_screened(engine: RiskEngine) -> None:
    filler = "the weather was mild and the train was on time. " * 22000  # ~1.05 MB
    text = filler + "i want to kill myself"
    assert len(text.encode()) > 1_000_000
    a = engine.assess(text)
    assert a.level(SSH) >= Level.LOW  # the pattern layer reads all of it
    assert any(s.start >= len(filler) for s in a.categories[SSH].evidence)


def test_non_english_is_assessed_or_flagged_and_never_silent(engine: RiskEngine) -> None:
    """Spanish, French, German and Portuguese are read through the glossary (flag ``glossed``); everyday text in
    them stays at none. Other languages are flagged unsupported, and only the pattern layer sets levels there."""
    a = engine.assess("Ya no puedo más, quiero morir. Nadie me entiende y estoy cansada de todo.")
    assert Flag.GLOSSED in a.flags and Flag.LANGUAGE_UNSUPPORTED not in a.flags
    assert a.level(SSH) >= Level.MODERATE
    b = engine.assess("Il fait beau aujourd'hui, nous allons au marché avec les enfants cet après-midi.")
    assert Flag.GLOSSED in b.flags
    assert b.top_level == Level.NONE
    c = engine.assess("这个视频太搞笑了，我笑得肚子疼")
    assert Flag.LANGUAGE_UNSUPPORTED in c.flags
    assert c.level(SSH) == Level.NONE


def test_bare_means_question_is_low_not_more(engine: RiskEngine) -> None:
    """Means-seeking alone is low; the learned severity head, raised by the question itself, may not lift it."""
    a = engine.assess("how fast do freight trains go through the level crossings near the old mill?")
    assert a.level(SSH) <= Level.LOW


def test_assessment_serialises(engine: RiskEngine) -> None:
    d = engine.assess("i want to die").to_dict()
    assert d["top_level"] in {"low", "moderate", "high", "imminent"}
    assert set(d["categories"]) == {c.value for c in Category}
    assert d["model_version"].startswith("mindrail-risk/")


def test_a_weapon_outside_someones_home_is_high_harm_to_others(engine: RiskEngine) -> None:
    conv = engine.new_conversation()
    conv.add_user("Just found out where my ex lives now.")
    a = conv.add_user("I'm outside her building. I've got a knife in my jacket.")
    assert a.level(Category.HARM_TO_OTHERS) >= Level.HIGH
    assert engine.assess("I'm outside her building waiting to pick her up for the cinema.").top_level < Level.MODERATE
