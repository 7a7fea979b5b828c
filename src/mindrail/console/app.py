"""The clinician console, served by the same process as the gateway: login, review queue, conversation view, audit
log, users. Server-rendered (Jinja2), no JavaScript needed.

Access is by role (``PERMISSIONS``); every page and action checks it, and tests walk the whole matrix. Staff see
only the tenants they are granted (console.accounts): queue, held replies, conversations, dashboard and audit log
are filtered, and a conversation or item of another tenant is 404, as if it did not exist. Every view of a
conversation is written to the audit log (who, when, which conversation). State-changing requests need the
session's CSRF token; the login form carries its own (a signed double-submit token), so a forged login cannot
put a browser in an attacker's session. Cookies are HttpOnly and SameSite=Strict, and Secure when the request
came over HTTPS or the deployment says a TLS-terminating proxy stands in front (``secure_cookie``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Callable
from importlib import resources
from typing import Any

from fastapi import APIRouter, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from mindrail.console import dashboard
from mindrail.console.accounts import Accounts, LoginError, Role, Staff
from mindrail.console.queue import OUTCOMES, QueueError, ReviewQueue
from mindrail.gateway.service import Gateway
from mindrail.risk.types import Level
from mindrail.store import NotFound
from mindrail.store.models import utcnow

COOKIE = "mr_staff"
LOGIN_COOKIE = "mr_login"
"""The login form's CSRF nonce: the form must carry its HMAC (``_login_token``)."""

PERMISSIONS: dict[str, frozenset[Role]] = {
    "queue.view": frozenset({Role.CLINICIAN}),
    "queue.act": frozenset({Role.CLINICIAN}),
    "conversation.view": frozenset({Role.CLINICIAN}),
    "dashboard.view": frozenset({Role.CLINICIAN, Role.AUDITOR}),
    "audit.view": frozenset({Role.AUDITOR, Role.ADMIN}),
    "users.manage": frozenset({Role.ADMIN}),
}
HOME = {Role.CLINICIAN: "/console/queue", Role.AUDITOR: "/console/dashboard", Role.ADMIN: "/console/users"}


class _Redirect(Exception):
    def __init__(self, to: str) -> None:
        self.to = to


def add_console_routes(
    app: FastAPI, gateway: Gateway, *, secure_cookie: bool = False, sla_minutes: dict[Level, int] | None = None
) -> None:
    """``secure_cookie``: always mark cookies Secure (behind a TLS-terminating proxy that talks plain HTTP to
    us); otherwise they are Secure when the request itself came over HTTPS."""
    store = gateway.store
    login_secret = store.keys.derive("console-login-csrf")
    accounts = Accounts(store)
    queue = ReviewQueue(store, sla_minutes)
    env = Environment(loader=PackageLoader("mindrail.console", "templates"), autoescape=select_autoescape(["html"]))
    env.globals["OUTCOMES"] = OUTCOMES
    env.filters["level"] = lambda v: Level(int(v)).label
    router = APIRouter(prefix="/console")
    app.state.console_accounts = accounts

    def render(name: str, staff: Staff | None = None, status: int = 200, **ctx: Any) -> HTMLResponse:
        html = env.get_template(name).render(staff=staff, perms=_perms(staff), **ctx)
        return HTMLResponse(
            html,
            status_code=status,
            headers={
                "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "no-store",
                "Referrer-Policy": "no-referrer",
            },
        )

    def _perms(staff: Staff | None) -> set[str]:
        return {p for p, roles in PERMISSIONS.items() if staff is not None and staff.role in roles}

    def current(request: Request, permission: str) -> Staff:
        staff = accounts.session(request.cookies.get(COOKIE))
        if staff is None:
            raise _Redirect("/console/login")
        if staff.role not in PERMISSIONS[permission]:
            raise HTTPException(403, "your role cannot do this")
        return staff

    def csrf(staff: Staff, token: str) -> None:
        if not token or not hmac.compare_digest(token.encode(), staff.csrf.encode()):
            raise HTTPException(403, "invalid CSRF token")

    def secure(request: Request) -> bool:
        return secure_cookie or request.url.scheme == "https"

    def _login_token(nonce: str) -> str:
        return hmac.new(login_secret, nonce.encode(), hashlib.sha256).hexdigest()

    def login_form(request: Request, status: int = 200, error: str | None = None) -> HTMLResponse:
        """The login page with a fresh nonce cookie and the token the form must send back with it."""
        nonce = secrets.token_urlsafe(24)
        resp = render("login.html", status=status, error=error, csrf_token=_login_token(nonce))
        resp.set_cookie(
            LOGIN_COOKIE,
            nonce,
            max_age=3600,
            httponly=True,
            samesite="strict",
            secure=secure(request),
            path="/console",
        )
        return resp

    @app.exception_handler(_Redirect)
    async def redirect(request: Request, exc: _Redirect) -> Response:
        return RedirectResponse(exc.to, status_code=303)

    @router.get("/static/console.css", include_in_schema=False)
    async def css() -> Response:
        body = resources.files("mindrail.console").joinpath("static").joinpath("console.css").read_text("utf-8")
        return Response(body, media_type="text/css")

    # ------------------------------------------------------------------ login
    @router.get("/login", response_class=HTMLResponse)
    async def login_page(request: Request) -> HTMLResponse:
        return login_form(request)

    @router.post("/login")
    async def login(
        request: Request, username: str = Form(...), password: str = Form(...), csrf_token: str = Form("")
    ) -> Response:
        nonce = request.cookies.get(LOGIN_COOKIE, "")
        if not nonce or not hmac.compare_digest(csrf_token.encode(), _login_token(nonce).encode()):
            return login_form(request, 403, "This login form has expired. Please log in again.")
        client = request.client.host if request.client else "unknown"
        try:
            token, staff = accounts.login(username, password, client)
        except LoginError as exc:
            return login_form(request, 401, str(exc))
        resp = RedirectResponse(HOME[staff.role], status_code=303)
        # A fresh token on every login: a session id planted before login is never promoted (no fixation).
        resp.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=secure(request), path="/console")
        resp.delete_cookie(LOGIN_COOKIE, path="/console", secure=secure(request), httponly=True, samesite="strict")
        return resp

    @router.post("/logout")
    async def logout(request: Request, csrf_token: str = Form("")) -> Response:
        staff = accounts.session(request.cookies.get(COOKIE))
        if staff is not None:
            csrf(staff, csrf_token)
            accounts.logout(staff)
        resp = RedirectResponse("/console/login", status_code=303)
        resp.delete_cookie(COOKIE, path="/console")
        return resp

    @router.get("", response_class=HTMLResponse)
    async def home(request: Request) -> Response:
        staff = accounts.session(request.cookies.get(COOKIE))
        return RedirectResponse(HOME[staff.role] if staff else "/console/login", status_code=303)

    # ------------------------------------------------------------------ queue
    @router.get("/queue", response_class=HTMLResponse)
    async def queue_page(request: Request) -> HTMLResponse:
        staff = current(request, "queue.view")
        items = queue.items(grants=staff.grants)
        pending = {
            it.id: queue.pending_reply(it.id, staff.grants)
            for it in items
            if it.kind == "hold" and it.claimed_by == staff.username
        }
        return render("queue.html", staff, items=items, pending=pending)

    def _act(action: Callable[[], None], staff: Staff) -> Response:
        try:
            action()
        except QueueError as exc:
            raise HTTPException(409, str(exc)) from None
        except NotFound:
            raise HTTPException(404, "no such item") from None
        return RedirectResponse("/console/queue", status_code=303)

    @router.post("/items/{item_id}/claim")
    async def claim(request: Request, item_id: int, csrf_token: str = Form("")) -> Response:
        staff = current(request, "queue.act")
        csrf(staff, csrf_token)
        return _act(lambda: queue.claim(item_id, staff.username, staff.grants), staff)

    @router.post("/items/{item_id}/acknowledge")
    async def acknowledge(request: Request, item_id: int, csrf_token: str = Form("")) -> Response:
        staff = current(request, "queue.act")
        csrf(staff, csrf_token)
        return _act(lambda: queue.acknowledge(item_id, staff.username, staff.grants), staff)

    @router.post("/items/{item_id}/resolve")
    async def resolve(
        request: Request, item_id: int, outcome: str = Form(...), note: str = Form(""), csrf_token: str = Form("")
    ) -> Response:
        staff = current(request, "queue.act")
        csrf(staff, csrf_token)
        return _act(lambda: queue.resolve(item_id, staff.username, outcome, note, staff.grants), staff)

    @router.post("/items/{item_id}/release")
    async def release(
        request: Request,
        item_id: int,
        release: str = Form(...),
        text: str = Form(""),
        csrf_token: str = Form(""),
    ) -> Response:
        staff = current(request, "queue.act")
        csrf(staff, csrf_token)
        try:
            item = queue.get(item_id, staff.grants)  # another tenant's item: 404 before anything is read
        except NotFound:
            raise HTTPException(404, "no such item") from None
        if release == "approved":
            text = queue.pending_reply(item_id, staff.grants) or ""
        elif release == "rejected":
            locale = store.conversation_info(item.conversation_id)["locale"]
            text = gateway.guard.policy.message("reply_replaced", locale)
        elif release == "edited" and not text.strip():
            raise HTTPException(400, "text: an edited reply cannot be empty")
        return _act(lambda: queue.release(item_id, staff.username, release, text, staff.grants), staff)

    # ------------------------------------------------------------------ conversations
    @router.get("/conversations/{cid}", response_class=HTMLResponse)
    async def conversation(request: Request, cid: str) -> HTMLResponse:
        staff = current(request, "conversation.view")
        try:
            info = store.conversation_info(cid)
        except NotFound:
            raise HTTPException(404, "no such conversation") from None
        if not staff.grants.allows(info["tenant"]):
            raise HTTPException(404, "no such conversation")
        turns = store.transcript(cid, include_withheld=True)
        store.audit("conversation_viewed", staff.actor, cid, {"role": staff.role.value})
        rights = [
            e
            for e in store.audit_events(cid, limit=500)
            if e["kind"] in ("data_exported", "consent_withdrawn", "consent_given")
        ]
        return render(
            "conversation.html",
            staff,
            info=info,
            turns=[_with_highlights(t) for t in turns],
            consents=store.consents(cid),
            rights=rights,
        )

    # ------------------------------------------------------------------ dashboard
    @router.get("/dashboard", response_class=HTMLResponse)
    async def dashboard_page(request: Request, days: int = 30) -> HTMLResponse:
        staff = current(request, "dashboard.view")
        days = max(1, min(days, 366))
        end = utcnow() + dt.timedelta(seconds=1)
        start = end - dt.timedelta(days=days)
        data = dashboard.compute(store, start, end, queue, staff.grants)
        counts = dict(data.per_day)
        first = start.date()
        days_axis = [first + dt.timedelta(days=i) for i in range((end.date() - first).days + 1)]
        volume = dashboard.bar_chart([(d.isoformat(), counts.get(d, 0)) for d in days_axis], "Conversations per day")
        shares = dashboard.share_chart(data.level_share, "Share of conversations by highest level")
        return render("dashboard.html", staff, d=data, days=days, volume_svg=volume, share_svg=shares)

    # ------------------------------------------------------------------ audit and users
    @router.get("/audit", response_class=HTMLResponse)
    async def audit_page(request: Request) -> HTMLResponse:
        staff = current(request, "audit.view")
        report = store.verify_audit()
        events = store.audit_events(limit=200, grants=staff.grants)
        return render("audit.html", staff, events=events, report=report)

    @router.get("/users", response_class=HTMLResponse)
    async def users_page(request: Request) -> HTMLResponse:
        staff = current(request, "users.manage")
        return render("users.html", staff, users=accounts.list_users())

    @router.post("/users")
    async def add_user(
        request: Request,
        username: str = Form(...),
        role: str = Form(...),
        password: str = Form(...),
        tenants: str = Form(""),
        csrf_token: str = Form(""),
    ) -> Response:
        staff = current(request, "users.manage")
        csrf(staff, csrf_token)
        granted = [t.strip() for t in tenants.split(",") if t.strip()]
        try:
            accounts.add_user(username, role, password, actor=staff.actor, tenants=granted)
        except ValueError as exc:
            return render("users.html", staff, users=accounts.list_users(), error=str(exc), status=400)
        return RedirectResponse("/console/users", status_code=303)

    app.include_router(router)


def _with_highlights(turn: dict[str, Any]) -> dict[str, Any]:
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
