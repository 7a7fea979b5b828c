"""FHIR R4 export of a conversation's care records, validated offline by ``fhir.resources`` (its R4B models: R4B
shares R4's definitions of these resources).

Per conversation, one ``Bundle`` (type ``collection``) holds:

- ``Questionnaire`` for each instrument used (LOINC panel code, items with LOINC codes, answer options with LOINC
  answer codes and the ``ordinalValue`` extension holding the item score);
- ``QuestionnaireResponse`` for each completed check-in;
- ``Observation`` (category ``survey``) for each total (PHQ-9 44261-6, GAD-7 70274-6) and for PHQ-9 item 9
  (44260-8), each ``derivedFrom`` its response;
- ``Flag`` for each category at an active risk level (moderate or above);
- ``Consent`` for the conversation's consent (active or withdrawn);
- ``Provenance`` naming mindrail as the assembler of everything AI-assisted: responses read from free text, the
  scores derived from them and the risk flags.

The person is referred to by the conversation's pseudonymous id (``urn:mindrail:conversation``), never by name;
no free text of the person is exported (a clinician reads it in the console).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.consent import Consent
from fhir.resources.R4B.flag import Flag
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.provenance import Provenance
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from mindrail.care.instruments import Instrument, load_instrument

LOINC = "http://loinc.org"
ORDINAL_VALUE = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
PROVENANCE_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"
PERSON_SYSTEM = "urn:mindrail:conversation"
RISK_SYSTEM = "urn:mindrail:risk"
QUESTIONNAIRE_BASE = "urn:mindrail:questionnaire:"


@dataclass(frozen=True, slots=True)
class CheckInRecord:
    """A completed check-in as the store keeps it."""

    id: str
    instrument: str
    values: tuple[int, ...]
    authored: dt.datetime
    mode: Literal["form", "chat"]
    """``chat``: answers read from free text by mindrail (AI-assisted; a Provenance says so)."""


@dataclass(frozen=True, slots=True)
class RiskRecord:
    category: str
    level: str
    since: dt.datetime
    model_version: str


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    text_version: str
    given_at: dt.datetime
    withdrawn_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class CareExport:
    """Everything exported for one conversation."""

    conversation_id: str
    checkins: Sequence[CheckInRecord] = ()
    risks: Sequence[RiskRecord] = ()
    consent: ConsentRecord | None = None
    generated: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    engine: str = "mindrail"


def _iso(t: dt.datetime) -> str:
    return (t if t.tzinfo else t.replace(tzinfo=dt.UTC)).isoformat()


def _loinc(code: str, display: str | None = None) -> dict[str, Any]:
    c: dict[str, Any] = {"system": LOINC, "code": code}
    if display:
        c["display"] = display
    return c


def full_url(conversation_id: str, resource_type: str, resource_id: str) -> str:
    """The entry's ``fullUrl`` (a name-based UUID: the same record exports to the same URL), which references
    inside the bundle use."""
    return (
        f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{PERSON_SYSTEM}:{conversation_id}/{resource_type}/{resource_id}')}"
    )


def _person(conversation_id: str) -> dict[str, Any]:
    return {"identifier": {"system": PERSON_SYSTEM, "value": conversation_id}, "display": "mindrail conversation"}


def questionnaire(inst: Instrument) -> Questionnaire:
    """The instrument as published: panel code, every item with its LOINC code and the shared answer options."""
    options = [
        {"valueCoding": _loinc(o.loinc, o.text), "extension": [{"url": ORDINAL_VALUE, "valueDecimal": o.value}]}
        for o in inst.options.options
    ]
    return Questionnaire.model_validate(
        {
            "resourceType": "Questionnaire",
            "id": inst.id,
            "url": QUESTIONNAIRE_BASE + inst.id,
            "name": inst.id.upper(),
            "title": inst.spec.title,
            "status": "active",
            "subjectType": ["Patient"],
            "copyright": inst.spec.notice,
            "code": [_loinc(inst.spec.loinc.panel, inst.spec.title)],
            "item": [
                {
                    "linkId": str(item.n),
                    "code": [_loinc(item.loinc, item.text)],
                    "prefix": f"{item.n}.",
                    "text": item.text,
                    "type": "choice",
                    "required": True,
                    "answerOption": options,
                }
                for item in inst.items
            ],
        }
    )


def _response(c: CheckInRecord, inst: Instrument, person: dict[str, Any]) -> QuestionnaireResponse:
    inst.score(list(c.values))  # a partial or out-of-range record is an error, not a response
    return QuestionnaireResponse.model_validate(
        {
            "resourceType": "QuestionnaireResponse",
            "id": c.id,
            "questionnaire": QUESTIONNAIRE_BASE + inst.id,
            "status": "completed",
            "subject": person,
            "authored": _iso(c.authored),
            "item": [
                {
                    "linkId": str(item.n),
                    "text": item.text,
                    "answer": [{"valueCoding": _loinc(inst.option(v).loinc, inst.option(v).text)}],
                }
                for item, v in zip(inst.items, c.values, strict=True)
            ],
        }
    )


def _observation(
    oid: str, code: dict[str, Any], value: dict[str, Any], c: CheckInRecord, person: dict[str, Any], source: str
) -> Observation:
    return Observation.model_validate(
        {
            "resourceType": "Observation",
            "id": oid,
            "status": "final",
            "category": [{"coding": [{"system": OBS_CATEGORY, "code": "survey", "display": "Survey"}]}],
            "code": {"coding": [code]},
            "subject": person,
            "effectiveDateTime": _iso(c.authored),
            "derivedFrom": [{"reference": source}],
            **value,
        }
    )


def observations(c: CheckInRecord, inst: Instrument, person: dict[str, Any], source: str) -> list[Observation]:
    """The total (with its band as the interpretation's text) and, for the PHQ-9, item 9 on its own: a clinician's
    system can alert on item 9 without reading the response."""
    score = inst.score(list(c.values))
    out = [
        _observation(
            f"{c.id}-total",
            _loinc(inst.spec.loinc.total, f"{inst.spec.title} total score"),
            {"valueInteger": score.total, "interpretation": [{"text": score.band}]},
            c,
            person,
            source,
        )
    ]
    for item, v in zip(inst.items, c.values, strict=True):
        if item.safety:
            opt = inst.option(v)
            out.append(
                _observation(
                    f"{c.id}-item{item.n}",
                    _loinc(item.loinc, item.text),
                    {"valueCodeableConcept": {"coding": [_loinc(opt.loinc, opt.text)], "text": opt.text}},
                    c,
                    person,
                    source,
                )
            )
    return out


def flag(i: int, r: RiskRecord, person: dict[str, Any]) -> Flag:
    return Flag.model_validate(
        {
            "resourceType": "Flag",
            "id": f"risk-{i}",
            "status": "active",
            "category": [{"coding": [{"system": FLAG_CATEGORY, "code": "clinical", "display": "Clinical"}]}],
            "code": {
                "coding": [{"system": RISK_SYSTEM, "code": f"{r.category}:{r.level}"}],
                "text": f"{r.category.replace('_', ' ')} risk: {r.level} (mindrail risk engine, decision support)",
            },
            "subject": person,
            "period": {"start": _iso(r.since)},
        }
    )


def consent(c: ConsentRecord, person: dict[str, Any]) -> Consent:
    body: dict[str, Any] = {
        "resourceType": "Consent",
        "id": "consent",
        "status": "inactive" if c.withdrawn_at else "active",
        "scope": {"coding": [{"system": CONSENT_SCOPE, "code": "patient-privacy", "display": "Privacy Consent"}]},
        "category": [{"coding": [_loinc("59284-0", "Patient Consent")]}],
        "patient": person,
        "dateTime": _iso(c.given_at),
        "policyRule": {"text": f"mindrail consent text version {c.text_version}"},
        "provision": {"type": "permit", "period": {"start": _iso(c.given_at)}},
    }
    if c.withdrawn_at:
        body["provision"]["period"]["end"] = _iso(c.withdrawn_at)
    return Consent.model_validate(body)


def provenance(targets: Sequence[str], recorded: dt.datetime, engine: str) -> Provenance:
    """mindrail as the assembler of AI-assisted resources: read from free text or judged by the risk engine."""
    return Provenance.model_validate(
        {
            "resourceType": "Provenance",
            "id": "mindrail-ai",
            "target": [{"reference": t} for t in targets],
            "recorded": _iso(recorded),
            "reason": [{"text": "AI-assisted: derived by mindrail (decision support, reviewed by a clinician)"}],
            "agent": [
                {
                    "type": {"coding": [{"system": PROVENANCE_TYPE, "code": "assembler", "display": "Assembler"}]},
                    "who": {"display": f"mindrail ({engine})"},
                }
            ],
        }
    )


def export_bundle(e: CareExport) -> Bundle:
    """One conversation's care records as a validated ``collection`` Bundle."""
    person = _person(e.conversation_id)
    cid = e.conversation_id
    resources: list[Any] = []
    ai_assisted: list[str] = []
    for name in dict.fromkeys(c.instrument for c in e.checkins):
        resources.append(questionnaire(load_instrument(name)))
    for c in e.checkins:
        inst = load_instrument(c.instrument)
        resources.append(_response(c, inst, person))
        response_url = full_url(cid, "QuestionnaireResponse", c.id)
        obs = observations(c, inst, person, response_url)
        resources.extend(obs)
        if c.mode == "chat":
            ai_assisted += [response_url, *(full_url(cid, "Observation", str(o.id)) for o in obs)]
    for i, r in enumerate(e.risks, 1):
        f = flag(i, r, person)
        resources.append(f)
        ai_assisted.append(full_url(cid, "Flag", str(f.id)))
    if e.consent is not None:
        resources.append(consent(e.consent, person))
    if ai_assisted:
        resources.append(provenance(ai_assisted, e.generated, e.engine))
    entries = [{"fullUrl": full_url(cid, r.get_resource_type(), str(r.id)), "resource": r} for r in resources]
    return Bundle.model_validate(
        {
            "resourceType": "Bundle",
            "type": "collection",
            "timestamp": _iso(e.generated),
            "identifier": {"system": PERSON_SYSTEM, "value": e.conversation_id},
            "entry": entries,
        }
    )
