"""The practice page (trainees) and the trainer's view: practise with a simulated person, with feedback on every
turn, finish, read the report and progress; trainers see every trainee's sessions and comment on them. Training
only: every page says the person is simulated, and these roles never see a person's conversation.

A session is rebuilt on every request from its card, seed and the trainee's stored turns (``practice.session
.replay``), so any instance can serve it and nothing lives in memory."""

from __future__ import annotations

import io
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from mindrail.console.accounts import Role, Staff
from mindrail.console.web import HEADERS, State, acting, signed_in
from mindrail.practice.cards import Module, PersonaCard, card, cards
from mindrail.practice.coder import default_coder
from mindrail.practice.report import module_file, progress_rows, report, to_html
from mindrail.practice.session import PracticeSession, replay
from mindrail.store.errors import Conflict, NotFound
from mindrail.store.practice import PracticeEntry

router = APIRouter(prefix="/console")
MAX_TURN = 2000


def _card(card_id: str) -> PersonaCard:
    try:
        return card(card_id)
    except KeyError:
        raise HTTPException(404, "no such practice card") from None


def _reviewable(state: State, staff: Staff) -> set[str]:
    """The trainees whose sessions this trainer may see: those sharing one of the trainer's tenants, so a trainer of
    one client organisation never sees another's trainees; a trainee granted no tenant belongs to the whole
    installation (a single-organisation install that never grants tenants) and every trainer sees them."""
    return {
        a.username
        for a in state.store.staff_accounts()
        if a.role == Role.TRAINEE.value and (not a.grants.tenants or staff.grants.shares(a.grants))
    }


def _entry(state: State, staff: Staff, sid: str, *, own: bool = False) -> PracticeEntry:
    """The session, if this member of staff may see it: its trainee always; a trainer of the trainee's tenants
    unless ``own``. Any other session is 404, as if it did not exist."""
    try:
        entry = state.store.practice_session(sid)
    except NotFound:
        raise HTTPException(404, "no such practice session") from None
    if entry.trainee == staff.username:
        return entry
    if own or staff.role != Role.TRAINER or entry.trainee not in _reviewable(state, staff):
        raise HTTPException(404, "no such practice session")
    return entry


def _session(entry: PracticeEntry) -> PracticeSession:
    return replay(
        _card(entry.card_id),
        default_coder(),
        entry.turns,
        seed=entry.seed,
        feedback=entry.feedback_on,
        started=entry.started_at,
    )


def _report(entry: PracticeEntry) -> dict[str, Any]:
    if entry.report is not None:
        return entry.report
    s = _session(entry)
    return report(s.card, s.finish()).to_dict()


@router.get("/practice", response_class=HTMLResponse)
async def practice_home(state: State, staff: Annotated[Staff, Depends(signed_in("practice.use"))]) -> HTMLResponse:
    mine = state.store.practice_sessions(staff.username)
    rows = progress_rows([e.report for e in mine if e.report is not None])
    modules = {m: spec.title for m, spec in module_file().modules.items()}
    return state.render("practice.html", staff, cards=cards(), sessions=mine, rows=rows, modules=modules)


@router.get("/practice/progress.png")
async def practice_plot(state: State, staff: Annotated[Staff, Depends(signed_in("practice.use"))]) -> Response:
    from mindrail.practice.progress import plot_progress

    rows = progress_rows([e.report for e in state.store.practice_sessions(staff.username) if e.report is not None])
    if not rows:
        raise HTTPException(404, "no finished sessions yet")
    buf = io.BytesIO()
    plot_progress(rows, buf, title=f"Practice progress: {staff.username}")
    return Response(buf.getvalue(), media_type="image/png", headers=HEADERS)


@router.post("/practice")
async def practice_start(
    state: State,
    staff: Annotated[Staff, Depends(acting("practice.use"))],
    card_id: str = Form(...),
    feedback: str = Form(""),
) -> Response:
    _card(card_id)
    sid = state.store.start_practice(staff.username, card_id, feedback_on=feedback == "on")
    return RedirectResponse(f"/console/practice/{sid}", status_code=303)


@router.get("/practice/{sid}", response_class=HTMLResponse)
async def practice_page(
    state: State, staff: Annotated[Staff, Depends(signed_in("practice.use"))], sid: str
) -> Response:
    entry = _entry(state, staff, sid, own=True)
    if entry.finished_at is not None:
        return RedirectResponse(f"/console/practice/{sid}/report", status_code=303)
    s = _session(entry)
    return state.render(
        "practice_session.html",
        staff,
        entry=entry,
        card=s.card,
        record=s.record,
        feedback_on=entry.feedback_on,
        max_turn=MAX_TURN,
    )


def _finish(state: State, entry: PracticeEntry, session: PracticeSession) -> None:
    rep = report(session.card, session.finish(resolved=session.record.resolved))
    state.store.finish_practice(entry.id, rep.to_dict(), rep.rating)


@router.post("/practice/{sid}/turn")
async def practice_turn(
    state: State,
    staff: Annotated[Staff, Depends(acting("practice.use"))],
    sid: str,
    text: str = Form(""),
) -> Response:
    entry = _entry(state, staff, sid, own=True)
    if entry.finished_at is not None:
        return RedirectResponse(f"/console/practice/{sid}/report", status_code=303)
    text = text.strip()
    if not text or len(text) > MAX_TURN:
        raise HTTPException(400, f"a turn is 1-{MAX_TURN} characters")
    s = _session(entry)
    s.step(text)
    try:
        state.store.add_practice_turn(sid, text, expected_turns=len(entry.turns))
    except Conflict:
        return RedirectResponse(f"/console/practice/{sid}", status_code=303)
    if s.ended:
        _finish(state, state.store.practice_session(sid), s)
        return RedirectResponse(f"/console/practice/{sid}/report", status_code=303)
    return RedirectResponse(f"/console/practice/{sid}#latest", status_code=303)


@router.post("/practice/{sid}/finish")
async def practice_finish(state: State, staff: Annotated[Staff, Depends(acting("practice.use"))], sid: str) -> Response:
    entry = _entry(state, staff, sid, own=True)
    if entry.finished_at is None:
        _finish(state, entry, _session(entry))
    return RedirectResponse(f"/console/practice/{sid}/report", status_code=303)


@router.get("/practice/{sid}/report", response_class=HTMLResponse)
async def practice_report(
    state: State, staff: Annotated[Staff, Depends(signed_in("practice.use"))], sid: str
) -> HTMLResponse:
    entry = _entry(state, staff, sid)
    rep = _report(entry)
    title = module_file().modules[Module(rep["card"]["module"])].title
    return state.render(
        "practice_report.html", staff, entry=entry, r=rep, title=title, comments=state.store.practice_comments(sid)
    )


@router.get("/practice/{sid}/report.json")
async def practice_report_json(
    state: State, staff: Annotated[Staff, Depends(signed_in("practice.use"))], sid: str
) -> JSONResponse:
    entry = _entry(state, staff, sid)
    headers = {**HEADERS, "Content-Disposition": f'attachment; filename="practice-{sid}.json"'}
    return JSONResponse(_report(entry), headers=headers)


@router.get("/practice/{sid}/report.html", response_class=HTMLResponse)
async def practice_report_html(
    state: State, staff: Annotated[Staff, Depends(signed_in("practice.use"))], sid: str
) -> HTMLResponse:
    entry = _entry(state, staff, sid)
    headers = {**HEADERS, "Content-Disposition": f'attachment; filename="practice-{sid}.html"'}
    return HTMLResponse(to_html(_report(entry)), headers=headers)


@router.post("/practice/{sid}/comments")
async def practice_comment(
    state: State,
    staff: Annotated[Staff, Depends(acting("practice.review"))],
    sid: str,
    text: str = Form(""),
) -> Response:
    _entry(state, staff, sid)
    try:
        state.store.add_practice_comment(sid, staff.username, text)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    return RedirectResponse(f"/console/practice/{sid}/report#comments", status_code=303)


@router.get("/trainees", response_class=HTMLResponse)
async def trainees_page(state: State, staff: Annotated[Staff, Depends(signed_in("practice.review"))]) -> HTMLResponse:
    mine = _reviewable(state, staff)
    by: dict[str, list[PracticeEntry]] = {}
    for e in state.store.practice_sessions():
        if e.trainee in mine:
            by.setdefault(e.trainee, []).append(e)
    return state.render("trainees.html", staff, trainees=sorted(by.items()))
