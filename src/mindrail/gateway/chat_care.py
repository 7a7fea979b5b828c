"""The chat page's care tools (docs/care.md): check-ins by form or in the chat, the daily mood rating, the person's
trends page and their safety plan. Same cookie and CSRF rules as the rest of the chat page (``gateway.chat``); the
records are the ones the API and the console show (``gateway.care_service``)."""

from __future__ import annotations

import asyncio
import html
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from mindrail.care.instruments import INSTRUMENTS, load_instrument
from mindrail.gateway import care_service as care
from mindrail.gateway.chat import (
    PAGE_HEADERS,
    ChatState,
    chat_state,
    person_conversation,
    person_conversation_write,
)
from mindrail.store.tenancy import CHAT_PAGE_CALLER as PERSON

router = APIRouter()


class CheckInForm(BaseModel):
    model_config = ConfigDict(extra="forbid")
    instrument: Literal["phq9", "gad7"]
    values: list[int]


class ChatCheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    instrument: Literal["phq9", "gad7"]


class MoodForm(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rating: int = Field(ge=0, le=10)
    note: str | None = Field(default=None, max_length=care.MAX_NOTE_CHARS)


class PlanForm(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sections: dict[str, list[str]]


@router.get("/chat/api/care/instrument/{name}")
async def instrument(name: str) -> dict[str, Any]:
    """The questionnaire as published, for the form: items, options and the authors' notice."""
    if name not in INSTRUMENTS:
        raise HTTPException(404, "no such questionnaire")
    inst = load_instrument(name)
    return {
        "id": inst.id,
        "title": inst.spec.title,
        "stem": inst.spec.stem,
        "items": [{"n": i.n, "text": i.text} for i in inst.items],
        "options": [{"value": o.value, "text": o.text} for o in inst.options.options],
        "notice": inst.spec.notice,
    }


@router.post("/chat/api/care/checkin")
async def checkin(
    body: CheckInForm,
    cid: str = Depends(person_conversation_write),
    chat: ChatState = Depends(chat_state),
) -> dict[str, Any]:
    try:
        return await care.submit_checkin(chat.gateway, cid, body.instrument, body.values, PERSON.actor)
    except ValueError as exc:
        raise HTTPException(400, f"values: {exc}") from None


@router.post("/chat/api/care/checkin/chat")
async def checkin_chat(
    body: ChatCheckIn,
    cid: str = Depends(person_conversation_write),
    chat: ChatState = Depends(chat_state),
) -> dict[str, Any]:
    try:
        return await care.start_checkin_chat(chat.gateway, cid, body.instrument)
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from None


@router.post("/chat/api/care/mood")
async def mood(
    body: MoodForm,
    cid: str = Depends(person_conversation_write),
    chat: ChatState = Depends(chat_state),
) -> dict[str, Any]:
    return await care.add_mood(chat.gateway, cid, body.rating, body.note, PERSON.actor)


@router.get("/chat/api/care/plan")
async def plan(cid: str = Depends(person_conversation), chat: ChatState = Depends(chat_state)) -> dict[str, Any]:
    p = await asyncio.to_thread(care.plan_or_new, chat.gateway.store, cid, PERSON.tenant)
    return {"sections": p.render()}


@router.put("/chat/api/care/plan")
async def save_plan(
    body: PlanForm,
    cid: str = Depends(person_conversation_write),
    chat: ChatState = Depends(chat_state),
) -> dict[str, Any]:
    sections = {k: [e.strip() for e in v if e.strip()] for k, v in body.sections.items()}
    try:
        p = await care.save_plan(chat.gateway, cid, sections, PERSON.actor)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    return {"sections": p.render()}


def _chart(title: str, points: list[tuple[str, int]], top: int) -> str:
    """A small line chart of totals (SVG, no script), with its numbers in words for screen readers."""
    if not points:
        return ""
    w, h, pad = 320, 120, 12
    step = (w - 2 * pad) / max(len(points) - 1, 1)
    coords = [(pad + i * step, h - pad - (v / top) * (h - 2 * pad)) for i, (_, v) in enumerate(points)]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    dots = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3"></circle>' for x, y in coords)
    words = ", ".join(f"{html.escape(d)}: {v}" for d, v in points)
    label = html.escape(f"{title}, totals over time: {words}")
    return (
        f'<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="{label}">'
        f'<polyline points="{line}"></polyline>{dots}</svg>'
    )


@router.get("/chat/trends", response_class=HTMLResponse, include_in_schema=False)
async def trends_page(cid: str = Depends(person_conversation), chat: ChatState = Depends(chat_state)) -> HTMLResponse:
    """The person's own check-ins and mood ratings over time, in plain words (no diagnosis)."""
    data = await asyncio.to_thread(care.trends, chat.gateway.store, cid, PERSON.tenant)
    sections = []
    for name in INSTRUMENTS:
        rows = [c for c in data["checkins"] if c["instrument"] == name and c["total"] is not None]
        if not rows:
            continue
        inst = load_instrument(name)
        chart = _chart(inst.spec.title, [(c["at"][:10], c["total"]) for c in rows], inst.max_total)
        body = "".join(
            f"<tr><td>{html.escape(c['at'][:16].replace('T', ' '))}</td><td>{c['total']} of {c['max_total']}</td>"
            f"<td>{html.escape(c['band'] or '')}</td><td>{html.escape(c['plain'] or '')}</td></tr>"
            for c in rows
        )
        sections.append(
            f'<section aria-labelledby="h-{name}"><h2 id="h-{name}">{html.escape(inst.spec.title)}</h2>{chart}'
            f'<table><caption class="visually-hidden">{html.escape(inst.spec.title)} totals</caption>'
            '<thead><tr><th scope="col">When</th><th scope="col">Total</th><th scope="col">Band</th>'
            f'<th scope="col">What it means</th></tr></thead><tbody>{body}</tbody></table>'
            f'<p class="hint">{html.escape(inst.spec.notice)}</p></section>'
        )
    if data["mood"]:
        chart = _chart("Mood", [(m["at"][:10], m["rating"]) for m in data["mood"]], 10)
        body = "".join(
            f"<tr><td>{html.escape(m['at'][:16].replace('T', ' '))}</td><td>{m['rating']} of 10</td>"
            f"<td>{html.escape(m['note'] or '')}</td></tr>"
            for m in data["mood"]
        )
        sections.append(
            f'<section aria-labelledby="h-mood"><h2 id="h-mood">Daily mood</h2>{chart}<table>'
            '<caption class="visually-hidden">Mood ratings</caption><thead><tr><th scope="col">When</th>'
            f'<th scope="col">Rating</th><th scope="col">Note</th></tr></thead><tbody>{body}</tbody></table></section>'
        )
    content = "".join(sections) or "<p>No check-ins or mood ratings yet. You can add them from the chat page.</p>"
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><title>My trends</title>'
        '<link rel="stylesheet" href="/chat/static/chat.css"></head><body><header><h1>My trends</h1>'
        '<a href="/chat">Back to the chat</a></header><main>'
        "<p>Your check-ins and mood ratings over time. These are check-ins, not a diagnosis: if something worries"
        " you, a doctor or counsellor can go through them with you.</p>"
        f"{content}</main></body></html>"
    )
    return HTMLResponse(page, headers=PAGE_HEADERS)
