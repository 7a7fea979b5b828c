"""The person's chat page, served by the gateway: consent screen, AI disclosure, the chat, and a crisis-resources
button that is always visible. Server-rendered HTML with a little vanilla JavaScript; no front-end build.

The page talks to ``/chat/api/*`` with a signed, HttpOnly, SameSite=Strict cookie naming the conversation; every
state-changing call must also carry the ``X-Mindrail-Chat`` header, which a cross-site form cannot send (CSRF).

Crisis numbers are links (``tel:``, ``sms:``) so a person in crisis can call with one tap. They come only from the
locale's crisis resources (``policy/data/resources.yaml``): the dialog renders them, and the page is given the same
list to link those numbers, and no others, where they appear in a reply.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from mindrail.gateway.pipeline import TurnResult
from mindrail.gateway.service import Gateway
from mindrail.policy.consent import default_consent
from mindrail.policy.resources import Locale, Service, normalise_locale
from mindrail.store.tenancy import CHAT_PAGE_CALLER as PERSON

COOKIE = "mr_chat"
CSRF_HEADER = "x-mindrail-chat"


class StartIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    consent_version: str = Field(min_length=1, max_length=64)
    locale: str | None = Field(default=None, max_length=16)


# What the chat page sends for one message the person wrote (a comment: a docstring would change the schema).
class ChatPageMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=20_000)


def _static(name: str) -> str:
    return resources.files("mindrail.gateway").joinpath("static").joinpath(name).read_text("utf-8")


class Signer:
    """The chat page's cookie: a conversation id with a truncated HMAC, so a person reaches only the conversation
    the page started for them and cannot name another by editing the cookie."""

    def __init__(self, secret: bytes, *accepted: bytes) -> None:
        """Signs with ``secret``; also accepts cookies signed with ``accepted`` (secrets derived from the ring's
        other keys, so a cookie from an instance whose active key differs mid-rotation still opens the page)."""
        self._secret = secret
        self._accepted = (secret, *(a for a in accepted if a != secret))

    @staticmethod
    def _token(secret: bytes, cid: str) -> str:
        mac = hmac.new(secret, cid.encode(), hashlib.sha256).digest()[:16]
        return f"{cid}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"

    def sign(self, cid: str) -> str:
        return self._token(self._secret, cid)

    def verify(self, token: str | None) -> str | None:
        if not token or "." not in token:
            return None
        cid, _ = token.rsplit(".", 1)
        ok = [hmac.compare_digest(self._token(secret, cid), token) for secret in self._accepted]
        return cid if any(ok) else None


@dataclass(frozen=True, slots=True)
class Contact:
    """A crisis number as the page links it."""

    number: str
    """As written in the resources file ("116 123"): what the page finds in text and shows."""
    kind: Literal["tel", "sms"]
    href: str
    label: str
    """What a screen reader says for the link ("Call Samaritans on 116 123")."""


_KEYWORD = re.compile(r"\btext\s+([A-Za-z0-9]+)\s+to\b", re.IGNORECASE)


def _dial(number: str) -> str:
    return re.sub(r"[^0-9+]", "", number)


def _tel(number: str, label: str) -> Contact:
    return Contact(number, "tel", f"tel:{_dial(number)}", label)


def _sms(service: Service) -> Contact | None:
    if not service.text:
        return None
    keyword = _KEYWORD.search(service.text_instructions or "")
    body = f"?body={quote(keyword.group(1))}" if keyword else ""
    return Contact(service.text, "sms", f"sms:{_dial(service.text)}{body}", f"Text {service.name} on {service.text}")


def contacts(loc: Locale) -> list[Contact]:
    """Every number of a locale's crisis resources, with its link: the services' phone and text numbers and the
    emergency number. Nothing else is ever linked."""
    out: list[Contact] = []
    for s in loc.services:
        if s.phone:
            out.append(_tel(s.phone, f"Call {s.name} on {s.phone}"))
        sms = _sms(s)
        if sms is not None:
            out.append(sms)
    if loc.emergency.number:
        out.append(_tel(loc.emergency.number, f"Call emergency services on {loc.emergency.number}"))
    return out


def _link(c: Contact) -> str:
    return f'<a href="{html.escape(c.href)}" aria-label="{html.escape(c.label)}">{html.escape(c.number)}</a>'


def _service_html(s: Service) -> str:
    """The service's contact line (``Service.contact_line``) with its numbers and chat address as links."""
    parts = []
    if s.phone:
        parts.append("call " + _link(_tel(s.phone, f"Call {s.name} on {s.phone}")))
    sms = _sms(s)
    if sms is not None and not s.text_instructions:
        parts.append("text " + _link(sms))
    if s.text_instructions:
        words = s.text_instructions[:1].lower() + s.text_instructions[1:]
        if sms is not None and sms.number in words:
            before, after = words.split(sms.number, 1)
            parts.append(html.escape(before) + _link(sms) + html.escape(after))
        else:
            parts.append(html.escape(words))
    if s.chat_url:
        url = html.escape(str(s.chat_url))
        parts.append(f'chat at <a href="{url}" rel="noopener noreferrer">{url}</a>')
    return f"<li><strong>{html.escape(s.name)}</strong>: {', '.join(parts)} ({html.escape(s.hours)})</li>"


def _emergency_html(loc: Locale) -> str:
    e = loc.emergency
    if e.number:
        text = "call " + _link(_tel(e.number, f"Call emergency services on {e.number}"))
    else:
        text = html.escape(e.instructions or "")
    if e.directory_url:
        url = html.escape(str(e.directory_url))
        text += f' (directory: <a href="{url}" rel="noopener noreferrer">{url}</a>)'
    return text


def _page(gateway: Gateway, locale: str) -> str:
    consent = default_consent()
    key, loc = gateway.guard.policy.resources.for_locale(locale)
    services = "".join(_service_html(s) for s in loc.services)
    emergency = _emergency_html(loc)
    numbers = html.escape(json.dumps([asdict(c) for c in contacts(loc)]), quote=True)
    paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in consent.paragraphs)
    return (
        _static("chat.html")
        .replace("{{title}}", html.escape(consent.title))
        .replace("{{consent_paragraphs}}", paragraphs)
        .replace("{{consent_version}}", html.escape(consent.version))
        .replace("{{disclosure}}", html.escape(consent.disclosure))
        .replace("{{services}}", services)
        .replace("{{emergency}}", emergency)
        .replace("{{contacts}}", numbers)
        .replace("{{locale}}", html.escape(key))
    )


@dataclass(frozen=True, slots=True)
class ChatState:
    """What the chat page's routes read from ``app.state.chat``."""

    gateway: Gateway
    signer: Signer
    secure_cookie: bool = False


def chat_state(request: Request) -> ChatState:
    state: ChatState = request.app.state.chat
    return state


def _conversation(chat: ChatState, request: Request) -> str:
    """The conversation the signed cookie names (401 without one)."""
    cid = chat.signer.verify(request.cookies.get(COOKIE))
    if cid is None:
        raise HTTPException(401, "no chat session: accept the consent screen first")
    return cid


def _csrf(x_mindrail_chat: str | None) -> None:
    if x_mindrail_chat != "1":
        raise HTTPException(403, "missing X-Mindrail-Chat header")


async def _owned(chat: ChatState, request: Request) -> str:
    """The cookie's conversation, if it is the chat page's own tenant's (another's is 404 whatever the cookie
    names)."""
    cid = _conversation(chat, request)
    await chat.gateway.check_tenant(cid, PERSON)
    return cid


async def person_conversation(request: Request, chat: ChatState = Depends(chat_state)) -> str:
    """Dependency: the person's conversation, for a read."""
    return await _owned(chat, request)


async def person_conversation_write(
    request: Request, x_mindrail_chat: str | None = Header(default=None), chat: ChatState = Depends(chat_state)
) -> str:
    """Dependency: the person's conversation, for a state-changing call (the CSRF header is checked first)."""
    _csrf(x_mindrail_chat)
    return await _owned(chat, request)


router = APIRouter()
"""The chat page and its ``/chat/api/*`` calls; ``add_chat_routes`` gives them their state."""

PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self'; script-src 'self'; connect-src 'self'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@router.get("/", include_in_schema=False)
async def root() -> RedirectResponse:
    return RedirectResponse("/chat")


@router.get("/chat", response_class=HTMLResponse, include_in_schema=False)
async def page(request: Request, locale: str | None = None, chat: ChatState = Depends(chat_state)) -> HTMLResponse:
    loc = normalise_locale(locale) or normalise_locale(request.headers.get("accept-language", "").split(",")[0])
    return HTMLResponse(_page(chat.gateway, loc or (chat.gateway.config.default_locale or "")), headers=PAGE_HEADERS)


@router.get("/chat/static/{name}", include_in_schema=False)
async def static(name: str) -> Response:
    types = {"chat.js": "text/javascript", "chat.css": "text/css"}
    if name not in types:
        raise HTTPException(404, "not found")
    return Response(_static(name), media_type=types[name], headers={"Cache-Control": "no-cache"})


@router.post("/chat/api/start")
async def start(
    body: StartIn, x_mindrail_chat: str | None = Header(default=None), chat: ChatState = Depends(chat_state)
) -> JSONResponse:
    _csrf(x_mindrail_chat)
    if body.consent_version != default_consent().version:
        raise HTTPException(409, "the consent text has changed: reload the page")
    cid = await chat.gateway.start(body.consent_version, body.locale, PERSON)
    resp = JSONResponse({"ok": True})
    resp.set_cookie(
        COOKIE, chat.signer.sign(cid), httponly=True, samesite="strict", secure=chat.secure_cookie, path="/chat"
    )
    return resp


@router.post("/chat/api/message")
async def message(
    body: ChatPageMessage,
    cid: str = Depends(person_conversation_write),
    chat: ChatState = Depends(chat_state),
) -> Response:
    gateway = chat.gateway
    await gateway.session(cid)  # consent errors become a 403 before the stream starts

    async def events() -> AsyncIterator[str]:
        async for item in gateway.stream(cid, body.text, caller=PERSON):
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
async def updates(request: Request, chat: ChatState = Depends(chat_state)) -> dict[str, Any]:
    return {"released": await chat.gateway.updates(_conversation(chat, request), PERSON)}


@router.post("/chat/api/withdraw")
async def withdraw(
    request: Request, x_mindrail_chat: str | None = Header(default=None), chat: ChatState = Depends(chat_state)
) -> dict[str, Any]:
    _csrf(x_mindrail_chat)
    await chat.gateway.withdraw(_conversation(chat, request), PERSON)
    return {"consent": "withdrawn"}


@router.get("/chat/api/export")
async def export(request: Request, chat: ChatState = Depends(chat_state)) -> JSONResponse:
    data = await chat.gateway.export(_conversation(chat, request), PERSON)
    return JSONResponse(data, headers={"Content-Disposition": 'attachment; filename="my-conversation.json"'})


@router.post("/chat/api/delete")
async def delete(
    request: Request, x_mindrail_chat: str | None = Header(default=None), chat: ChatState = Depends(chat_state)
) -> JSONResponse:
    _csrf(x_mindrail_chat)
    counts = await chat.gateway.delete(_conversation(chat, request), PERSON)
    resp = JSONResponse({"deleted": counts})
    resp.delete_cookie(COOKIE, path="/chat")
    return resp


def add_chat_routes(
    app: FastAPI, gateway: Gateway, secret: bytes, *, secure_cookie: bool = False, accepted: tuple[bytes, ...] = ()
) -> None:
    """Serve the chat page from ``app``: its state (the gateway, the cookie signer from ``secret``, also accepting
    cookies signed with ``accepted``) and its routes."""
    from mindrail.gateway import chat_care

    app.state.chat = ChatState(gateway, Signer(secret, *accepted), secure_cookie)
    app.include_router(router)
    app.include_router(chat_care.router)
