"""Signing in and out, the console's home redirect and its stylesheet."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mindrail.console.accounts import LoginError
from mindrail.console.web import COOKIE, HOME, LOGIN_COOKIE, MaybeStaff, State, check_csrf

router = APIRouter(prefix="/console")


@router.get("/static/console.css", include_in_schema=False)
async def css() -> Response:
    body = resources.files("mindrail.console").joinpath("static").joinpath("console.css").read_text("utf-8")
    return Response(body, media_type="text/css")


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, state: State) -> HTMLResponse:
    return state.login_form(request)


@router.post("/login")
async def login(
    request: Request,
    state: State,
    username: str = Form(...),
    password: str = Form(...),
    csrf_token: str = Form(""),
) -> Response:
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    if not nonce or not state.login_token_ok(nonce, csrf_token):
        return state.login_form(request, 403, "This login form has expired. Please log in again.")
    client = request.client.host if request.client else "unknown"
    try:
        token, staff = state.accounts.login(username, password, client)
    except LoginError as exc:
        return state.login_form(request, 401, str(exc))
    resp = RedirectResponse(HOME[staff.role], status_code=303)
    secure = state.secure(request)
    # A fresh token on every login: a session id planted before login is never promoted (no fixation).
    resp.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=secure, path="/console")
    resp.delete_cookie(LOGIN_COOKIE, path="/console", secure=secure, httponly=True, samesite="strict")
    return resp


@router.post("/logout")
async def logout(state: State, staff: MaybeStaff, csrf_token: str = Form("")) -> Response:
    if staff is not None:
        check_csrf(staff, csrf_token)
        state.accounts.logout(staff)
    resp = RedirectResponse("/console/login", status_code=303)
    resp.delete_cookie(COOKIE, path="/console")
    return resp


@router.get("", response_class=HTMLResponse)
async def home(staff: MaybeStaff) -> Response:
    return RedirectResponse(HOME[staff.role] if staff else "/console/login", status_code=303)
