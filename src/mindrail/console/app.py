"""The clinician console, served by the same process as the gateway: login, review queue, conversation view, audit
log, users. Server-rendered (Jinja2), no JavaScript needed.

Access is by role (``PERMISSIONS``); every page and action checks it, and tests walk the whole matrix. Staff see
only the tenants they are granted (console.accounts): queue, held replies, conversations, dashboard and audit log
are filtered, and a conversation or item of another tenant is 404, as if it did not exist. Every view of a
conversation is written to the audit log (who, when, which conversation). State-changing requests need the
session's CSRF token; the login form carries its own (a signed double-submit token), so a forged login cannot
put a browser in an attacker's session. Cookies are HttpOnly and SameSite=Strict, and Secure when the request
came over HTTPS or the deployment says a TLS-terminating proxy stands in front (``secure_cookie``).

The routes live in ``console.routes`` (module-level routers); what they share (state, rendering, the signed-in
member of staff, CSRF) in ``console.web``. This module only builds the state and includes the routers.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from mindrail.console.routes import ROUTERS
from mindrail.console.web import PERMISSIONS, ConsoleState, Redirect
from mindrail.gateway.service import Gateway
from mindrail.risk.types import Level

__all__ = ["PERMISSIONS", "add_console_routes"]


async def _redirect(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Redirect)
    return RedirectResponse(exc.to, status_code=303)


def add_console_routes(
    app: FastAPI, gateway: Gateway, *, secure_cookie: bool = False, sla_minutes: Mapping[Level, int] | None = None
) -> None:
    """``secure_cookie``: always mark cookies Secure (behind a TLS-terminating proxy that talks plain HTTP to
    us); otherwise they are Secure when the request itself came over HTTPS."""
    state = ConsoleState.build(gateway, secure_cookie=secure_cookie, sla_minutes=sla_minutes)
    app.state.console = state
    app.add_exception_handler(Redirect, _redirect)
    for router in ROUTERS:
        app.include_router(router)
