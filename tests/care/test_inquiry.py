"""The structured risk inquiry: question order, the screener's skip rules, declines, unclear answers and the
triage level."""

from __future__ import annotations

from mindrail.care.answers import Reading
from mindrail.care.inquiry import Inquiry, known_from, load_screener, wants_inquiry
from mindrail.risk.types import Level


def run(inquiry: Inquiry, replies: list[str]) -> list[str]:
    """Answer questions in turn; returns the ids asked (a retry shows as the same id twice)."""
    asked = []
    for reply in replies:
        if inquiry.ask() is None:
            break
        assert inquiry.asked is not None
        asked.append(inquiry.asked)
        inquiry.answer(reply)
    return asked


def test_screener_file_carries_its_source() -> None:
    s = load_screener()
    assert "Posner" in s.source.citation and s.source.checked.isoformat() == "2026-12-07"
    assert [q.id for q in s.questions] == ["wish_dead", "thoughts", "method", "intent", "plan", "behaviour", "recent"]


def test_first_question_has_the_lead_in_and_says_it_can_be_skipped() -> None:
    text = Inquiry().ask()
    assert text is not None and "skip" in text and "wished you were dead" in text


def test_no_to_thoughts_skips_method_intent_and_plan() -> None:
    inquiry = Inquiry()
    asked = run(inquiry, ["yes sometimes", "no, never", "no"])
    assert asked == ["wish_dead", "thoughts", "behaviour"]
    assert inquiry.done and inquiry.level() == Level.LOW


def test_recent_behaviour_is_high_and_old_behaviour_moderate() -> None:
    recent, old = Inquiry(), Inquiry()
    run(recent, ["yes", "yes", "no", "no", "no", "yes", "last month"])
    run(old, ["yes", "yes", "no", "no", "no", "yes", "years ago"])
    assert recent.level() == Level.HIGH
    assert old.level() == Level.MODERATE


def test_intent_is_high_and_method_moderate() -> None:
    intent, method = Inquiry(), Inquiry()
    run(intent, ["yes", "yes", "no", "yeah i have", "no", "no"])
    run(method, ["yes", "yes", "yes", "no", "no", "no"])
    assert intent.level() == Level.HIGH
    assert method.level() == Level.MODERATE


def test_a_decline_stops_the_inquiry_and_keeps_the_not_yet_known_rung() -> None:
    inquiry = Inquiry()
    asked = run(inquiry, ["yes", "yes", "i'd rather not say", "no", "no"])
    assert asked == ["wish_dead", "thoughts", "method"]
    assert inquiry.stopped == "declined" and inquiry.ask() is None
    assert inquiry.level() == Level.MODERATE


def test_unclear_is_asked_once_more_then_kept_unclear_never_no() -> None:
    inquiry = Inquiry()
    asked = run(inquiry, ["yes", "yes", "idk", "hmm", "no", "no", "no"])
    assert asked[:4] == ["wish_dead", "thoughts", "method", "method"]
    assert inquiry.reading("method") == Reading.UNCLEAR
    assert inquiry.level() == Level.MODERATE


def test_known_answers_are_not_asked_again(engine) -> None:  # type: ignore[no-untyped-def]
    a = engine.new_conversation().add_user("i keep thinking about killing myself")
    assert wants_inquiry(a)
    inquiry = Inquiry(known=known_from(a))
    inquiry.ask()
    assert inquiry.asked == "method"


def test_an_imminent_answer_stops_the_inquiry(engine) -> None:  # type: ignore[no-untyped-def]
    state = engine.new_conversation()
    state.add_user("i keep thinking about killing myself")
    inquiry = Inquiry(known={"wish_dead": Reading.YES, "thoughts": Reading.YES})
    inquiry.ask()
    a = state.add_user("i already took all the pills an hour ago")
    inquiry.answer("i already took all the pills an hour ago", a)
    assert inquiry.stopped == "crisis" and inquiry.ask() is None
    assert inquiry.level() == Level.IMMINENT


def test_high_or_imminent_risk_is_outside_the_inquiry(engine) -> None:  # type: ignore[no-untyped-def]
    a = engine.new_conversation().add_user("i'm standing on the bridge and i'm going to jump now")
    assert not wants_inquiry(a)


def test_summary_names_each_item_for_the_clinician() -> None:
    inquiry = Inquiry()
    run(inquiry, ["yes", "no"])
    assert [s["label"] for s in inquiry.summary()] == ["Wish to be dead (past month)", "Suicidal thoughts (past month)"]
