"""What every console route shares: the state the app factory puts on ``app.state.console``, page rendering with
the console's security headers, and the FastAPI dependencies that read the signed-in member of staff, check their
role (``PERMISSIONS``) and the session's CSRF token.

Not signed in: a redirect to the login page (``Redirect``, turned into a 303 by the handler the app factory
registers). Signed in without the permission, or a missing or wrong CSRF token: 403.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from mindrail.console.accounts import Accounts, Role, Staff
from mindrail.console.queue import OUTCOMES, ReviewQueue
from mindrail.gateway.service import Gateway
from mindrail.risk.types import Level
from mindrail.store import Store

COOKIE = "mr_staff"
LOGIN_COOKIE = "mr_login"
"""The login form's CSRF nonce: the form must carry its HMAC (``ConsoleState.login_token``)."""

PERMISSIONS: dict[str, frozenset[Role]] = {
    "queue.view": frozenset({Role.CLINICIAN}),
    "queue.act": frozenset({Role.CLINICIAN}),
    "conversation.view": frozenset({Role.CLINICIAN}),
    "dashboard.view": frozenset({Role.CLINICIAN, Role.AUDITOR}),
    "audit.view": frozenset({Role.AUDITOR, Role.ADMIN}),
    "users.manage": frozenset({Role.ADMIN}),
    "practice.use": frozenset({Role.TRAINEE, Role.TRAINER}),
    "practice.review": frozenset({Role.TRAINER}),
}
HOME = {
    Role.CLINICIAN: "/console/queue",
    Role.AUDITOR: "/console/dashboard",
    Role.ADMIN: "/console/users",
    Role.TRAINER: "/console/trainees",
    Role.TRAINEE: "/console/practice",
}
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}


class Redirect(Exception):
    """Send the browser elsewhere (303); raised by dependencies, which cannot return a response."""

    def __init__(self, to: str) -> None:
        self.to = to


def _templates() -> Environment:
    env = Environment(loader=PackageLoader("mindrail.console", "templates"), autoescape=select_autoescape(["html"]))
    env.globals["OUTCOMES"] = OUTCOMES
    env.filters["level"] = lambda v: Level(int(v)).label
    return env


def _perms(staff: Staff | None) -> set[str]:
    return {p for p, roles in PERMISSIONS.items() if staff is not None and staff.role in roles}


@dataclass
class ConsoleState:
    """Built once by the app factory; routes reach it through the ``State`` dependency."""

    gateway: Gateway
    accounts: Accounts
    queue: ReviewQueue
    login_secrets: tuple[bytes, ...]
    """The login form's token secrets: the active key's (signs) first, then the ring's other keys' (accepted)."""
    secure_cookie: bool = False
    """Always mark cookies Secure (a TLS-terminating proxy talks plain HTTP to us); otherwise they are Secure
    when the request itself came over HTTPS."""
    env: Environment | None = None

    @classmethod
    def build(cls, gateway: Gateway, *, secure_cookie: bool, sla_minutes: Mapping[Level, int] | None) -> ConsoleState:
        store = gateway.store
        return cls(
            gateway,
            Accounts(store),
            ReviewQueue(store, sla_minutes),
            store.keys.derive_all("console-login-csrf"),
            secure_cookie,
            _templates(),
        )

    @property
    def store(self) -> Store:
        return self.gateway.store

    def render(self, name: str, staff: Staff | None = None, status: int = 200, **ctx: Any) -> HTMLResponse:
        assert self.env is not None
        html = self.env.get_template(name).render(staff=staff, perms=_perms(staff), **ctx)
        return HTMLResponse(html, status_code=status, headers=HEADERS)

    def secure(self, request: Request) -> bool:
        return self.secure_cookie or request.url.scheme == "https"

    def login_token(self, nonce: str) -> str:
        return hmac.new(self.login_secrets[0], nonce.encode(), hashlib.sha256).hexdigest()

    def login_token_ok(self, nonce: str, token: str) -> bool:
        """Whether ``token`` is the form token for ``nonce`` under any key of the ring (a form served by an
        instance whose active key differs mid-rotation still logs in)."""
        expected = [hmac.new(k, nonce.encode(), hashlib.sha256).hexdigest().encode() for k in self.login_secrets]
        return any([hmac.compare_digest(token.encode(), e) for e in expected])

    def login_form(self, request: Request, status: int = 200, error: str | None = None) -> HTMLResponse:
        """The login page with a fresh nonce cookie and the token the form must send back with it."""
        nonce = secrets.token_urlsafe(24)
        resp = self.render("login.html", status=status, error=error, csrf_token=self.login_token(nonce))
        resp.set_cookie(
            LOGIN_COOKIE,
            nonce,
            max_age=3600,
            httponly=True,
            samesite="strict",
            secure=self.secure(request),
            path="/console",
        )
        return resp


async def console_state(request: Request) -> ConsoleState:
    state: ConsoleState = request.app.state.console
    return state


State = Annotated[ConsoleState, Depends(console_state)]


async def session_staff(request: Request, state: State) -> Staff | None:
    """Who is signed in, if anyone (the session's idle timer restarts). Async, so it runs on the event loop as
    the route handlers do, not in a worker thread."""
    return state.accounts.session(request.cookies.get(COOKIE))


MaybeStaff = Annotated[Staff | None, Depends(session_staff)]


def check_csrf(staff: Staff, token: str) -> None:
    if not token or not hmac.compare_digest(token.encode(), staff.csrf.encode()):
        raise HTTPException(403, "invalid CSRF token")


def signed_in(permission: str) -> Callable[[Staff | None], Awaitable[Staff]]:
    """A dependency: the signed-in member of staff, if their role has ``permission``."""

    async def dependency(staff: MaybeStaff) -> Staff:
        if staff is None:
            raise Redirect("/console/login")
        if staff.role not in PERMISSIONS[permission]:
            raise HTTPException(403, "your role cannot do this")
        return staff

    return dependency


def acting(permission: str) -> Callable[[Staff, str], Awaitable[Staff]]:
    """A dependency for state-changing forms: ``signed_in(permission)`` and the session's CSRF token."""

    allowed = signed_in(permission)

    # The dependency is a default, not an Annotated hint: hints are strings here (PEP 563) and FastAPI resolves
    # them in the module's globals, where ``allowed`` does not exist.
    async def dependency(staff: Staff = Depends(allowed), csrf_token: str = Form("")) -> Staff:
        check_csrf(staff, csrf_token)
        return staff

    return dependency
