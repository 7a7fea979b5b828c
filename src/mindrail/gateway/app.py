"""HTTP API (FastAPI): an OpenAI-compatible chat endpoint with the whole pipeline applied, screening, consent and
data-rights endpoints, health and Prometheus metrics.

Only the LAST user message of an OpenAI ``messages`` list is a new turn. The history the model sees is the one
mindrail recorded, so a client cannot inject fake assistant or system turns; client system messages and
``name`` fields are ignored (the policy's safety prompt is the only system prompt).
"""

from __future__ import annotations

import functools
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import anyio
import anyio.to_thread
from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from prometheus_client import generate_latest
from pydantic import BaseModel, ConfigDict, Field

from mindrail import __version__
from mindrail.gateway.edge import EdgeMiddleware, Identifier
from mindrail.gateway.pipeline import TurnResult
from mindrail.gateway.service import Gateway
from mindrail.risk.types import Assessment
from mindrail.store import ConsentRequired, NotFound

MAX_BODY_BYTES = 1_000_000


@dataclass(frozen=True, slots=True)
class ApiOptions:
    """Settings of the HTTP edge (`mindrail serve` flags and environment variables, see docs/gateway.md)."""

    max_body_bytes: int = MAX_BODY_BYTES
    screen_max_chars: int = 20_000
    """Longest text (or message) ``/v1/screen`` assesses; longer gets 413 naming the limit."""
    screen_concurrency: int = 1
    """Screenings running at once, each in a worker thread; more wait their turn without blocking the event loop.
    Screening is mostly Python holding the GIL: on 2 cores a second thread barely shortens a batch and doubles
    /healthz p99 (benchmarks/run_screen_load.py), so raise it only with cores to spare."""
    metrics_token: str | None = None
    """When set, ``/metrics`` needs ``Authorization: Bearer <token>``."""


# ---------------------------------------------------------------------------- schemas
class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = Field(default=None, description="Accepted for compatibility and ignored.")

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        if self.content is None:
            return ""
        return "\n".join(p.text or "" for p in self.content if p.type == "text")


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str | None = None
    messages: list[MessageIn] = Field(min_length=1)
    stream: bool = False
    conversation_id: Identifier | None = Field(
        default=None, description="mindrail conversation (or X-Mindrail-Conversation)."
    )
    locale: Identifier | None = Field(
        default=None, description="Crisis-resource locale, e.g. en-GB (or X-Mindrail-Locale)."
    )


class ConversationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    consent_version: Identifier = Field(
        min_length=1, max_length=64, description="Version of the consent text the person accepted."
    )
    locale: Identifier | None = Field(default=None, max_length=16)


class ScreenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str | None = None
    messages: list[MessageIn] | None = None


def _error(status: int, message: str, code: str, param: str | None = None) -> JSONResponse:
    return JSONResponse(
        status_code=status,
        content={"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}},
    )


def _loc(loc: tuple[Any, ...]) -> str:
    parts = [p for p in loc if p != "body"]
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "body"


# ---------------------------------------------------------------------------- app
def create_app(
    gateway: Gateway,
    *,
    require_api_key: bool = True,
    extra_routes: Callable[[FastAPI], None] | None = None,
    options: ApiOptions | None = None,
) -> FastAPI:
    opts = options or ApiOptions()
    app = FastAPI(
        title="mindrail gateway",
        version=__version__,
        description="A safety layer in front of any chat model: risk assessment, crisis protocol, reply checks, "
        "privacy, consent and an encrypted, tamper-evident record.",
    )
    app.state.gateway = gateway

    app.add_middleware(
        EdgeMiddleware,
        max_body_bytes=opts.max_body_bytes,
        too_large=lambda limit: _error(413, f"request body over {limit} bytes", "payload_too_large"),
    )

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": ("body",), "msg": "invalid request"}
        where = _loc(tuple(first.get("loc", ())))
        return _error(400, f"{where}: {first.get('msg')}", "invalid_request", where)

    @app.exception_handler(ConsentRequired)
    async def consent(request: Request, exc: ConsentRequired) -> JSONResponse:
        return _error(
            403, "this conversation has no active consent: create one with POST /v1/conversations", "consent_required"
        )

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> JSONResponse:
        return _error(404, "no such conversation", "not_found")

    async def api_key(authorization: str | None = Header(default=None)) -> str | None:
        if not require_api_key:
            return None
        if not authorization or not authorization.lower().startswith("bearer "):
            raise HTTPException(401, "missing API key (Authorization: Bearer mr_...)")
        kid = gateway.store.verify_api_key(authorization[7:].strip())
        if kid is None:
            raise HTTPException(401, "invalid or revoked API key")
        return kid

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        code = {401: "invalid_api_key", 404: "not_found", 413: "payload_too_large"}.get(exc.status_code, "error")
        return _error(exc.status_code, str(exc.detail), code)

    # ------------------------------------------------------------------ chat
    @app.post("/v1/chat/completions", response_model=None)
    async def chat_completions(
        body: ChatRequest,
        client: str | None = Depends(api_key),
        x_mindrail_conversation: str | None = Header(default=None),
        x_mindrail_locale: str | None = Header(default=None),
    ) -> Response:
        cid = body.conversation_id or x_mindrail_conversation
        if not cid:
            return _error(
                400,
                "conversation_id: required (body field or X-Mindrail-Conversation header)",
                "invalid_request",
                "conversation_id",
            )
        users = [m for m in body.messages if m.role == "user"]
        if not users or body.messages[-1].role != "user":
            return _error(400, "messages: the last message must be the user's", "invalid_request", "messages")
        text = users[-1].text()
        earlier = _new_user_messages(body.messages)[:-1]
        if len(text) > gateway.config.max_message_chars or any(
            len(t) > gateway.config.max_message_chars for t in earlier
        ):
            return _error(
                413,
                f"messages[-1].content: over {gateway.config.max_message_chars} characters",
                "payload_too_large",
                "messages",
            )
        locale = body.locale or x_mindrail_locale
        created, rid = int(time.time()), f"chatcmpl-{uuid.uuid4().hex[:24]}"
        model = f"mindrail/{gateway.guard.backend.model}"
        if not body.stream:
            result = await gateway.turn(cid, text, locale, earlier)
            return JSONResponse(_completion(rid, created, model, result))
        # Open the session before the response starts, so consent errors are a proper 403, not a broken stream.
        await gateway.session(cid, locale)
        stream = _sse(gateway, rid, created, model, cid, text, locale, earlier)
        return StreamingResponse(stream, media_type="text/event-stream")

    # ------------------------------------------------------------------ conversations and data rights
    @app.post("/v1/conversations", status_code=201)
    async def create_conversation(body: ConversationIn, client: str | None = Depends(api_key)) -> dict[str, Any]:
        cid = await gateway.start(body.consent_version, body.locale, client)
        return {"id": cid, "consent_version": body.consent_version, "locale": body.locale}

    @app.post("/v1/conversations/{cid}/withdraw")
    async def withdraw(cid: str, client: str | None = Depends(api_key)) -> dict[str, Any]:
        await gateway.withdraw(cid)
        return {"id": cid, "consent": "withdrawn"}

    @app.get("/v1/conversations/{cid}/updates")
    async def updates(cid: str, client: str | None = Depends(api_key)) -> dict[str, Any]:
        """Replies a clinician released (or the safe fallback after the hold timeout), each delivered once."""
        return {"id": cid, "released": await gateway.updates(cid)}

    @app.get("/v1/conversations/{cid}/export")
    async def export(cid: str, client: str | None = Depends(api_key)) -> JSONResponse:
        return JSONResponse(await gateway.export(cid))

    @app.delete("/v1/conversations/{cid}")
    async def delete(cid: str, client: str | None = Depends(api_key)) -> dict[str, Any]:
        return {"id": cid, "deleted": await gateway.delete(cid)}

    # ------------------------------------------------------------------ screening
    # Screening is CPU work (about 2 s for 20,000 characters on 2 cores): in worker threads, a few at a time, so a
    # long text never holds the event loop that answers every other request.
    screen_slots = anyio.CapacityLimiter(opts.screen_concurrency)

    @app.post("/v1/screen")
    async def screen(body: ScreenIn, client: str | None = Depends(api_key)) -> dict[str, Any]:
        if body.text is None and not body.messages:
            return _error(400, "text or messages: one is required", "invalid_request", "text")  # type: ignore[return-value]
        for where, text in _screen_texts(body):
            if len(text) > opts.screen_max_chars:
                return _error(  # type: ignore[return-value]
                    413,
                    f"{where}: over the screening limit of {opts.screen_max_chars} characters",
                    "payload_too_large",
                    where,
                )
        work = functools.partial(_screen, gateway.guard.engine, body)
        return await anyio.to_thread.run_sync(work, limiter=screen_slots)

    # ------------------------------------------------------------------ operations
    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {
            "status": "ok",
            "version": __version__,
            "model_version": gateway.guard.engine.version,
            "backend": {"name": gateway.guard.backend.name, "model": gateway.guard.backend.model},
            "policy": gateway.guard.policy.name,
        }

    @app.get("/metrics", response_model=None)
    async def metrics(request: Request) -> Response:
        if opts.metrics_token is not None and not _bearer_is(request, opts.metrics_token):
            denied = _error(401, "metrics: missing or wrong token (Authorization: Bearer ...)", "invalid_metrics_token")
            denied.headers["WWW-Authenticate"] = "Bearer"
            return denied
        return PlainTextResponse(
            generate_latest(gateway.metrics.registry).decode(), media_type="text/plain; version=0.0.4"
        )

    if extra_routes is not None:
        extra_routes(app)
    return app


def _screen_texts(body: ScreenIn) -> list[tuple[str, str]]:
    """(field, text) of everything ``/v1/screen`` would assess, for the length cap."""
    if body.text is not None:
        return [("text", body.text)]
    return [(f"messages[{i}].content", m.text()) for i, m in enumerate(body.messages or ())]


def _screen(engine: Any, body: ScreenIn) -> dict[str, Any]:
    """The screening itself; runs in a worker thread."""
    if body.text is not None:
        return {"assessment": engine.assess(body.text).to_dict(), "model_version": engine.version}
    state = engine.new_conversation()
    out: list[dict[str, Any]] = []
    for m in body.messages or ():
        if m.role == "user":
            a: Assessment = state.add_user(m.text())
            out.append(a.to_dict())
        elif m.role == "assistant":
            state.add_assistant(m.text())
    return {"assessments": out, "model_version": engine.version}


def _bearer_is(request: Request, token: str) -> bool:
    """Whether the request carries ``Authorization: Bearer <token>`` (compared in constant time)."""
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def openapi_spec() -> dict[str, Any]:
    """The API's OpenAPI document, built without loading models or opening a store."""
    from fastapi.openapi.utils import get_openapi

    app = create_app(None, require_api_key=True)  # type: ignore[arg-type]
    return get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)


def _completion(rid: str, created: int, model: str, r: TurnResult) -> dict[str, Any]:
    return {
        "id": rid,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": r.reply}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": r.backend.get("prompt_tokens") or 0,
            "completion_tokens": r.backend.get("completion_tokens") or 0,
            "total_tokens": (r.backend.get("prompt_tokens") or 0) + (r.backend.get("completion_tokens") or 0),
        },
        "mindrail": r.meta(),
    }


def _new_user_messages(messages: Sequence[Any]) -> list[str]:
    """The user messages after the last non-user message: the ones this request adds (an app may send two
    user messages in a row, and a crisis in the first must not go unseen)."""
    run: list[str] = []
    for m in reversed(messages):
        if m.role != "user":
            break
        run.append(m.text())
    return run[::-1]


async def _sse(
    gateway: Gateway,
    rid: str,
    created: int,
    model: str,
    cid: str,
    text: str,
    locale: str | None,
    earlier: Sequence[str] = (),
) -> AsyncIterator[str]:
    def chunk(delta: dict[str, Any], finish: str | None = None, extra: dict[str, Any] | None = None) -> str:
        body: dict[str, Any] = {
            "id": rid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        if extra:
            body.update(extra)
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant"})
    async for item in gateway.stream(cid, text, locale, earlier):
        if isinstance(item, TurnResult):
            yield chunk({}, "stop", {"mindrail": item.meta()})
        elif item:
            yield chunk({"content": item})
    yield "data: [DONE]\n\n"
