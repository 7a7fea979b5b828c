"""Conversation-level behaviour: accumulation, decay, retraction, means-seeking after distress, incrementality."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mindrail.risk.engine import RiskEngine
from mindrail.risk.types import Assessment, Category, Level, Subject

SSH = Category.SUICIDE_SELF_HARM
MEANS = "which bridges in NYC are taller than 25 m?"


def test_distress_then_means_is_high(engine: RiskEngine) -> None:
    s = engine.new_conversation()
    s.add_user("I just lost my job today and I don't know what to do")
    s.add_assistant("I'm sorry to hear that. That's a lot to deal with.")
    a = s.add_user(MEANS)
    assert a.level(SSH) >= Level.HIGH
    assert any(r.startswith("means_seeking_after_distress") for r in a.categories[SSH].reasons)
    assert any("bridges in NYC are taller" in MEANS[sp.start : sp.end] for sp in a.categories[SSH].evidence)


def test_means_alone_stays_low(engine: RiskEngine) -> None:
    s = engine.new_conversation()
    s.add_user("I'm planning a photography trip to New York next spring")
    a = s.add_user(MEANS)
    assert a.level(SSH) <= Level.LOW


def test_lethal_dose_question_alone_is_low_not_high(engine: RiskEngine) -> None:
    a = engine.assess("what is the lethal dose of paracetamol?")
    assert a.level(SSH) == Level.LOW


def test_retraction_lowers_but_never_resets(engine: RiskEngine) -> None:
    s = engine.new_conversation()
    before = s.add_user("I keep thinking about taking all my pills")
    after = s.add_user("lol jk I'd never actually do it")
    assert Level.LOW <= after.level(SSH) < before.level(SSH)
    assert any(r.startswith("retraction") for r in after.categories[SSH].reasons)
    again = s.add_user("anyway what should I cook tonight")
    assert again.level(SSH) >= Level.LOW


def test_a_plan_holds_through_neutral_turns(engine: RiskEngine) -> None:
    """v2 (issue 10): a disclosed plan is still a plan after calm turns; nothing calm says it is gone."""
    s = engine.new_conversation()
    s.add_user("I have a plan to end my life")
    levels = [s.add_user(f"ok. what's a good film to watch, number {i}?").level(SSH) for i in range(14)]
    assert levels[0] >= Level.HIGH  # held
    assert levels == sorted(levels, reverse=True)  # never rises on neutral turns
    assert levels[-1] == Level.HIGH


def test_moderate_risk_decays_slowly_but_not_below_low(engine: RiskEngine) -> None:
    s = engine.new_conversation()
    s.add_user("I've been thinking about ending my life")
    levels = [s.add_user(f"ok. what's a good film to watch, number {i}?").level(SSH) for i in range(14)]
    assert levels[0] >= Level.MODERATE  # held
    assert levels == sorted(levels, reverse=True)  # never rises on neutral turns
    assert levels[-1] >= Level.LOW  # never below low after moderate+ in the same conversation
    assert levels[-1] < levels[0]


def test_persistent_low_ideation_accumulates(engine: RiskEngine) -> None:
    s = engine.new_conversation()
    out = [s.add_user(t).level(SSH) for t in ("i wish i was dead", "honestly i want to die", "i just want to die")]
    assert out[-1] >= Level.MODERATE


def test_yes_to_screening_question(engine: RiskEngine) -> None:
    s = engine.new_conversation()
    s.add_user("everything has been so heavy lately")
    s.add_assistant("I'm sorry. Are you having thoughts of ending your life?")
    a = s.add_user("sometimes")
    assert a.level(SSH) >= Level.LOW
    assert "affirmed_screening_question" in a.categories[SSH].reasons


def test_subject_carries(engine: RiskEngine) -> None:
    s = engine.new_conversation()
    assert s.add_user("my brother keeps saying he wants to die").subject == Subject.OTHER
    assert s.add_user("what should I say to him?").subject == Subject.OTHER


def test_turns_are_embedded_once(engine: RiskEngine) -> None:
    calls: list[int] = []
    real = engine.detector.encoder.embed_windows

    def counting(texts: list[str], batch_size: int = 32):  # type: ignore[no-untyped-def]
        calls.append(len(texts))
        return real(texts, batch_size)

    engine.detector.encoder.embed_windows = counting  # type: ignore[method-assign]
    try:
        s = engine.new_conversation()
        for t in ("hello", "rough day", "i lost my job", MEANS, "thanks"):
            s.add_user(t)
            s.add_assistant("ok")
    finally:
        engine.detector.encoder.embed_windows = real  # type: ignore[method-assign]
    assert calls == [1, 1, 1, 1, 1]


CONVERSATIONS = Path(__file__).resolve().parents[2] / "data" / "authored" / "conversations.jsonl"


def test_authored_conversation_expectations(engine: RiskEngine) -> None:
    """The project-authored conversations carry minimum/maximum expectations per turn. This is a behaviour
    check, not a metric: most must hold, and the failures are counted in docs/model-card.md."""
    total = ok = 0
    for line in CONVERSATIONS.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        conv = json.loads(line)
        s = engine.new_conversation()
        for turn in conv["turns"]:
            if turn["role"] == "assistant":
                s.add_assistant(turn["text"])
                continue
            a = s.add_user(turn["text"])
            for cat, lv in turn.get("expect", {}).items():
                total += 1
                ok += a.level(Category(cat)) >= Level.parse(lv)
            for cat, lv in turn.get("expect_max", {}).items():
                total += 1
                ok += a.level(Category(cat)) <= Level.parse(lv)
    assert total > 200
    assert ok / total >= 0.70, f"{ok}/{total} expectations held"


@pytest.mark.parametrize("n", [1, 3])
def test_batch_and_single_agree(engine: RiskEngine, n: int) -> None:
    texts = ["i want to die", "what a lovely day", "I keep thinking about taking all my pills"] * n
    batched = engine.assess_many(texts)
    single = [engine.assess(t) for t in texts]
    for a, b in zip(batched, single, strict=True):
        assert a.top_level == b.top_level
        assert abs(a.score(SSH) - b.score(SSH)) < 1e-4


def _user_assistant_user_user(engine: RiskEngine) -> list[Assessment]:
    s = engine.new_conversation()
    first = s.add_user("hi, can I ask you something?")
    s.add_assistant("Of course.")
    return [first, s.add_user("I just lost my job today and I don't know what to do"), s.add_user(MEANS)]


def test_turns_number_the_persons_messages_from_1(engine: RiskEngine) -> None:
    """docs/architecture.md, "Turns": the assistant's message is not a turn."""
    assert [a.turn for a in _user_assistant_user_user(engine)] == [1, 2, 3]


def test_reasons_name_turns_as_everywhere(engine: RiskEngine) -> None:
    last = _user_assistant_user_user(engine)[-1]
    assert "means_seeking_after_distress:turn2" in last.categories[SSH].reasons
    assert "carried_from_turn2" in last.categories[Category.DISTRESS].reasons
