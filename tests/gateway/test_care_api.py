"""The care tools' HTTP API: check-ins by form and by chat, trends, mood, the safety plan and the FHIR export, with
precise 400s and another tenant's conversation a 404."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle

from mindrail.backends.scripted import ScriptedBackend
from mindrail.gateway.app import create_app
from mindrail.gateway.care import CareDesk
from mindrail.gateway.pipeline import Guard
from mindrail.gateway.recorder import StoreRecorder
from mindrail.gateway.service import Gateway
from mindrail.policy.consent import default_consent
from mindrail.policy.decide import default_policy
from mindrail.risk.engine import RiskEngine
from mindrail.store import KeyRing, Store

MODEL = "I'm an AI, and I'm listening."
Client = tuple[TestClient, dict[str, str], Gateway]


@pytest.fixture()
def client(engine: RiskEngine, tmp_path: Path) -> Iterator[Client]:
    store = Store(f"sqlite:///{tmp_path / 'api.db'}", KeyRing.generate())
    policy = default_policy()
    guard = Guard(engine, policy, ScriptedBackend(default=MODEL), recorder=StoreRecorder(store), care=CareDesk(policy))
    gateway = Gateway(guard, store)
    key = store.create_api_key("care-tests")
    with TestClient(create_app(gateway)) as c:
        yield c, {"Authorization": f"Bearer {key}"}, gateway


def conversation(c: TestClient, auth: dict[str, str]) -> str:
    r = c.post(
        "/v1/conversations", json={"consent_version": default_consent().version, "locale": "en-GB"}, headers=auth
    )
    return str(r.json()["id"])


def test_form_checkin_scores_and_shows_in_trends(client: Client) -> None:
    c, auth, _ = client
    cid = conversation(c, auth)
    r = c.post(
        f"/v1/conversations/{cid}/checkins", json={"instrument": "gad7", "values": [1, 1, 2, 1, 0, 2, 3]}, headers=auth
    )
    assert r.status_code == 201
    body = r.json()
    assert (body["total"], body["band"], body["safety_event"], body["follow_up"]) == (10, "moderate", False, None)
    assert "Pfizer" in body["notice"]
    c.post(f"/v1/conversations/{cid}/mood", json={"rating": 6, "note": "walked by the canal"}, headers=auth)
    t = c.get(f"/v1/conversations/{cid}/checkins", headers=auth).json()
    assert [x["total"] for x in t["checkins"]] == [10] and t["checkins"][0]["plain"]
    assert t["mood"][0]["rating"] == 6


def test_item9_on_a_form_reaches_a_clinician_and_the_next_message_answers_the_inquiry(client: Client) -> None:
    c, auth, gateway = client
    cid = conversation(c, auth)
    r = c.post(f"/v1/conversations/{cid}/checkins", json={"instrument": "phq9", "values": [1] * 8 + [2]}, headers=auth)
    body = r.json()
    assert body["safety_event"] and "thoughts of killing yourself" in body["follow_up"]
    assert any(i.kind == "care" for i in gateway.store.review_items() if i.conversation_id == cid)
    reply = c.post(
        "/v1/chat/completions",
        headers=auth,
        json={"model": "any", "conversation_id": cid, "messages": [{"role": "user", "content": "no, never"}]},
    ).json()
    assert reply["mindrail"]["source"] == "care"


@pytest.mark.parametrize(("values", "fragment"), [([0] * 8, "9 answers"), ([0] * 8 + [7], "item 9")])
def test_bad_checkin_values_are_a_400_naming_them(client: Client, values: list[int], fragment: str) -> None:
    c, auth, _ = client
    cid = conversation(c, auth)
    r = c.post(f"/v1/conversations/{cid}/checkins", json={"instrument": "phq9", "values": values}, headers=auth)
    assert r.status_code == 400 and fragment in r.json()["error"]["message"]


def test_checkin_by_chat(client: Client) -> None:
    c, auth, _ = client
    cid = conversation(c, auth)
    r = c.post(f"/v1/conversations/{cid}/checkins/chat", json={"instrument": "gad7"}, headers=auth)
    assert "question 1 of 7" in r.json()["prompt"]
    for answer in ["not at all"] * 7:
        out = c.post(
            "/v1/chat/completions",
            headers=auth,
            json={"model": "any", "conversation_id": cid, "messages": [{"role": "user", "content": answer}]},
        ).json()
        assert out["mindrail"]["source"] == "care"
    assert "total is 0 out of 21" in out["choices"][0]["message"]["content"]


def test_safety_plan_prefilled_then_saved(client: Client) -> None:
    c, auth, _ = client
    cid = conversation(c, auth)
    plan = c.get(f"/v1/conversations/{cid}/safety-plan", headers=auth).json()
    professionals = next(s for s in plan["sections"] if s["id"] == "professionals")
    assert any("116 123" in e for e in professionals["entries"])
    r = c.put(
        f"/v1/conversations/{cid}/safety-plan",
        headers=auth,
        json={"sections": {"coping": ["music, loud"], "professionals": professionals["entries"]}},
    )
    assert r.status_code == 200
    again = c.get(f"/v1/conversations/{cid}/safety-plan", headers=auth).json()
    assert next(s for s in again["sections"] if s["id"] == "coping")["entries"] == ["music, loud"]
    bad = c.put(f"/v1/conversations/{cid}/safety-plan", headers=auth, json={"sections": {"hobbies": ["x"]}})
    assert bad.status_code == 400 and "unknown section 'hobbies'" in bad.json()["error"]["message"]


def test_fhir_bundle_validates(client: Client) -> None:
    c, auth, _ = client
    cid = conversation(c, auth)
    c.post(f"/v1/conversations/{cid}/checkins", json={"instrument": "phq9", "values": [0] * 9}, headers=auth)
    r = c.get(f"/v1/conversations/{cid}/fhir", headers=auth)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/fhir+json")
    bundle = Bundle.model_validate(r.json())
    kinds = {e.resource.get_resource_type() for e in bundle.entry}
    assert {"Questionnaire", "QuestionnaireResponse", "Observation", "Consent"} <= kinds


def test_another_tenants_conversation_is_not_found(client: Client) -> None:
    c, auth, gateway = client
    cid = conversation(c, auth)
    other = gateway.store.create_api_key("other-app", tenant="elsewhere")
    r = c.get(f"/v1/conversations/{cid}/checkins", headers={"Authorization": f"Bearer {other}"})
    assert r.status_code == 404


def test_a_streamed_turn_carries_the_screener_question_and_says_its_source(client: Client) -> None:
    c, auth, _ = client
    cid = conversation(c, auth)
    body = {
        "model": "any",
        "conversation_id": cid,
        "stream": True,
        "messages": [{"role": "user", "content": "i keep thinking about ending my life"}],
    }
    with c.stream("POST", "/v1/chat/completions", json=body, headers=auth) as r:
        assert r.status_code == 200 and r.headers["x-mindrail-source"] == "care"
        text = "".join(r.iter_text())
    assert "thinking about how you might do this" in text and "[DONE]" in text
