"""The person's chat page, served by the gateway: consent screen, AI disclosure, the chat, and a crisis-resources
button that is always visible. Server-rendered HTML with a little vanilla JavaScript; no front-end build.

The page talks to ``/chat/api/*`` with a signed, HttpOnly, SameSite=Strict cookie naming the conversation; every
state-changing call must also carry the ``X-Mindrail-Chat`` header, which a cross-site form cannot send (CSRF).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

from fastapi import APIRouter, FastAPI, Header, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from mindrail.gateway.pipeline import TurnResult
from mindrail.gateway.service import Gateway
from mindrail.policy.consent import default_consent
from mindrail.policy.resources import normalise_locale

COOKIE = "mr_chat"
CSRF_HEADER = "x-mindrail-chat"


class StartIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    consent_version: str = Field(min_length=1, max_length=64)
    locale: str | None = Field(default=None, max_length=16)


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=20_000)


def _static(name: str) -> str:
    return resources.files("mindrail.gateway").joinpath("static").joinpath(name).read_text("utf-8")


class _Signer:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def sign(self, cid: str) -> str:
        mac = hmac.new(self._secret, cid.encode(), hashlib.sha256).digest()[:16]
        return f"{cid}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"

    def verify(self, token: str | None) -> str | None:
        if not token or "." not in token:
            return None
        cid, _ = token.rsplit(".", 1)
        return cid if hmac.compare_digest(self.sign(cid), token) else None


def _page(gateway: Gateway, locale: str) -> str:
    consent = default_consent()
    key, loc = gateway.guard.policy.resources.for_locale(locale)
    services = "".join(
        f"<li><strong>{html.escape(s.name)}</strong>: {html.escape(s.contact_line().split(': ', 1)[1])}</li>"
        for s in loc.services
    )
    emergency = html.escape(loc.emergency.details())
    paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in consent.paragraphs)
    return (
        _static("chat.html")
        .replace("{{title}}", html.escape(consent.title))
        .replace("{{consent_paragraphs}}", paragraphs)
        .replace("{{consent_version}}", html.escape(consent.version))
        .replace("{{disclosure}}", html.escape(consent.disclosure))
        .replace("{{services}}", services)
        .replace("{{emergency}}", emergency)
        .replace("{{locale}}", html.escape(key))
    )


def add_chat_routes(app: FastAPI, gateway: Gateway, secret: bytes, *, secure_cookie: bool = False) -> None:
    router = APIRouter()
    signer = _Signer(secret)

    def conversation(request: Request) -> str:
        cid = signer.verify(request.cookies.get(COOKIE))
        if cid is None:
            raise HTTPException(401, "no chat session: accept the consent screen first")
        return cid

    def csrf(x_mindrail_chat: str | None) -> None:
        if x_mindrail_chat != "1":
            raise HTTPException(403, "missing X-Mindrail-Chat header")

    @router.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/chat")

    @router.get("/chat", response_class=HTMLResponse, include_in_schema=False)
    async def page(request: Request, locale: str | None = None) -> HTMLResponse:
        loc = normalise_locale(locale) or normalise_locale(request.headers.get("accept-language", "").split(",")[0])
        return HTMLResponse(
            _page(gateway, loc or (gateway.config.default_locale or "")),
            headers={
                "Content-Security-Policy": "default-src 'self'; style-src 'self'; script-src 'self'; "
                "connect-src 'self'; frame-ancestors 'none'",
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
            },
        )

    @router.get("/chat/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        types = {"chat.js": "text/javascript", "chat.css": "text/css"}
        if name not in types:
            raise HTTPException(404, "not found")
        return Response(_static(name), media_type=types[name], headers={"Cache-Control": "no-cache"})

    @router.post("/chat/api/start")
    async def start(body: StartIn, x_mindrail_chat: str | None = Header(default=None)) -> JSONResponse:
        csrf(x_mindrail_chat)
        if body.consent_version != default_consent().version:
            raise HTTPException(409, "the consent text has changed: reload the page")
        cid = await gateway.start(body.consent_version, body.locale, "chat-page")
        resp = JSONResponse({"ok": True})
        resp.set_cookie(COOKIE, signer.sign(cid), httponly=True, samesite="strict", secure=secure_cookie, path="/chat")
        return resp

    @router.post("/chat/api/message")
    async def message(
        request: Request, body: MessageIn, x_mindrail_chat: str | None = Header(default=None)
    ) -> Response:
        csrf(x_mindrail_chat)
        cid = conversation(request)
        await gateway.session(cid)  # consent errors become a 403 before the stream starts

        async def events() -> AsyncIterator[str]:
            async for item in gateway.stream(cid, body.text):
                if isinstance(item, TurnResult):
                    meta = {
                        "source": item.source.value,
                        "crisis": item.source.value == "crisis_protocol",
                        "held": item.source.value == "held",
                    }
                    yield f"event: done\ndata: {json.dumps(meta)}\n\n"
                elif item:
                    yield f"data: {json.dumps({'text': item})}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    @router.get("/chat/api/updates")
    async def updates(request: Request) -> dict[str, Any]:
        return {"released": await gateway.updates(conversation(request))}

    @router.post("/chat/api/withdraw")
    async def withdraw(request: Request, x_mindrail_chat: str | None = Header(default=None)) -> dict[str, Any]:
        csrf(x_mindrail_chat)
        await gateway.withdraw(conversation(request))
        return {"consent": "withdrawn"}

    @router.get("/chat/api/export")
    async def export(request: Request) -> JSONResponse:
        data = await gateway.export(conversation(request))
        return JSONResponse(data, headers={"Content-Disposition": 'attachment; filename="my-conversation.json"'})

    @router.post("/chat/api/delete")
    async def delete(request: Request, x_mindrail_chat: str | None = Header(default=None)) -> JSONResponse:
        csrf(x_mindrail_chat)
        counts = await gateway.delete(conversation(request))
        resp = JSONResponse({"deleted": counts})
        resp.delete_cookie(COOKIE, path="/chat")
        return resp

    app.include_router(router)
