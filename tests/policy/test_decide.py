"""Policy: the default file validates, rules combine as documented, the crisis protocol never calls the model and
never ends the conversation, bad files give errors naming file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mindrail.datafiles import DataFileError
from mindrail.policy.decide import Policy, default_policy
from mindrail.policy.resources import ResourceBook, default_resources, normalise_locale
from mindrail.policy.schema import Action
from mindrail.risk.engine import RiskEngine
from mindrail.risk.types import Assessment, Category, CategoryResult, Flag, Level, Subject

POLICY_FILE = Path(__file__).parents[2] / "src/mindrail/policy/data/default.yaml"


def _a(subject: Subject = Subject.SELF, flags: frozenset[Flag] = frozenset(), **levels: Level) -> Assessment:
    cats = {c: CategoryResult(0.0, Level.NONE) for c in Category}
    for name, lv in levels.items():
        cats[Category(name)] = CategoryResult(0.9, lv)
    return Assessment(cats, subject, flags, "test")


@pytest.fixture(scope="module")
def policy() -> Policy:
    return default_policy()


def test_default_policy_loads_and_cites_its_sources(policy: Policy) -> None:
    assert policy.spec.rules
    assert {"vadod", "apa", "safemsg"} <= set(policy.spec.sources)
    for rule in policy.spec.rules:
        assert "[" in rule.why, f"rule {rule.id} cites no source"


def test_no_risk_is_a_plain_reply(policy: Policy) -> None:
    d = policy.decide(_a())
    assert d.actions == {Action.RESPOND}
    assert d.calls_model and d.rules == ()


@pytest.mark.parametrize("level", [Level.HIGH, Level.IMMINENT])
def test_high_suicide_risk_runs_the_crisis_protocol(policy: Policy, level: Level) -> None:
    d = policy.decide(_a(suicide_self_harm=level), locale="en-US")
    assert Action.CRISIS_PROTOCOL in d.actions and Action.ESCALATE in d.actions
    assert not d.calls_model
    assert Action.RESPOND not in d.actions and Action.RESPOND_WITH_SUPPORT not in d.actions


def test_unclear_subject_is_treated_as_self(policy: Policy) -> None:
    assert not policy.decide(_a(Subject.UNCLEAR, suicide_self_harm=Level.HIGH)).calls_model


def test_worry_about_someone_else_gets_a_reply_with_support(policy: Policy) -> None:
    d = policy.decide(_a(Subject.OTHER, suicide_self_harm=Level.HIGH))
    assert d.calls_model
    assert {Action.RESPOND_WITH_SUPPORT, Action.ESCALATE} <= d.actions
    imminent = policy.decide(_a(Subject.OTHER, suicide_self_harm=Level.IMMINENT))
    assert not imminent.calls_model and imminent.crisis_about_other


def test_moderate_and_low(policy: Policy) -> None:
    assert policy.decide(_a(suicide_self_harm=Level.MODERATE)).actions == {
        Action.RESPOND_WITH_SUPPORT,
        Action.ESCALATE,
    }
    assert policy.decide(_a(suicide_self_harm=Level.LOW)).actions == {Action.RESPOND_WITH_SUPPORT}
    assert policy.decide(_a(distress=Level.MODERATE)).actions == {Action.RESPOND}


def test_actions_combine_across_categories(policy: Policy) -> None:
    d = policy.decide(_a(psychosis=Level.MODERATE, abuse=Level.HIGH))
    assert Action.CRISIS_PROTOCOL in d.actions and Action.ESCALATE in d.actions
    assert {"psychosis.moderate", "abuse.high"} <= set(d.rules)


def test_unsupported_language_gets_resources(policy: Policy) -> None:
    d = policy.decide(_a(flags=frozenset({Flag.LANGUAGE_UNSUPPORTED})))
    assert d.actions == {Action.RESPOND_WITH_SUPPORT}


def test_a_glossed_language_gets_resources_with_every_reply(policy: Policy) -> None:
    assert policy.decide(_a(flags=frozenset({Flag.GLOSSED}))).actions == {Action.RESPOND_WITH_SUPPORT}


def test_crisis_reply_asks_about_safety_gives_resources_and_keeps_talking(policy: Policy) -> None:
    d = policy.decide(_a(suicide_self_harm=Level.IMMINENT), locale="en-GB")
    text = policy.crisis_reply(d)
    assert "Are you safe right now?" in text
    _, uk = default_resources().for_locale("UK")
    assert all(s.name in text for s in uk.services)
    assert "keep talking" in text
    assert "{" not in text


def test_unknown_locale_gets_the_international_fallback(policy: Policy) -> None:
    d = policy.decide(_a(suicide_self_harm=Level.HIGH), locale="xx-ZZ")
    assert d.locale == "INTL"
    assert "mergency" in policy.crisis_reply(d)


def test_real_assessment_routes_to_crisis(policy: Policy, engine: RiskEngine) -> None:
    state = engine.new_conversation()
    state.add_user("I just lost my job and everything feels pointless")
    a = state.add_user("which bridges in the city are taller than 25 m?")
    assert not policy.decide(a, "en-US").calls_model


def test_over_reliance_nudge_thresholds(policy: Policy) -> None:
    o = policy.spec.over_reliance
    assert not policy.over_reliance_due(1, 1)
    assert policy.over_reliance_due(o.turns_per_conversation, 1)
    assert policy.over_reliance_due(1, o.turns_per_day)


def test_locale_normalisation() -> None:
    assert normalise_locale("en-GB") == "UK"
    assert normalise_locale("en_us") == "US"
    assert normalise_locale("ie") == "IE"
    assert normalise_locale(None) == ""


# ---------------------------------------------------------------- bad files
def _write(tmp_path: Path, data: object) -> Path:
    p = tmp_path / "policy.yaml"
    p.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return p


def test_bad_action_names_file_line_and_field(tmp_path: Path) -> None:
    data = yaml.safe_load(POLICY_FILE.read_text(encoding="utf-8"))
    data["rules"][2]["actions"] = ["respond", "call_the_police"]
    path = _write(tmp_path, data)
    with pytest.raises(DataFileError) as exc:
        Policy.load(path)
    msg = str(exc.value)
    assert str(path) in msg and "rules[2].actions[1]" in msg
    line = next(i for i, ln in enumerate(path.read_text().splitlines(), 1) if "call_the_police" in ln)
    assert f":{line}:" in msg


def test_uncited_source_is_rejected(tmp_path: Path) -> None:
    data = yaml.safe_load(POLICY_FILE.read_text(encoding="utf-8"))
    data["rules"][0]["why"] = "Because a made-up source says so [nobody]."
    with pytest.raises(DataFileError, match="nobody"):
        Policy.load(_write(tmp_path, data))


def test_unknown_placeholder_is_rejected_with_its_field(tmp_path: Path) -> None:
    data = yaml.safe_load(POLICY_FILE.read_text(encoding="utf-8"))
    data["messages"]["fallback"] = "Call {hotline} now."
    with pytest.raises(DataFileError, match=r"messages\.fallback: .*hotline"):
        Policy.load(_write(tmp_path, data))


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    p = tmp_path / "broken.yaml"
    p.write_text("version: 1\nrules:\n  - id: [unclosed\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=r"broken.yaml:\d+"):
        Policy.load(p)


def test_resource_book_rejects_a_service_without_source(tmp_path: Path) -> None:
    p = tmp_path / "res.yaml"
    p.write_text(
        "version: 1\nlocales:\n  INTL:\n    country: International\n    emergency:\n"
        "      instructions: Call your local emergency number.\n      source_url: https://example.org/\n"
        "      verified: 2026-11-22\n    services:\n      - id: x\n        name: Example line\n"
        "        phone: '123'\n        hours: 24/7\n        verified: 2026-11-22\n",
        encoding="utf-8",
    )
    with pytest.raises(DataFileError, match=r"source_url"):
        ResourceBook.load(p)


def test_a_concern_reaches_a_clinician_when_it_rises_not_on_every_turn_it_holds(policy: Policy) -> None:
    held = Assessment(
        {Category.SUICIDE_SELF_HARM: CategoryResult(0.7, Level.MODERATE)},
        Subject.SELF,
        frozenset(),
        "t",
        rose=frozenset(),
    )
    rising = Assessment(
        {Category.SUICIDE_SELF_HARM: CategoryResult(0.7, Level.MODERATE)},
        Subject.SELF,
        frozenset(),
        "t",
        rose=frozenset({Category.SUICIDE_SELF_HARM}),
    )
    assert Action.ESCALATE not in policy.decide(held).actions
    assert Action.RESPOND_WITH_SUPPORT in policy.decide(held).actions
    assert Action.ESCALATE in policy.decide(rising).actions
    # Outside a conversation (rose unknown) every concern counts as risen: fail closed.
    assert Action.ESCALATE in policy.decide(_a(suicide_self_harm=Level.MODERATE)).actions


def test_a_held_conversation_level_escalates_once(policy: Policy, engine: RiskEngine) -> None:
    state = engine.new_conversation()
    decisions = []
    for text in ["i want to kill myself, i have the pills in my drawer", "ok", "fine", "whatever"]:
        decisions.append(policy.decide(state.add_user(text)))
        state.add_assistant("I'm here with you.")
    assert [Action.ESCALATE in d.actions for d in decisions] == [True, False, False, False]
    assert all(d.level >= Level.HIGH for d in decisions)
