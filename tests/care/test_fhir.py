"""FHIR R4 export: every resource validates (fhir.resources R4B), the bundle round-trips, and codes match the
published LOINC panels."""

from __future__ import annotations

import datetime as dt
import json

from fhir.resources.R4B.bundle import Bundle

from mindrail.care.fhir import CareExport, CheckInRecord, ConsentRecord, RiskRecord, export_bundle, full_url

T = dt.datetime(2026, 12, 7, 9, 30, tzinfo=dt.UTC)


def sample() -> CareExport:
    return CareExport(
        "conv-1",
        [
            CheckInRecord("resp-1", "phq9", (1, 2, 1, 3, 0, 2, 1, 0, 1), T, "chat"),
            CheckInRecord("resp-2", "gad7", (0, 1, 1, 0, 0, 2, 1), T, "form"),
        ],
        [RiskRecord("suicide_self_harm", "moderate", T, "engine-v")],
        ConsentRecord("consent-v3", T),
        generated=T,
    )


def resources(b: Bundle, kind: str) -> list[dict]:  # type: ignore[type-arg]
    data = json.loads(b.model_dump_json(exclude_none=True))
    return [e["resource"] for e in data["entry"] if e["resource"]["resourceType"] == kind]


def test_bundle_round_trips() -> None:
    b = export_bundle(sample())
    text = b.model_dump_json(exclude_none=True)
    assert Bundle.model_validate_json(text).model_dump_json(exclude_none=True) == text
    kinds = [e.resource.get_resource_type() for e in b.entry]
    for kind in ("Questionnaire", "QuestionnaireResponse", "Observation", "Flag", "Consent", "Provenance"):
        assert kind in kinds


def test_questionnaire_codes_and_ordinal_values() -> None:
    (phq9, gad7) = resources(export_bundle(sample()), "Questionnaire")
    assert phq9["code"][0] == {"system": "http://loinc.org", "code": "44249-1", "display": phq9["title"]}
    assert gad7["code"][0]["code"] == "69737-5"
    options = phq9["item"][8]["answerOption"]
    assert [o["valueCoding"]["code"] for o in options] == ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"]
    assert [o["extension"][0]["valueDecimal"] for o in options] == [0, 1, 2, 3]
    assert phq9["item"][8]["code"][0]["code"] == "44260-8"
    assert "Pfizer" in phq9["copyright"]


def test_observations_total_item9_and_derived_from() -> None:
    obs = resources(export_bundle(sample()), "Observation")
    by_code = {o["code"]["coding"][0]["code"]: o for o in obs}
    assert by_code["44261-6"]["valueInteger"] == 11
    assert by_code["44261-6"]["interpretation"][0]["text"] == "moderate"
    assert by_code["44260-8"]["valueCodeableConcept"]["coding"][0]["code"] == "LA6569-3"
    assert by_code["70274-6"]["valueInteger"] == 5
    assert all(o["category"][0]["coding"][0]["code"] == "survey" for o in obs)
    assert by_code["44261-6"]["derivedFrom"][0]["reference"] == full_url("conv-1", "QuestionnaireResponse", "resp-1")


def test_provenance_covers_ai_assisted_records_only() -> None:
    (prov,) = resources(export_bundle(sample()), "Provenance")
    targets = {t["reference"] for t in prov["target"]}
    assert full_url("conv-1", "QuestionnaireResponse", "resp-1") in targets  # read from chat
    assert full_url("conv-1", "QuestionnaireResponse", "resp-2") not in targets  # a form the person filled in
    assert full_url("conv-1", "Flag", "risk-1") in targets


def test_withdrawn_consent_is_inactive_with_an_end() -> None:
    e = sample()
    b = export_bundle(CareExport(e.conversation_id, consent=ConsentRecord("v", T, T + dt.timedelta(days=1))))
    (consent,) = resources(b, "Consent")
    assert consent["status"] == "inactive" and "end" in consent["provision"]["period"]


def test_export_is_deterministic_and_pseudonymous() -> None:
    a = export_bundle(sample()).model_dump_json(exclude_none=True)
    assert a == export_bundle(sample()).model_dump_json(exclude_none=True)
    assert '"system":"urn:mindrail:conversation","value":"conv-1"' in a.replace(" ", "")
