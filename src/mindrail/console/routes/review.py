"""The review queue: escalations and held replies, and what a clinician does with them. Another tenant's item
is 404, as for one that does not exist (the store checks the grants)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mindrail.console.accounts import Staff
from mindrail.console.queue import QueueError
from mindrail.console.web import State, acting, signed_in
from mindrail.store import NotFound

router = APIRouter(prefix="/console")
Viewer = Annotated[Staff, Depends(signed_in("queue.view"))]
Actor = Annotated[Staff, Depends(acting("queue.act"))]


@router.get("/queue", response_class=HTMLResponse)
async def queue_page(state: State, staff: Viewer) -> HTMLResponse:
    queue = state.queue
    items = queue.items(grants=staff.grants)
    pending = {
        it.id: queue.pending_reply(it.id, staff.grants)
        for it in items
        if it.kind == "hold" and it.claimed_by == staff.username
    }
    return state.render("queue.html", staff, items=items, pending=pending)


def _act(action: Callable[[], None]) -> Response:
    """Run a queue action: 409 when it does not fit the item's state, 404 for an item not there (or not granted)."""
    try:
        action()
    except QueueError as exc:
        raise HTTPException(409, str(exc)) from None
    except NotFound:
        raise HTTPException(404, "no such item") from None
    return RedirectResponse("/console/queue", status_code=303)


@router.post("/items/{item_id}/claim")
async def claim(state: State, staff: Actor, item_id: int) -> Response:
    return _act(lambda: state.queue.claim(item_id, staff.username, staff.grants))


@router.post("/items/{item_id}/acknowledge")
async def acknowledge(state: State, staff: Actor, item_id: int) -> Response:
    return _act(lambda: state.queue.acknowledge(item_id, staff.username, staff.grants))


@router.post("/items/{item_id}/resolve")
async def resolve(state: State, staff: Actor, item_id: int, outcome: str = Form(...), note: str = Form("")) -> Response:
    return _act(lambda: state.queue.resolve(item_id, staff.username, outcome, note, staff.grants))


@router.post("/items/{item_id}/release")
async def release(state: State, staff: Actor, item_id: int, release: str = Form(...), text: str = Form("")) -> Response:
    queue = state.queue
    try:
        item = queue.get(item_id, staff.grants)  # another tenant's item: 404 before anything is read
    except NotFound:
        raise HTTPException(404, "no such item") from None
    if release == "approved":
        text = queue.pending_reply(item_id, staff.grants) or ""
    elif release == "rejected":
        locale = state.store.conversation_info(item.conversation_id)["locale"]
        text = state.gateway.guard.policy.message("reply_replaced", locale)
    elif release == "edited" and not text.strip():
        raise HTTPException(400, "text: an edited reply cannot be empty")
    return _act(lambda: queue.release(item_id, staff.username, release, text, staff.grants))
