"""The care tools in the guarded turn: the structured risk inquiry (asked by rule, one question per turn, declines
respected, answers raising the level, never during a crisis, rebuilt after a restart), check-ins by chat with the
item-9 safety event, and the safety plan's offer and reminder."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mindrail.backends.scripted import ScriptedBackend
from mindrail.care.safety_plan import SafetyPlan
from mindrail.gateway.care import CareDesk
from mindrail.gateway.pipeline import Guard, Source, TurnResult
from mindrail.gateway.recorder import StoreRecorder
from mindrail.gateway.service import Gateway
from mindrail.policy.decide import Policy, default_policy
from mindrail.policy.schema import Action, InquiryPolicy
from mindrail.risk.engine import RiskEngine
from mindrail.risk.types import Category, Level
from mindrail.store import KeyRing, Store

MODEL = "I'm an AI, and I'm listening. Tell me more about what has been happening."
IDEATION = "i keep thinking about ending my life"
SSH = Category.SUICIDE_SELF_HARM


def make_gateway(engine: RiskEngine, db: Path, keys: KeyRing, policy: Policy | None = None) -> Gateway:
    store = Store(f"sqlite:///{db}", keys)
    policy = policy or default_policy()
    guard = Guard(engine, policy, ScriptedBackend(default=MODEL), recorder=StoreRecorder(store), care=CareDesk(policy))
    return Gateway(guard, store)


@pytest.fixture()
def keys() -> KeyRing:
    return KeyRing.generate()


@pytest.fixture()
def gateway(engine: RiskEngine, tmp_path: Path, keys: KeyRing) -> Gateway:
    return make_gateway(engine, tmp_path / "care.db", keys)


def turn(g: Gateway, cid: str, text: str) -> TurnResult:
    return asyncio.run(g.turn(cid, text))


def start(g: Gateway) -> str:
    return g.store.start_conversation("mindrail-consent-v1", locale="en-GB")


def test_ideation_with_unknowns_gets_the_first_question_not_the_model(gateway: Gateway) -> None:
    cid = start(gateway)
    r = turn(gateway, cid, IDEATION)
    assert r.source == Source.CARE
    assert "thinking about how you might do this" in r.reply  # thoughts already known: method is next
    assert "116 123" in r.reply  # the locale's crisis lines come with it
    (rec,) = gateway.store.care_records(cid, "inquiry")
    assert rec.payload["asked"] == "method"


def test_answers_walk_the_screener_and_a_yes_to_intent_is_a_crisis(gateway: Gateway) -> None:
    cid = start(gateway)
    turn(gateway, cid, IDEATION)
    r = turn(gateway, cid, "not really, no")
    assert r.source == Source.CARE and "intention of acting" in r.reply
    r = turn(gateway, cid, "yes, part of me means to")
    assert r.source == Source.CRISIS_PROTOCOL
    assert r.assessment is not None and r.assessment.level(SSH) == Level.HIGH
    assert r.decision is not None and r.decision.has(Action.ESCALATE)
    items = [i for i in gateway.store.review_items() if i.conversation_id == cid]
    assert any(i.kind == "care" and i.level == int(Level.HIGH) for i in items)


def test_a_decline_is_respected(gateway: Gateway) -> None:
    cid = start(gateway)
    turn(gateway, cid, IDEATION)
    r = turn(gateway, cid, "i'd rather not talk about that")
    assert r.source == Source.CARE and "we don't have to go into it" in r.reply
    r = turn(gateway, cid, "can you help me plan my week instead")
    assert r.source == Source.MODEL and r.reply.startswith(MODEL)
    snapshots = [x.payload for x in gateway.store.care_records(cid, "inquiry")]
    assert snapshots[-1]["stopped"] == "declined"


def test_no_questions_during_a_crisis(gateway: Gateway) -> None:
    cid = start(gateway)
    r = turn(gateway, cid, "i took all my pills an hour ago and i feel sleepy")
    assert r.source == Source.CRISIS_PROTOCOL
    assert gateway.store.care_records(cid, "inquiry") == []
    assert "safety plan" in r.reply  # offered once after a crisis protocol


def test_a_crisis_mid_inquiry_stops_it_even_after_a_restart(
    engine: RiskEngine, gateway: Gateway, tmp_path: Path, keys: KeyRing
) -> None:
    cid = start(gateway)
    turn(gateway, cid, IDEATION)
    r = turn(gateway, cid, "i already took all the pills an hour ago")
    assert r.source == Source.CRISIS_PROTOCOL
    assert gateway.store.care_records(cid, "inquiry")[-1].payload["stopped"] == "crisis"
    gateway.store.close()
    again = make_gateway(engine, tmp_path / "care.db", keys)
    restored = asyncio.run(again.session(cid)).care.inquiry
    assert restored is not None and restored.asked is None and restored.stopped == "crisis"


def test_inquiry_survives_a_restart(engine: RiskEngine, gateway: Gateway, tmp_path: Path, keys: KeyRing) -> None:
    cid = start(gateway)
    turn(gateway, cid, IDEATION)
    gateway.store.close()
    again = make_gateway(engine, tmp_path / "care.db", keys)
    r = turn(again, cid, "no")
    assert r.source == Source.CARE and "intention of acting" in r.reply


def test_checkin_by_chat_scores_and_item9_starts_the_inquiry(gateway: Gateway) -> None:
    cid = start(gateway)
    session = asyncio.run(gateway.session(cid))
    assert gateway.guard.care is not None
    first = gateway.guard.care.start_checkin(session.care, "phq9")
    assert "question 1 of 9" in first
    replies = [turn(gateway, cid, t) for t in ["not at all"] * 8]
    assert all(r.source == Source.CARE for r in replies)
    last = turn(gateway, cid, "a couple of days")
    assert last.source == Source.CARE
    assert "total is 1 out of 27" in last.reply and "not a diagnosis" in last.reply
    assert "thoughts of killing yourself" in last.reply  # the inquiry's next question
    (checkin,) = gateway.store.care_records(cid, "checkin")
    assert checkin.payload["total"] == 1 and checkin.payload["safety_items"] == [9]
    assert any(i.kind == "care" for i in gateway.store.review_items() if i.conversation_id == cid)


def test_safety_plan_reminder_when_risk_returns(gateway: Gateway) -> None:
    cid = start(gateway)
    session = asyncio.run(gateway.session(cid))
    session.care.plan = SafetyPlan.new("GB").with_section("coping", ["text my sister Ana"])
    r = turn(gateway, cid, "i took all my pills an hour ago and i feel sleepy")
    assert r.source == Source.CRISIS_PROTOCOL and "text my sister Ana" in r.reply


def test_inquiry_switched_off_by_policy(engine: RiskEngine, tmp_path: Path, keys: KeyRing) -> None:
    spec = default_policy().spec
    care = spec.care.model_copy(update={"inquiry": InquiryPolicy(enabled=False)})
    g = make_gateway(engine, tmp_path / "off.db", keys, Policy(spec.model_copy(update={"care": care})))
    cid = start(g)
    assert turn(g, cid, IDEATION).source == Source.MODEL


def test_an_exercise_is_offered_once_when_distress_fits_and_shown_on_yes(gateway: Gateway) -> None:
    cid = start(gateway)
    r = turn(gateway, cid, "i'm so overwhelmed and anxious about work, my thoughts keep racing")
    assert r.source == Source.MODEL and "5-4-3-2-1 grounding" in r.reply and "Just say yes" in r.reply
    r = turn(gateway, cid, "yes please")
    assert r.source == Source.CARE and "Name five things you can see" in r.reply and "Source:" in r.reply
    r = turn(gateway, cid, "i'm still anxious about tomorrow's meeting")
    assert "Just say yes" not in r.reply  # once a conversation


def test_an_exercise_offer_is_dropped_when_the_person_moves_on(gateway: Gateway) -> None:
    cid = start(gateway)
    turn(gateway, cid, "i'm so overwhelmed and anxious about work, my thoughts keep racing")
    r = turn(gateway, cid, "no thanks, can we talk about my sister instead")
    assert r.source == Source.MODEL and "Name five things" not in r.reply


def test_no_exercise_offered_without_distress(gateway: Gateway) -> None:
    cid = start(gateway)
    r = turn(gateway, cid, "what's a good recipe for lentil soup")
    assert "exercise" not in r.reply


def test_a_checkin_is_offered_when_the_policy_interval_has_passed(
    engine: RiskEngine, tmp_path: Path, keys: KeyRing
) -> None:
    spec = default_policy().spec
    care = spec.care.model_copy(update={"checkin_every_days": 14})
    g = make_gateway(engine, tmp_path / "due.db", keys, Policy(spec.model_copy(update={"care": care})))
    cid = start(g)
    r = turn(g, cid, "what's a good recipe for lentil soup")
    assert "quick check-in" in r.reply
    assert "quick check-in" not in turn(g, cid, "and one for bread?").reply  # offered once


def test_no_checkin_offer_by_default_or_right_after_one(gateway: Gateway) -> None:
    cid = start(gateway)
    assert "quick check-in" not in turn(gateway, cid, "what's a good recipe for lentil soup").reply


def test_a_chat_checkin_survives_a_restart(engine: RiskEngine, gateway: Gateway, tmp_path: Path, keys: KeyRing) -> None:
    from mindrail.gateway.care_service import start_checkin_chat

    cid = start(gateway)
    asyncio.run(start_checkin_chat(gateway, cid, "gad7"))
    for answer in ["a few days", "most days", "not at all"]:
        assert turn(gateway, cid, answer).source == Source.CARE
    gateway.store.close()
    again = make_gateway(engine, tmp_path / "care.db", keys)
    replies = [turn(again, cid, a) for a in ["2", "nope", "several days", "never"]]
    assert "total is 6 out of 21" in replies[-1].reply


def test_a_crisis_stops_a_chat_checkin_for_good(
    engine: RiskEngine, gateway: Gateway, tmp_path: Path, keys: KeyRing
) -> None:
    from mindrail.gateway.care_service import start_checkin_chat

    cid = start(gateway)
    asyncio.run(start_checkin_chat(gateway, cid, "gad7"))
    turn(gateway, cid, "a few days")
    assert turn(gateway, cid, "i took all my pills an hour ago and i feel sleepy").source == Source.CRISIS_PROTOCOL
    assert gateway.store.care_records(cid, "checkin_progress")[-1].payload["stopped"] == "crisis"
    gateway.store.close()
    again = make_gateway(engine, tmp_path / "care.db", keys)
    assert turn(again, cid, "not at all").source != Source.CARE
