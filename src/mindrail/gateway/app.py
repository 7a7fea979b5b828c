"""HTTP API (FastAPI): the OpenAI-compatible surface (gateway.openai_compat: chat completions with the whole
pipeline applied, models, consent text, offline docs), screening, consent and data-rights endpoints, health and
Prometheus metrics. Every error, whatever raised it, is answered in OpenAI's error shape.
"""

from __future__ import annotations

import contextlib
import functools
import hmac
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import generate_latest
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from mindrail import __version__
from mindrail.gateway import care_api, openai_compat
from mindrail.gateway.deps import OwnedConversation, api_key_id, caller_of, gateway_of, owned_conversation
from mindrail.gateway.edge import EdgeMiddleware, Identifier
from mindrail.gateway.openai_compat import ChatCompletionMessage, error_response, errors
from mindrail.gateway.service import Gateway
from mindrail.policy.consent import default_consent
from mindrail.risk.engine import RiskEngine
from mindrail.screening import replay
from mindrail.store import ConsentRequired, NotFound
from mindrail.store.tenancy import Caller

log = logging.getLogger("mindrail.gateway")
__all__ = ["ApiOptions", "create_app", "openapi_spec", "router"]

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
    background_jobs: bool = True
    """Run this instance's share of the background work (gateway.jobs: notifications, hold timeouts, SLA timers)
    while the app is up. Every instance may; the work is still done once."""


# ---------------------------------------------------------------------------- schemas
class ConversationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    consent_version: Identifier = Field(
        min_length=1, max_length=64, description="Version of the consent text the person accepted."
    )
    locale: Identifier | None = Field(default=None, max_length=16)


class ScreenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str | None = Field(default=None, description="One message, assessed on its own (`assessment.turn` is 1).")
    messages: list[ChatCompletionMessage] | None = Field(
        default=None,
        description="A conversation: `assessments` has one per turn, in context. A turn is one of the person's "
        "(user) messages; `turn` numbers them from 1, and assistant and system messages are not turns.",
    )


_HTTP_CODES = {
    401: "invalid_api_key",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
}


_UNION_TAG = re.compile(r"^(str|int|float|bool|none|dict|list|[A-Z]\w*)$|[\[\-]")
"""How pydantic names the member of a union it tried (``str``, ``list[ContentPart]``, ``function-after[...]``) in an
error's location: not a field, so not part of ``param``."""


def _loc(loc: tuple[Any, ...]) -> str:
    parts = [p for p in loc if p != "body" and not (isinstance(p, str) and _UNION_TAG.search(p))]
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "body"


# ---------------------------------------------------------------------------- error handlers
async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    # The most specific error: for a union (``content`` may be a string or a list of parts) the deepest one.
    errors_ = exc.errors() or [{"loc": ("body",), "msg": "invalid request"}]
    first = max(errors_, key=lambda e: len(_loc(tuple(e.get("loc", ())))))
    where = _loc(tuple(first.get("loc", ())))
    return error_response(400, f"{where}: {first.get('msg')}", "invalid_request", where)


async def consent(request: Request, exc: ConsentRequired) -> JSONResponse:
    return error_response(
        403, "this conversation has no active consent: create one with POST /v1/conversations", "consent_required"
    )


async def not_found(request: Request, exc: NotFound) -> JSONResponse:
    return error_response(404, "no such conversation", "not_found")


async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
    """Starlette's and FastAPI's HTTP errors (an unknown URL, a wrong method, a missing key) in OpenAI's shape."""
    message = str(exc.detail)
    if exc.status_code in (404, 405) and message in ("Not Found", "Method Not Allowed"):
        what = "Unknown request URL" if exc.status_code == 404 else "Method not allowed"
        message = f"{what}: {request.method} {request.url.path[:200]} (see /docs for the API)"
    headers = dict(exc.headers) if exc.headers else None
    return error_response(exc.status_code, message, _HTTP_CODES.get(exc.status_code, "error"), headers=headers)


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path[:200])
    return error_response(500, "internal error", "internal_error")


_HANDLERS: tuple[tuple[type[Exception], Callable[[Request, Any], Awaitable[JSONResponse]]], ...] = (
    (RequestValidationError, bad_request),
    (ConsentRequired, consent),
    (NotFound, not_found),
    (HTTPException, http_error),
    (Exception, internal_error),
)


# ---------------------------------------------------------------------------- routes
router = APIRouter()
"""Conversations and data rights, screening, health and metrics (the OpenAI-compatible routes are
``openai_compat.router``)."""


def options_of(request: Request) -> ApiOptions:
    """The HTTP edge's settings (``app.state.api_options``)."""
    options: ApiOptions = request.app.state.api_options
    return options


# A conversation belongs to the tenant of the API key that started it; for any other tenant it does not exist
# (404), and the store checks the tenant again in the transaction that reads or changes it.
@router.post("/v1/conversations", status_code=201, response_model=None, responses=errors(400, 401, 413, 422, 500))
async def create_conversation(
    body: ConversationIn, caller: Caller = Depends(caller_of), gateway: Gateway = Depends(gateway_of)
) -> dict[str, Any] | JSONResponse:
    known = default_consent().known_versions
    if body.consent_version not in known:
        return error_response(
            422,
            f"consent_version: not a known version of the consent text (GET /v1/consent): {', '.join(sorted(known))}",
            "unknown_consent_version",
            "consent_version",
        )
    cid = await gateway.start(body.consent_version, body.locale, caller)
    return {"id": cid, "consent_version": body.consent_version, "locale": body.locale}


@router.post("/v1/conversations/{cid}/withdraw", responses=errors(400, 401, 404, 500))
async def withdraw(c: OwnedConversation = Depends(owned_conversation)) -> dict[str, Any]:
    await c.gateway.withdraw(c.cid, c.caller)
    return {"id": c.cid, "consent": "withdrawn"}


@router.get("/v1/conversations/{cid}/updates", responses=errors(400, 401, 404, 500))
async def updates(c: OwnedConversation = Depends(owned_conversation)) -> dict[str, Any]:
    """Replies a clinician released (or the safe fallback after the hold timeout), each delivered once."""
    return {"id": c.cid, "released": await c.gateway.updates(c.cid, c.caller)}


@router.get("/v1/conversations/{cid}/export", responses=errors(400, 401, 404, 500))
async def export(c: OwnedConversation = Depends(owned_conversation)) -> JSONResponse:
    return JSONResponse(await c.gateway.export(c.cid, c.caller))


@router.delete("/v1/conversations/{cid}", responses=errors(400, 401, 404, 500))
async def delete(c: OwnedConversation = Depends(owned_conversation)) -> dict[str, Any]:
    return {"id": c.cid, "deleted": await c.gateway.delete(c.cid, c.caller)}


# Screening is CPU work (about 2 s for 20,000 characters on 2 cores): in worker threads, a few at a time
# (``app.state.screen_slots``), so a long text never holds the event loop that answers every other request.
@router.post("/v1/screen", responses=errors(400, 401, 413, 500))
async def screen(
    body: ScreenIn,
    request: Request,
    client: str | None = Depends(api_key_id),
    gateway: Gateway = Depends(gateway_of),
    opts: ApiOptions = Depends(options_of),
) -> dict[str, Any]:
    if body.text is None and not body.messages:
        return error_response(400, "text or messages: one is required", "invalid_request", "text")  # type: ignore[return-value]
    for where, text in _screen_texts(body):
        if len(text) > opts.screen_max_chars:
            return error_response(  # type: ignore[return-value]
                413,
                f"{where}: over the screening limit of {opts.screen_max_chars} characters",
                "payload_too_large",
                where,
            )
    work = functools.partial(_screen, gateway.guard.engine, body)
    return await anyio.to_thread.run_sync(work, limiter=request.app.state.screen_slots)


@router.get("/healthz", responses=errors(500))
async def healthz(gateway: Gateway = Depends(gateway_of)) -> dict[str, Any]:
    return {
        "status": "ok",
        "version": __version__,
        "model_version": gateway.guard.engine.version,
        "backend": {"name": gateway.guard.backend.name, "model": gateway.guard.backend.model},
        "policy": gateway.guard.policy.name,
    }


@router.get(
    "/metrics",
    response_model=None,
    responses={
        200: {"description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}},
        **errors(401, 500),
    },
)
async def metrics(
    request: Request, gateway: Gateway = Depends(gateway_of), opts: ApiOptions = Depends(options_of)
) -> Response:
    if opts.metrics_token is not None and not _bearer_is(request, opts.metrics_token):
        denied = error_response(
            401, "metrics: missing or wrong token (Authorization: Bearer ...)", "invalid_metrics_token"
        )
        denied.headers["WWW-Authenticate"] = "Bearer"
        return denied
    return PlainTextResponse(generate_latest(gateway.metrics.registry).decode(), media_type="text/plain; version=0.0.4")


# ---------------------------------------------------------------------------- app
def create_app(
    gateway: Gateway,
    *,
    require_api_key: bool = True,
    extra_routes: Callable[[FastAPI], None] | None = None,
    options: ApiOptions | None = None,
) -> FastAPI:
    """The app: its state (the gateway, whether keys are required, the edge's settings), the edge middleware, the
    error handlers and the routers; ``extra_routes`` adds more (the chat page, the console)."""
    opts = options or ApiOptions()
    app = FastAPI(
        lifespan=_lifespan,
        title="mindrail gateway",
        version=__version__,
        description="A safety layer in front of any chat model: risk assessment, crisis protocol, reply checks, "
        "privacy, consent and an encrypted, tamper-evident record.",
        docs_url=None,  # served from vendored files by openai_compat.router (the default loads a CDN)
        redoc_url=None,
    )
    app.state.gateway = gateway
    app.state.require_api_key = require_api_key
    app.state.api_options = opts
    app.state.screen_slots = anyio.CapacityLimiter(opts.screen_concurrency)
    app.add_middleware(
        EdgeMiddleware,
        max_body_bytes=opts.max_body_bytes,
        too_large=lambda limit: error_response(413, f"request body over {limit} bytes", "payload_too_large"),
    )
    for exc_class, handler in _HANDLERS:
        app.add_exception_handler(exc_class, handler)
    app.include_router(openai_compat.router)
    app.include_router(router)
    app.include_router(care_api.router)
    if extra_routes is not None:
        extra_routes(app)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            app.openapi_schema = _without_default_422(spec)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start this instance's background work with the app and stop it (finishing the pass in progress) with it."""
    gateway: Gateway = app.state.gateway
    if app.state.api_options.background_jobs:
        gateway.jobs.start()
    try:
        yield
    finally:
        await gateway.jobs.stop()


def _without_default_422(spec: dict[str, Any]) -> dict[str, Any]:
    """FastAPI documents a 422 with its own error body on every route that reads input; this API answers invalid
    input with 400 in OpenAI's shape instead (documented per route), so those entries are dropped."""
    default = "#/components/schemas/HTTPValidationError"
    for path in spec.get("paths", {}).values():
        for operation in path.values():
            responses = operation.get("responses", {})
            schema = responses.get("422", {}).get("content", {}).get("application/json", {}).get("schema", {})
            if schema.get("$ref") == default:
                del responses["422"]
    schemas = spec.get("components", {}).get("schemas", {})
    if default not in json.dumps(spec.get("paths", {})):
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
    return spec


def _screen_texts(body: ScreenIn) -> list[tuple[str, str]]:
    """(field, text) of everything ``/v1/screen`` would assess, for the length cap."""
    if body.text is not None:
        return [("text", body.text)]
    return [(f"messages[{i}].content", m.text()) for i, m in enumerate(body.messages or ())]


def _screen(engine: RiskEngine, body: ScreenIn) -> dict[str, Any]:
    """The screening itself; runs in a worker thread."""
    if body.text is not None:
        return {"assessment": engine.assess(body.text).to_dict(), "model_version": engine.version}
    turns = [(m.role, m.text()) for m in body.messages or ()]
    out = [a.to_dict() for _, a in replay(engine.new_conversation(), turns)]
    return {"assessments": out, "model_version": engine.version}


def _bearer_is(request: Request, token: str) -> bool:
    """Whether the request carries ``Authorization: Bearer <token>`` (compared in constant time)."""
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def openapi_spec() -> dict[str, Any]:
    """The API's OpenAPI document, built without loading models or opening a store."""
    return create_app(None, require_api_key=True).openapi()  # type: ignore[arg-type]
