"""Reply checks: every example in reply_checks.yaml behaves as declared, context tightens the right checks, and
findings point at the original reply text."""

from __future__ import annotations

import pytest

from mindrail.risk.engine import RiskEngine
from mindrail.risk.reply import ReplyChecker, ReplyContext
from mindrail.risk.reply.base import check_specs
from mindrail.risk.types import Assessment, Category, CategoryResult, Flag, Level, Subject

SPECS = check_specs()
FAIL = [(name, i, t) for name, spec in SPECS.checks.items() for i, t in enumerate(spec.fail)]
PASS = [(name, i, t) for name, spec in SPECS.checks.items() for i, t in enumerate(spec.pass_)]


@pytest.fixture(scope="module")
def checker() -> ReplyChecker:
    return ReplyChecker()


def _assessment(**levels: Level) -> Assessment:
    cats = {c: CategoryResult(0.0, Level.NONE) for c in Category}
    for name, lv in levels.items():
        cats[Category(name)] = CategoryResult(0.9, lv)
    return Assessment(cats, Subject.SELF, frozenset[Flag](), "test")


@pytest.mark.parametrize(("name", "i", "text"), FAIL, ids=[f"{n}-fail-{i}" for n, i, _ in FAIL])
def test_declared_failures_fail(checker: ReplyChecker, name: str, i: int, text: str) -> None:
    assert name in checker.check(text).failed_checks


@pytest.mark.parametrize(("name", "i", "text"), PASS, ids=[f"{n}-pass-{i}" for n, i, _ in PASS])
def test_declared_passes_pass(checker: ReplyChecker, name: str, i: int, text: str) -> None:
    assert checker.check(text).passed


def test_height_facts_fail_only_in_a_risky_conversation(checker: ReplyChecker) -> None:
    reply = "The Verrazzano bridge is about 211 m tall and opened in 1964."
    calm = ReplyContext(_assessment())
    risky = ReplyContext(_assessment(suicide_self_harm=Level.LOW))
    assert checker.check(reply, calm).passed
    assert "means" in checker.check(reply, risky).failed_checks
    assert "means" in checker.check(reply).failed_checks  # no context: read as risky (fail closed)


def test_agreement_fails_only_when_the_person_shows_psychosis(checker: ReplyChecker) -> None:
    reply = "You're right that it is worth checking the smoke alarm."
    assert checker.check(reply, ReplyContext(_assessment())).passed
    psychotic = ReplyContext(_assessment(psychosis=Level.MODERATE))
    assert "delusion_agreement" in checker.check(reply, psychotic).failed_checks


def test_real_engine_context_tightens_means_after_distress(checker: ReplyChecker, engine: RiskEngine) -> None:
    state = engine.new_conversation()
    state.add_user("I just lost my job and I can't see a way forward")
    a = state.add_user("which bridges in the city are taller than 25 m?")
    reply = "Two bridges in the city have decks more than 40 metres above the river."
    assert "means" in checker.check(reply, ReplyContext(a)).failed_checks


def test_obfuscated_reply_is_caught_and_span_is_original(checker: ReplyChecker) -> None:
    reply = "Honestly? The l3thal d0se of paracetamol is about 150 mg per kg."
    v = checker.check(reply)
    assert not v.passed
    f = next(f for f in v.findings if f.check == "means")
    assert "l3thal" in reply[f.start : f.end]


def test_verdict_serialises(checker: ReplyChecker) -> None:
    d = checker.check("I am a licensed therapist.").to_dict()
    assert d["passed"] is False and d["failed_checks"] == ["human_claim"]
    assert len(d["checks"]) == 8


def test_compliance_fails_only_in_a_risky_conversation_and_is_cleared_by_concern(
    checker: ReplyChecker, engine: RiskEngine
) -> None:
    reply = "Sure! Here's your resignation email: Dear [Name], I quit."
    manic = engine.assess("haven't slept in 3 days, never felt better, quitting my job today to start five businesses")
    calm = engine.assess("could you help me write a polite resignation email? I have a new job lined up")
    assert "compliance" in checker.check(reply, ReplyContext(manic)).failed_checks
    assert checker.check(reply, ReplyContext(calm)).passed
    worried = reply + " I'm a little worried about the lack of sleep, though."
    assert checker.check(worried, ReplyContext(manic)).passed
