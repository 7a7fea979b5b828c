"""Risk engine v2 rules (issue 10): the C-SSRS ladder with "not yet known", command hallucinations, mania and
OCD recognition, two carries (the person's own risk and someone else's), persistence without inflation,
spelling repair, and broken Unicode. Texts are written for the project."""

from __future__ import annotations

import pytest

from mindrail.risk.engine import RiskEngine
from mindrail.risk.language import foreign_leaning
from mindrail.risk.normalise import normalise, scrub, spelling_table
from mindrail.risk.patterns import PatternDetector
from mindrail.risk.types import Category, Level, Subject

SSH = Category.SUICIDE_SELF_HARM
HTO = Category.HARM_TO_OTHERS
PSY = Category.PSYCHOSIS
DET_SPEC = PatternDetector().spec


@pytest.mark.parametrize(
    "text",
    ["I've been thinking about killing myself", "some days I just want to die", "honestly i wish i was dead"],
)
def test_current_ideation_with_unknowns_is_moderate(engine: RiskEngine, text: str) -> None:
    a = engine.assess(text)
    assert a.level(SSH) == Level.MODERATE
    assert set(a.cssrs_unknown) == {"method", "intent", "plan"}
    assert any(r.startswith("cssrs_unknown") for r in a.categories[SSH].reasons)


def test_past_only_ideation_is_not_raised(engine: RiskEngine) -> None:
    a = engine.assess("when I was fifteen I wanted to die, but that was years ago and I'm doing well")
    assert a.level(SSH) <= Level.LOW
    assert a.cssrs_unknown == ()


def test_retraction_still_lowers_after_the_ladder(engine: RiskEngine) -> None:
    assert engine.assess("i want to die lol jk").level(SSH) == Level.LOW


@pytest.mark.parametrize(
    ("text", "harm"),
    [
        ("the voices keep telling me to hurt myself before midnight", SSH),
        ("god told me to kill my neighbour", HTO),
    ],
)
def test_command_hallucinations_are_imminent_in_psychosis_and_the_named_harm(
    engine: RiskEngine, text: str, harm: Category
) -> None:
    a = engine.assess(text)
    assert a.level(PSY) == Level.IMMINENT
    assert a.level(harm) == Level.IMMINENT


def test_sleepless_grandiose_risky_plan_is_mania_high(engine: RiskEngine) -> None:
    a = engine.assess("haven't slept in four days, I'm a genius, putting my life savings into my app tonight")
    assert a.level(Category.MANIA) >= Level.HIGH


def test_ocd_ritual_is_distress_moderate_with_its_reason(engine: RiskEngine) -> None:
    a = engine.assess("please tell me again that I locked the door, I've checked it 40 times already")
    r = a.categories[Category.DISTRESS]
    assert r.level >= Level.MODERATE
    assert "ocd_ritual" in r.reasons


def test_a_friends_attempt_never_raises_the_persons_own_level(engine: RiskEngine) -> None:
    s = engine.new_conversation()
    a = s.add_user("my best friend attempted suicide last month and I keep worrying about her")
    assert a.subject == Subject.OTHER
    assert a.third_party.get(SSH) is not None
    s.add_assistant("That sounds really hard. How are you doing yourself?")
    b = s.add_user("I'm alright, work is busy. What should I cook tonight?")
    assert b.subject == Subject.OTHER or b.level(SSH) == Level.NONE
    s.add_assistant("How about a stir fry?")
    c = s.add_user("I'm a bit stressed about my exams though")
    assert c.subject != Subject.OTHER
    assert c.level(SSH) == Level.NONE
    assert SSH in c.third_party


def test_a_disclosed_plan_persists_through_calm_turns(engine: RiskEngine) -> None:
    s = engine.new_conversation()
    assert s.add_user("I've decided to take all my pills on Friday when my flatmate is away").level(SSH) >= Level.HIGH
    for calm in ["anyway", "what's a good film to watch", "thanks, I'll try it", "the weather is grim", "ok", "hm"]:
        s.add_assistant("Okay.")
        a = s.add_user(calm)
    assert a.level(SSH) >= Level.HIGH


def test_everyday_turns_never_add_up_to_a_level(engine: RiskEngine) -> None:
    everyday = [
        "I had pasta for lunch",
        "my sister is visiting this weekend and we will go to the museum",
        "the bus was late again",
        "work was fine today",
        "I need to buy new shoes",
        "we watched a film",
    ] * 20
    s = engine.new_conversation()
    levels = []
    for t in everyday:
        levels.append(s.add_user(t).top_level)
        s.add_assistant("I see.")
    assert max(levels) <= Level.LOW


@pytest.mark.parametrize(
    ("messy", "plain"),
    [
        ("im gonna shoot myslef tonite", "i'm gonna shoot myself tonight"),
        ("how many pils would it take", "how many pills would it take"),
        ("i keep thinkin about sooside", "i keep thinking about suicide"),
    ],
)
def test_misspellings_are_repaired_with_offsets(messy: str, plain: str) -> None:
    n = normalise(messy)
    assert n.text == plain
    start, end = n.span_to_original(0, len(n.text))
    assert (start, end) == (0, len(messy))


def test_real_words_are_never_respelled() -> None:
    for word in ["pills", "shoot", "bridge", "pilsner", "kilt", "kiln"]:
        assert normalise(word).text == word


@pytest.mark.parametrize(
    "text", ["tomar todas las pastillas esta noche", "je veux tout finir ce soir", "quero acabar com tudo hoje"]
)
def test_other_languages_are_not_respelled_as_english(text: str) -> None:
    assert foreign_leaning(text)
    assert normalise(text).text == text


def test_english_with_a_foreign_word_is_still_repaired() -> None:
    assert not foreign_leaning("im gonna shoot myslef tonite, adios")
    assert "myself" in normalise("im gonna shoot myslef tonite, adios").text


def test_spelling_table_entries_are_lowercase_and_repair_to_vocabulary() -> None:
    table = spelling_table()
    assert all(k == k.lower() and v == v.lower() for k, v in table.variants.items())
    assert table.repair("overdoes") in {None, "overdose"}
    assert table.repair("suicde") == "suicide"


def test_misspelled_crisis_reaches_the_plain_level(engine: RiskEngine) -> None:
    plain = engine.assess("I'm going to shoot myself tonight, I already loaded my dad's gun")
    messy = engine.assess("im gonna shoot myslef tonite, i allready loded my dads gun")
    assert plain.level(SSH) >= Level.HIGH
    assert messy.level(SSH) >= plain.level(SSH)


def test_broken_unicode_is_scrubbed_one_for_one(engine: RiskEngine) -> None:
    broken = "I have the pills ready\ud83d and\x00 tonight"
    assert len(scrub(broken)) == len(broken)
    a = engine.assess(broken)
    assert a.level(SSH) >= Level.HIGH
    a.to_dict()  # encodes


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("ya no quiero vivir, pienso en matarme", "es"),
        ("je veux mourir, j'en peux plus", "fr"),
        ("ich will nicht mehr leben", "de"),
        ("não quero mais viver", "pt"),
    ],
)
def test_four_languages_are_assessed_not_only_flagged(engine: RiskEngine, text: str, lang: str) -> None:
    assert engine.assess(text).level(SSH) >= Level.MODERATE, lang


def test_saying_you_will_not_act_answers_intent_but_keeps_the_thought(engine: RiskEngine) -> None:
    """ "I won't act" answers the intent question; the thought is still there, so it stays moderate. A joke
    taken back ("lol jk") is a retraction and caps at low."""
    kept = engine.assess("everyone would be better off if I wasn't around. I'm not going to do anything though")
    assert kept.level(SSH) == Level.MODERATE
    assert engine.assess("i want to die lol jk").level(SSH) == Level.LOW


LADDER = [(s.id, s.slot, ex, True) for s in DET_SPEC.ladder for ex in s.examples] + [
    (s.id, s.slot, ex, False) for s in DET_SPEC.ladder for ex in s.counter
]


@pytest.mark.parametrize(
    ("slot_id", "slot", "text", "present"), LADDER, ids=[f"{x[0]}-{i}" for i, x in enumerate(LADDER)]
)
def test_ladder_cues_match_their_examples_only(slot_id: str, slot: str, text: str, present: bool) -> None:
    assert (slot in PatternDetector().detect(normalise(text).text).slots) is present


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("i want to kill myself and i keep thinking about the rope in the garage", Level.MODERATE),
        ("i want to kill myself. the pills are in my drawer, counted out", Level.HIGH),
        ("i want to die and i'm doing it with the pills tonight", Level.HIGH),
        ("i want to die. i've taken all of them", Level.IMMINENT),
    ],
)
def test_ideation_with_ladder_cues_reaches_its_rung(engine: RiskEngine, text: str, level: Level) -> None:
    assert engine.assess(text).level(SSH) >= level


@pytest.mark.parametrize(
    "text",
    [
        "i took the pills for my headache tonight and went to bed early",
        "in the novel she wants to kill herself and has saved up her pills",
        "when i was fifteen i wanted to die and i had pills in my drawer, i'm fine now",
    ],
)
def test_ladder_cues_alone_or_at_a_distance_raise_nothing(engine: RiskEngine, text: str) -> None:
    a = engine.assess(text)
    assert not any(r.startswith("cssrs_ladder") for r in a.categories[SSH].reasons)
    assert a.level(SSH) <= Level.MODERATE


@pytest.mark.parametrize(
    "text", ["i took my meds this morning", "took my sertraline, feeling ok", "i took my pills tonight"]
)
def test_taking_ones_medication_as_usual_is_not_placed_high(engine: RiskEngine, text: str) -> None:
    # A method word lifts every learned suicide score; with no phrase and no deed, no severity head places it.
    assert engine.assess(text).level(Category.SUICIDE_SELF_HARM) <= Level.LOW


def test_a_lethal_amount_of_ones_medication_is_still_imminent(engine: RiskEngine) -> None:
    assert engine.assess("i took all my pills tonight").level(Category.SUICIDE_SELF_HARM) == Level.IMMINENT


@pytest.mark.parametrize("text", ["he said he will kill me tonight", "my ex texted me that he's going to hurt me"])
def test_a_threat_to_the_person_is_abuse_not_their_own_suicide_plan(engine: RiskEngine, text: str) -> None:
    # "kill me" after a modal or before a time word is someone else killing the speaker (patterns.yaml NOTSELFKILL).
    a = engine.assess(text)
    assert a.level(Category.ABUSE) >= Level.HIGH
    assert a.level(Category.SUICIDE_SELF_HARM) <= Level.LOW


def test_wishing_someone_would_kill_you_is_a_wish_to_be_dead(engine: RiskEngine) -> None:
    a = engine.assess("i wish someone would just kill me")
    assert any(r.startswith("wish_to_be_dead") for r in a.categories[Category.SUICIDE_SELF_HARM].reasons)
