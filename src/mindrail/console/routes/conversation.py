"""The conversation view for clinicians: transcript with evidence highlighted, withheld replies, consent and
data-rights records, and the care records (check-ins, mood, the risk inquiry's answers in the person's words, the
safety plan) with a FHIR export. Every view and export is audited; another tenant's conversation is 404."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import HTMLResponse, JSONResponse

from mindrail.care.inquiry import load_screener
from mindrail.console.accounts import Staff
from mindrail.console.web import State, signed_in
from mindrail.gateway import care_service as care
from mindrail.store import NotFound

router = APIRouter(prefix="/console")
Viewer = Annotated[Staff, Depends(signed_in("conversation.view"))]
RIGHTS = ("data_exported", "consent_withdrawn", "consent_given")


def _visible(state: State, staff: Staff, cid: str) -> dict[str, Any]:
    """The conversation's info if it exists and staff is granted its tenant; 404 otherwise (the same answer)."""
    try:
        info = state.store.conversation_info(cid)
    except NotFound:
        raise HTTPException(404, "no such conversation") from None
    if not staff.grants.allows(info["tenant"]):
        raise HTTPException(404, "no such conversation")
    return info


@router.get("/conversations/{cid}", response_class=HTMLResponse)
async def conversation(state: State, staff: Viewer, cid: str) -> HTMLResponse:
    store = state.store
    info = _visible(state, staff, cid)
    turns = store.transcript(cid, include_withheld=True)
    store.audit("conversation_viewed", staff.actor, cid, {"role": staff.role.value})
    rights = [e for e in store.audit_events(cid, limit=500) if e["kind"] in RIGHTS]
    plan = care.get_plan(store, cid)
    return state.render(
        "conversation.html",
        staff,
        info=info,
        turns=[with_highlights(t) for t in turns],
        consents=store.consents(cid),
        rights=rights,
        trends=care.trends(store, cid),
        inquiries=[with_labels(run) for run in care.inquiry_answers(store, cid)],
        plan=plan.render() if plan is not None else None,
    )


@router.get("/conversations/{cid}/fhir")
async def fhir(state: State, staff: Viewer, cid: str) -> JSONResponse:
    """The conversation's care records as a FHIR R4 Bundle, for a clinician's system (audited)."""
    store = state.store
    _visible(state, staff, cid)  # 404 unless staff may see it
    bundle = care.fhir_bundle(store, cid)
    store.audit("fhir_exported", staff.actor, cid, {"resources": len(bundle.get("entry", []))})
    return JSONResponse(
        bundle,
        media_type="application/fhir+json",
        headers={"Content-Disposition": f'attachment; filename="mindrail-{cid[:8]}-fhir.json"'},
    )


def with_labels(run: dict[str, Any]) -> dict[str, Any]:
    """An inquiry snapshot with each question's console label (C-SSRS screener item)."""
    labels = {q.id: q.short for q in load_screener().questions}
    answers = [{**a, "label": labels.get(a["question"], a["question"])} for a in run.get("answers", [])]
    return {**run, "answers": answers, "asked_label": labels.get(run.get("asked") or "")}


def with_highlights(turn: dict[str, Any]) -> dict[str, Any]:
    """Split the user's text into plain and evidence parts (offsets are into the original text)."""
    text: str = turn["user"]
    spans: list[tuple[int, int]] = []
    for result in ((turn.get("assessment") or {}).get("categories") or {}).values():
        for s in result.get("evidence", []):
            if isinstance(s, list) and len(s) == 2:
                spans.append((int(s[0]), int(s[1])))
    parts: list[tuple[str, bool]] = []
    pos = 0
    for a, b in sorted(set(spans)):
        if a < pos:
            a = pos
        if a >= b:
            continue
        parts.append((text[pos:a], False))
        parts.append((text[a:b], True))
        pos = b
    parts.append((text[pos:], False))
    return {**turn, "parts": [p for p in parts if p[0]]}
