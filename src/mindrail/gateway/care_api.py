"""The care tools' HTTP API (docs/care.md): check-ins by form or by chat, mood ratings, trends, the safety plan,
the clinician-facing inquiry answers and the FHIR R4 export, per conversation of the caller's tenant."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from mindrail.gateway import care_service as care
from mindrail.gateway.deps import OwnedConversation, owned_conversation
from mindrail.gateway.openai_compat import errors

router = APIRouter(tags=["care"])


class CheckInIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    instrument: Literal["phq9", "gad7"]
    values: list[int] = Field(description="Item scores 0-3 in the published order (9 for the PHQ-9, 7 for the GAD-7).")


class ChatCheckInIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    instrument: Literal["phq9", "gad7"]


class MoodIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rating: int = Field(ge=0, le=10, description="Today's mood, 0 (worst) to 10 (best).")
    note: str | None = Field(default=None, max_length=care.MAX_NOTE_CHARS)


class SafetyPlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sections: dict[str, list[str]] = Field(
        description="Entries per section: warning_signs, coping, distraction, people_to_ask, professionals, "
        "safe_environment."
    )


def _tenant(c: OwnedConversation) -> str:
    return c.caller.tenant


@router.post("/v1/conversations/{cid}/checkins", status_code=201, responses=errors(400, 401, 404, 500))
async def submit_checkin(body: CheckInIn, c: OwnedConversation = Depends(owned_conversation)) -> dict[str, Any]:
    """A PHQ-9 or GAD-7 filled in as a form: the published score and band. Item 9 of the PHQ-9 above 0 reaches a
    clinician and starts the risk inquiry (``follow_up`` is its first question)."""
    try:
        return await care.submit_checkin(c.gateway, c.cid, body.instrument, body.values, c.caller.actor)
    except ValueError as exc:
        raise HTTPException(400, f"values: {exc}") from None


@router.post("/v1/conversations/{cid}/checkins/chat", responses=errors(400, 401, 404, 500))
async def start_chat_checkin(body: ChatCheckInIn, c: OwnedConversation = Depends(owned_conversation)) -> dict[str, Any]:
    """Take a check-in in the conversation, one item per turn: the person's next messages answer it."""
    try:
        return await care.start_checkin_chat(c.gateway, c.cid, body.instrument)
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from None


@router.get("/v1/conversations/{cid}/checkins", responses=errors(400, 401, 404, 500))
async def trends(c: OwnedConversation = Depends(owned_conversation)) -> dict[str, Any]:
    """Check-in totals with plain-language bands, and mood ratings, oldest first."""
    return await asyncio.to_thread(care.trends, c.gateway.store, c.cid, _tenant(c))


@router.post("/v1/conversations/{cid}/mood", status_code=201, responses=errors(400, 401, 404, 500))
async def add_mood(body: MoodIn, c: OwnedConversation = Depends(owned_conversation)) -> dict[str, Any]:
    return await care.add_mood(c.gateway, c.cid, body.rating, body.note, c.caller.actor)


@router.get("/v1/conversations/{cid}/safety-plan", responses=errors(400, 401, 404, 500))
async def get_plan(c: OwnedConversation = Depends(owned_conversation)) -> dict[str, Any]:
    """The latest plan (a new one has the locale's crisis lines filled in)."""
    plan = await asyncio.to_thread(care.plan_or_new, c.gateway.store, c.cid, _tenant(c))
    return {"sections": plan.render(), "markdown": plan.to_markdown()}


@router.put("/v1/conversations/{cid}/safety-plan", responses=errors(400, 401, 404, 500))
async def save_plan(body: SafetyPlanIn, c: OwnedConversation = Depends(owned_conversation)) -> dict[str, Any]:
    try:
        plan = await care.save_plan(c.gateway, c.cid, body.sections, c.caller.actor)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    return {"sections": plan.render(), "markdown": plan.to_markdown()}


@router.get("/v1/conversations/{cid}/fhir", responses=errors(400, 401, 404, 500))
async def fhir(c: OwnedConversation = Depends(owned_conversation)) -> JSONResponse:
    """The conversation's care records as a FHIR R4 ``Bundle`` (Questionnaire, QuestionnaireResponse, Observation,
    Flag, Consent, Provenance)."""
    bundle = await asyncio.to_thread(care.fhir_bundle, c.gateway.store, c.cid, _tenant(c))
    return JSONResponse(bundle, media_type="application/fhir+json")
