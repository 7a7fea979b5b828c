"""The care tools outside a chat turn: check-ins by form, starting one by chat, mood ratings, the safety plan, trends
and the FHIR export. Shared by the API (``gateway.care_api``), the chat page and the console, so each shows the same
records the same way. Session state (a running inquiry or check-in, the plan) is changed under the session's lock,
as a turn changes it."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

from pydantic import ValidationError

from mindrail.care.answers import Reading
from mindrail.care.fhir import CareExport, CheckInRecord, ConsentRecord, RiskRecord, export_bundle
from mindrail.care.inquiry import Inquiry
from mindrail.care.instruments import load_instrument
from mindrail.care.safety_plan import SafetyPlan
from mindrail.gateway.care import inquiry_snapshot
from mindrail.gateway.service import Gateway
from mindrail.risk.types import Category, Level
from mindrail.store import Store

SSH = Category.SUICIDE_SELF_HARM
MAX_NOTE_CHARS = 500


def _parse_time(value: str | None) -> dt.datetime:
    t = dt.datetime.fromisoformat(value) if value else dt.datetime.now(dt.UTC)
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


async def submit_checkin(g: Gateway, cid: str, instrument: str, values: list[int], actor: str) -> dict[str, Any]:
    """A check-in filled in as a form. PHQ-9 item 9 above 0 opens a clinician's review item and starts the risk
    inquiry: its first question is returned as ``follow_up`` and the person's next message answers it."""
    inst = load_instrument(instrument)
    score = inst.score(values)  # ValueError names the item
    payload = {
        "mode": "form",
        "values": values,
        "total": score.total,
        "band": score.band,
        "safety_items": list(score.safety_items),
    }
    review = (int(Level.MODERATE), SSH.value) if score.safety_event else None
    follow_up: str | None = None
    session = await g.session(cid)
    async with session.lock:
        rid = await asyncio.to_thread(
            lambda: g.store.add_care_record(cid, "checkin", payload, instrument=inst.id, actor=actor, review=review)
        )
        session.care.last_checkin = dt.datetime.now(dt.UTC)
        if score.safety_event and g.guard.care is not None:
            inquiry = Inquiry(known={"wish_dead": Reading.YES})
            follow_up = inquiry.ask()
            session.care.inquiry, session.care.inquired_at = inquiry, Level.LOW
            snap = inquiry_snapshot(inquiry, Level.LOW, "started")
            await asyncio.to_thread(lambda: g.store.add_care_record(cid, "inquiry", snap, actor=actor))
    return {
        "id": rid,
        "instrument": inst.id,
        "total": score.total,
        "max_total": inst.max_total,
        "band": score.band,
        "plain": score.plain,
        "safety_event": score.safety_event,
        "follow_up": follow_up,
        "notice": inst.spec.notice,
    }


async def start_checkin_chat(g: Gateway, cid: str, instrument: str) -> dict[str, Any]:
    """Begin a check-in taken one item per turn: the person's next messages answer it."""
    if g.guard.care is None:
        raise ValueError("care tools are not enabled on this gateway")
    session = await g.session(cid)
    care = g.guard.care
    async with session.lock:
        prompt = care.start_checkin(session.care, instrument)
        w = care.checkin_started(session.care)
        await asyncio.to_thread(lambda: g.store.add_care_record(cid, w.kind, w.payload, instrument=instrument))
    return {"instrument": instrument, "prompt": prompt}


async def add_mood(g: Gateway, cid: str, rating: int, note: str | None, actor: str) -> dict[str, Any]:
    if not 0 <= rating <= 10:
        raise ValueError("rating: must be 0 to 10")
    if note is not None and len(note) > MAX_NOTE_CHARS:
        raise ValueError(f"note: at most {MAX_NOTE_CHARS} characters")
    payload = {"rating": rating, "note": note or None}
    rid = await asyncio.to_thread(lambda: g.store.add_care_record(cid, "mood", payload, actor=actor))
    return {"id": rid, "rating": rating}


def trends(store: Store, cid: str, tenant: str | None = None) -> dict[str, Any]:
    """Check-in totals with their plain-language bands, and mood ratings, oldest first (no diagnosis)."""
    records = store.care_records(cid, None, tenant=tenant)
    checkins = []
    for r in records:
        if r.kind != "checkin" or r.instrument is None:
            continue
        inst = load_instrument(r.instrument)
        total = r.payload.get("total")
        checkins.append(
            {
                "id": r.id,
                "instrument": r.instrument,
                "title": inst.spec.title,
                "at": r.at.isoformat(timespec="seconds"),
                "total": total,
                "max_total": inst.max_total,
                "band": r.payload.get("band"),
                "plain": inst.band(total).plain if isinstance(total, int) else None,
                "mode": r.payload.get("mode"),
                "safety_event": bool(r.payload.get("safety_items")),
            }
        )
    mood = [
        {
            "id": r.id,
            "at": r.at.isoformat(timespec="seconds"),
            "rating": r.payload["rating"],
            "note": r.payload.get("note"),
        }
        for r in records
        if r.kind == "mood"
    ]
    return {"checkins": checkins, "mood": mood}


def inquiry_answers(store: Store, cid: str, tenant: str | None = None) -> list[dict[str, Any]]:
    """Each inquiry's latest state, for the clinician: the answered items with the person's words."""
    records = store.care_records(cid, "inquiry", tenant=tenant)
    runs: list[dict[str, Any]] = []
    for r in records:
        p = r.payload
        if p.get("event") == "started" or not runs:
            runs.append({})
        runs[-1] = {"at": r.at.isoformat(timespec="seconds"), **p}
    return runs


def get_plan(store: Store, cid: str, tenant: str | None = None) -> SafetyPlan | None:
    """The latest version of the person's plan, or None when they have not made one."""
    plans = store.care_records(cid, "safety_plan", tenant=tenant)
    return SafetyPlan.model_validate(plans[-1].payload) if plans else None


def plan_or_new(store: Store, cid: str, tenant: str | None = None) -> SafetyPlan:
    """The person's plan, or a new one with the conversation locale's crisis lines filled in."""
    plan = get_plan(store, cid, tenant)
    return plan if plan is not None else SafetyPlan.new(store.conversation_info(cid).get("locale"))


async def save_plan(g: Gateway, cid: str, sections: dict[str, list[str]], actor: str) -> SafetyPlan:
    """A new version of the plan (every version is kept; the latest is shown). A bad section or entry is a
    ValueError that names it."""
    try:
        plan = SafetyPlan(sections={k: tuple(v) for k, v in sections.items()}, updated_at=dt.datetime.now(dt.UTC))
    except ValidationError as exc:  # a ValueError naming each bad section or entry, for a 400
        raise ValueError("; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())) from None
    session = await g.session(cid)
    async with session.lock:
        await asyncio.to_thread(
            lambda: g.store.add_care_record(cid, "safety_plan", plan.model_dump(mode="json"), actor=actor)
        )
        session.care.plan = plan
    return plan


def fhir_bundle(store: Store, cid: str, tenant: str | None = None) -> dict[str, Any]:
    """The conversation's care records as a FHIR R4 Bundle (validated by fhir.resources before it is returned)."""
    records = store.care_records(cid, None, tenant=tenant)
    checkins = [
        CheckInRecord(f"checkin-{r.id}", r.instrument, tuple(r.payload["values"]), r.at, r.payload.get("mode", "form"))
        for r in records
        if r.kind == "checkin" and r.instrument and r.payload.get("total") is not None
    ]
    turns = store.transcript(cid)
    risks: list[RiskRecord] = []
    last = next((t for t in reversed(turns) if t.get("assessment")), None)
    if last is not None:
        a = last["assessment"]
        for category, found in (a.get("categories") or {}).items():
            level = Level.parse(found.get("level", "none"))
            if level >= Level.MODERATE:
                risks.append(RiskRecord(category, level.label, _parse_time(last.get("at")), a.get("model_version", "")))
    consents = store.consents(cid)
    consent = None
    if consents:
        c = consents[-1]
        consent = ConsentRecord(
            c["text_version"], _parse_time(c["given_at"]), _parse_time(c["withdrawn_at"]) if c["withdrawn_at"] else None
        )
    bundle = export_bundle(CareExport(cid, checkins, risks, consent))
    out: dict[str, Any] = json.loads(bundle.model_dump_json(exclude_none=True))
    return out
