"""The OpenAI-compatible surface: ``/v1/chat/completions``, ``/v1/models``, ``/v1/consent``, OpenAI's error shape,
and the offline ``/docs`` page, so an unmodified OpenAI app works with only ``base_url`` and the key changed.

Only the LAST run of user messages in a request is new (the user messages after the last non-user message); the
history the model sees is the one mindrail recorded, so a client cannot inject fake assistant turns. The app's own
system (or developer) messages are kept beneath the policy's safety prompt as delimited, lower-priority
instructions (``GuardConfig.app_system_prompt``); they never reach the risk engine, the policy or the reply
checks. A request without a conversation is placed by gateway.threads when its API key attests consent.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from importlib import resources
from typing import Any, Final, Literal

import anyio
from fastapi import APIRouter, Depends, Header, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from mindrail.backends.base import MAX_STOP_SEQUENCES, GenerationOptions
from mindrail.gateway.deps import api_key, gateway_of
from mindrail.gateway.edge import Identifier
from mindrail.gateway.pipeline import Source, TurnResult
from mindrail.gateway.service import ConsentNotAttested, Gateway
from mindrail.gateway.threads import Message, Thread
from mindrail.policy.consent import default_consent
from mindrail.policy.decide import Decision
from mindrail.risk.types import Assessment
from mindrail.store import ApiKeyInfo
from mindrail.store.tenancy import NO_KEY_CALLER, Caller, api_caller

DOCS_ASSETS: Final = "/docs/assets"
FILTERED: Final = frozenset({Source.CRISIS_PROTOCOL, Source.REPLACED, Source.HELD, Source.FALLBACK})
"""Sources whose text is mindrail's own instead of the model's reply: ``finish_reason`` "content_filter"."""


# ---------------------------------------------------------------------------- errors
class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    """OpenAI's error body, used for every error the gateway returns."""

    error: ErrorDetail


_ERROR_DOCS: Final = {
    400: "Invalid request; `error.param` names the field (also unsupported parameters such as `tools` or `n`)",
    401: "Missing, invalid or revoked API key",
    403: "No active consent: withdrawn, or the key attests no accepted consent version",
    404: "No such conversation (another tenant's conversation is reported the same way), model or URL",
    405: "Method not allowed on this URL",
    409: "Conflict",
    413: "Request body or a message over the size limit",
    422: "Unknown consent version (see GET /v1/consent)",
    500: "Internal error (no detail is given)",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries documenting error statuses in OpenAI's shape."""
    return {s: {"model": ErrorResponse, "description": _ERROR_DOCS[s]} for s in statuses}


def error_response(
    status: int, message: str, code: str | None, param: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    kind = "server_error" if status >= 500 else "invalid_request_error"
    return JSONResponse(
        status_code=status,
        content={"error": {"message": message, "type": kind, "param": param, "code": code}},
        headers=headers,
    )


# ---------------------------------------------------------------------------- request schemas
class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["text"] = Field(description="Only text parts are supported (no images or audio).")
    text: str | None = None


# One message of a chat-completions request, as OpenAI's API takes it. A comment, not a docstring: a docstring would
# become the schema's description. The schema keeps its published title, MessageIn.
class ChatCompletionMessage(BaseModel):
    model_config = ConfigDict(extra="allow", title="MessageIn")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = Field(default=None, description="Accepted for compatibility and ignored.")

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        if self.content is None:
            return ""
        return "\n".join(p.text or "" for p in self.content)


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool | None = Field(default=None, description="Send a last chunk with `usage` (as OpenAI).")


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str | None = Field(default=None, description="Accepted and ignored: the gateway's configured model answers.")
    messages: list[ChatCompletionMessage] = Field(min_length=1)
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1, description="Lowered to the gateway's cap when above it.")
    max_completion_tokens: int | None = Field(default=None, ge=1, description="As `max_tokens` (takes precedence).")
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    # The limits below are documented in the schema and checked by unsupported(), which names the parameter and
    # says what is supported instead of a bare validation message.
    stop: str | list[str] | None = Field(
        default=None,
        description="Up to 4 sequences that end the reply.",
        json_schema_extra={
            "anyOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "string", "minLength": 1}, "maxItems": MAX_STOP_SEQUENCES},
                {"type": "null"},
            ]
        },
    )
    seed: int | None = Field(default=None, ge=0, le=2**32 - 1)
    n: int | None = Field(default=None, ge=1, description="Only 1 is supported.", json_schema_extra={"maximum": 1})
    tools: list[dict[str, Any]] | None = Field(
        default=None, description="Not supported when non-empty.", json_schema_extra={"maxItems": 0}
    )
    tool_choice: Any = None
    functions: list[dict[str, Any]] | None = Field(
        default=None, description="Not supported when non-empty.", json_schema_extra={"maxItems": 0}
    )
    function_call: Any = None
    response_format: dict[str, Any] | None = Field(
        default=None,
        description='Only {"type": "text"} is supported.',
        json_schema_extra={"properties": {"type": {"enum": ["text"]}}},
    )
    logprobs: bool | None = Field(
        default=None, description="Not supported when true.", json_schema_extra={"enum": [False, None]}
    )
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    user: str | None = Field(
        default=None,
        max_length=256,
        description="Your end user's id: scopes drop-in conversations (never stored; only a keyed digest is).",
    )
    conversation_id: Identifier | None = Field(
        default=None,
        description="mindrail conversation (or X-Mindrail-Conversation); optional for keys with attested consent.",
    )
    locale: Identifier | None = Field(
        default=None, description="Crisis-resource locale, e.g. en-GB (or X-Mindrail-Locale)."
    )


class ModelOut(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelOut]


class ConsentOut(BaseModel):
    version: str
    title: str
    disclosure: str
    paragraphs: list[str]
    accepted_versions: list[str] = Field(description="Every version POST /v1/conversations accepts.")


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatMessageOut(BaseModel):
    role: Literal["assistant"]
    content: str


class ChoiceOut(BaseModel):
    index: int
    message: ChatMessageOut
    finish_reason: Literal["stop", "length", "content_filter"]


class ChatCompletionOut(BaseModel):
    """Plain (not streamed) reply; a stream sends `chat.completion.chunk` events ending with `data: [DONE]`."""

    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[ChoiceOut]
    usage: Usage
    mindrail: dict[str, Any] = Field(
        description="Source, decision, assessment (`assessment.turn`: the person's Nth message in the conversation, "
        "from 1; assistant and system messages are not turns), reply check, conversation id."
    )


# ---------------------------------------------------------------------------- pure helpers
def unsupported(body: ChatRequest) -> tuple[str, str] | None:
    """(param, message) for the first parameter the gateway cannot honour, else None. Ignoring them would let an
    app believe it got tool calls, JSON mode or several choices."""
    if body.n is not None and body.n > 1:
        return "n", "n: only 1 choice is supported"
    if body.tools:
        return "tools", "tools: tool calls are not supported by the mindrail gateway"
    if body.functions:
        return "functions", "functions: function calls are not supported by the mindrail gateway"
    if body.response_format is not None and body.response_format.get("type", "text") != "text":
        return "response_format", 'response_format: only {"type": "text"} is supported'
    if body.logprobs:
        return "logprobs", "logprobs: not supported"
    if isinstance(body.stop, list) and (len(body.stop) > MAX_STOP_SEQUENCES or any(not s for s in body.stop)):
        return "stop", f"stop: at most {MAX_STOP_SEQUENCES} non-empty strings"
    return None


def generation_options(body: ChatRequest, base: GenerationOptions, cap: int) -> GenerationOptions:
    """The client's settings over the configured ones; ``max_tokens`` lowered to ``cap``."""
    changes: dict[str, Any] = {}
    asked = body.max_completion_tokens or body.max_tokens
    if asked is not None:
        changes["max_tokens"] = max(1, min(asked, cap))
    elif base.max_tokens > cap:
        changes["max_tokens"] = cap
    if body.temperature is not None:
        changes["temperature"] = body.temperature
    if body.top_p is not None:
        changes["top_p"] = body.top_p
    if body.seed is not None:
        changes["seed"] = body.seed
    if body.stop:
        changes["stop"] = (body.stop,) if isinstance(body.stop, str) else tuple(body.stop)
    return dataclasses.replace(base, **changes)


def new_user_messages(messages: Sequence[ChatCompletionMessage]) -> list[str]:
    """The user messages after the last non-user message: the ones this request adds (an app may send two
    user messages in a row, and a crisis in the first must not go unseen)."""
    run: list[str] = []
    for m in reversed(messages):
        if m.role != "user":
            break
        run.append(m.text())
    return run[::-1]


def prior_thread(messages: Sequence[ChatCompletionMessage], new: int) -> list[Message]:
    """The app's user and assistant messages before the ``new`` last ones: what gateway.threads matches."""
    return [(m.role, m.text()) for m in messages[: len(messages) - new] if m.role in ("user", "assistant")]


def app_prompt(messages: Sequence[ChatCompletionMessage]) -> str | None:
    """The app's own system and developer messages, in order."""
    texts = [m.text() for m in messages if m.role in ("system", "developer") and m.text().strip()]
    return "\n\n".join(texts) or None


def finish_reason(result: TurnResult) -> str:
    if result.source in FILTERED:
        return "content_filter"
    if result.source == Source.MODEL and result.backend.get("finish_reason") == "length":
        return "length"
    return "stop"


def decision_headers(
    cid: str, source: str, decision: Decision | None, assessment: Assessment | None = None
) -> dict[str, str]:
    """mindrail's decision as response headers, for clients (LangChain) that never show the ``mindrail`` field."""
    if decision is not None:
        level = decision.level.label
        actions = ",".join(sorted(a.value for a in decision.actions)) or "none"
    else:
        level = assessment.top_level.label if assessment is not None else "unknown"
        actions = "none"
    return {
        "X-Mindrail-Conversation": cid,
        "X-Mindrail-Source": source,
        "X-Mindrail-Level": level,
        "X-Mindrail-Actions": actions,
    }


def planned_source(decision: Decision) -> str:
    """What a streamed reply will be, as far as the decision tells before the model speaks."""
    from mindrail.policy.schema import Action

    if not decision.calls_model:
        return Source.CRISIS_PROTOCOL.value
    return Source.HELD.value if decision.has(Action.HOLD_FOR_REVIEW) else Source.MODEL.value


# ---------------------------------------------------------------------------- routes
router = APIRouter()
"""The OpenAI-compatible routes and the offline docs page (Swagger UI from vendored files)."""


@router.post(
    "/v1/chat/completions",
    response_model=None,
    responses={
        200: {
            "model": ChatCompletionOut,
            "description": "The guarded reply; with `stream: true`, server-sent `chat.completion.chunk` events",
            "content": {
                "text/event-stream": {
                    "schema": {
                        "type": "object",
                        "description": "One server-sent event",
                        "properties": {
                            "data": {"type": "string", "description": "A chat.completion.chunk (JSON) or [DONE]"}
                        },
                    }
                }
            },
        },
        **errors(400, 401, 403, 404, 413, 500),
    },
)
async def chat_completions(
    body: ChatRequest,
    caller: ApiKeyInfo | None = Depends(api_key),
    x_mindrail_conversation: Identifier | None = Header(default=None),
    x_mindrail_locale: Identifier | None = Header(default=None),
    idempotency_key: Identifier | None = Header(
        default=None,
        max_length=48,
        description="A key of the client's choosing, new for each turn and the same on a retry: a request already "
        "answered gets its recorded reply back instead of a second turn (needs conversation_id).",
    ),
    gateway: Gateway = Depends(gateway_of),
) -> Response:
    problem = unsupported(body)
    if problem is not None:
        return error_response(400, problem[1], "unsupported_parameter", problem[0])
    if body.messages[-1].role != "user":
        return error_response(400, "messages: the last message must be the user's", "invalid_request", "messages")
    new = new_user_messages(body.messages)
    limit = gateway.config.max_message_chars
    for i, m in enumerate(body.messages):
        if m.role == "user" and len(m.text()) > limit:
            where = f"messages[{i}].content"
            return error_response(413, f"{where}: over {limit} characters", "payload_too_large", where)
    locale = body.locale or x_mindrail_locale
    options = generation_options(body, gateway.guard.config.options, gateway.config.max_tokens_cap)
    prompt = app_prompt(body.messages)
    explicit = body.conversation_id or x_mindrail_conversation
    if idempotency_key is not None and not explicit:
        return error_response(
            400, "Idempotency-Key: needs the conversation_id it belongs to", "invalid_request", "Idempotency-Key"
        )
    who = api_caller(caller.id, caller.tenant) if caller is not None else NO_KEY_CALLER
    thread: Thread | None = None
    if explicit:
        await gateway.check_tenant(explicit, who)  # another tenant's conversation: 404, nothing recorded
        cid, earlier = explicit, new[:-1]
    elif caller is not None and caller.consent_version is not None:
        try:
            thread = await gateway.open_thread(caller, body.user, prior_thread(body.messages, len(new)), new, locale)
        except ConsentNotAttested:
            return error_response(
                403,
                "the consent version this API key attests is no longer accepted: attest the current one "
                "(GET /v1/consent; mindrail apikeys attest)",
                "consent_required",
            )
        cid, earlier = thread.cid, [*thread.replay, *new[:-1]]
    else:
        return error_response(
            400,
            "conversation_id: required (body field or X-Mindrail-Conversation header), unless the API key "
            "attests consent (mindrail apikeys create NAME --consent-attested VERSION)",
            "invalid_request",
            "conversation_id",
        )
    read = [*earlier, new[-1]]
    rid, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
    model = f"mindrail/{gateway.guard.backend.model}"
    if not body.stream:
        result: TurnResult | None = None
        try:
            result = await gateway.turn(
                cid,
                new[-1],
                locale,
                earlier,
                options=options,
                app_prompt=prompt,
                caller=who,
                request_key=idempotency_key,
            )
        finally:
            if thread is not None:
                await gateway.close_thread(thread, result.reply if result is not None else None)
        usage = await gateway.usage(result, read)
        headers = decision_headers(cid, result.source.value, result.decision, result.assessment)
        return JSONResponse(_completion(rid, created, model, cid, result, usage), headers=headers)
    try:
        # Opened before the response starts, so consent errors are a proper 403, not a broken stream.
        await gateway.session(cid, locale)
    except BaseException:
        if thread is not None:
            await gateway.close_thread(thread, None)
        raise
    turn = _StreamedTurn(gateway, cid, thread, who, idempotency_key)
    headers = await turn.start(new[-1], locale, earlier, options, prompt)
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    events = turn.events(rid, created, model, read, include_usage)
    return StreamingResponse(events, media_type="text/event-stream", headers=headers)


@router.get("/v1/models", response_model=ModelList, responses=errors(401, 500))
async def models(caller: ApiKeyInfo | None = Depends(api_key), gateway: Gateway = Depends(gateway_of)) -> ModelList:
    """The model that answers every request (whatever ``model`` a request names)."""
    return ModelList(data=[_model_out(gateway)])


@router.get("/v1/models/{model:path}", response_model=ModelOut, responses=errors(401, 404, 500))
async def model(
    model: str, caller: ApiKeyInfo | None = Depends(api_key), gateway: Gateway = Depends(gateway_of)
) -> ModelOut | JSONResponse:
    out = _model_out(gateway)
    if model not in (out.id, gateway.guard.backend.model):
        return error_response(404, f"model {model[:100]!r} does not exist", "model_not_found", "model")
    return out


@router.get("/v1/consent", response_model=ConsentOut, responses=errors(500))
async def consent() -> ConsentOut:
    """The consent text a person must accept (and its version), for apps that show it themselves."""
    text = default_consent()
    return ConsentOut(
        version=text.version,
        title=text.title,
        disclosure=text.disclosure,
        paragraphs=list(text.paragraphs),
        accepted_versions=sorted(text.known_versions),
    )


router.mount(DOCS_ASSETS, StaticFiles(directory=str(resources.files("mindrail.gateway") / "apidocs")), "apidocs")


@router.get("/docs", include_in_schema=False)
async def docs(request: Request) -> HTMLResponse:
    """Swagger UI from the vendored files (works offline)."""
    app = request.app
    return get_swagger_ui_html(
        openapi_url=app.openapi_url or "/openapi.json",
        title=f"{app.title} - API reference",
        swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
        swagger_ui_parameters={"validatorUrl": None},
    )


def _model_out(gateway: Gateway) -> ModelOut:
    return ModelOut(id=f"mindrail/{gateway.guard.backend.model}", created=0, owned_by="mindrail")


def _completion(rid: str, created: int, model: str, cid: str, r: TurnResult, usage: dict[str, int]) -> dict[str, Any]:
    return {
        "id": rid,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": r.reply}, "finish_reason": finish_reason(r)}
        ],
        "usage": usage,
        "mindrail": {"conversation_id": cid, **r.meta()},
    }


class _StreamedTurn:
    """A streamed turn run in its own task, so the decision (known before the model speaks) can go out as
    response headers while the reply is still being produced and checked."""

    def __init__(
        self, gateway: Gateway, cid: str, thread: Thread | None, caller: Caller, request_key: str | None = None
    ) -> None:
        self.gateway, self.cid, self.thread, self.caller = gateway, cid, thread, caller
        self.request_key = request_key
        self.queue: asyncio.Queue[str | TurnResult | None] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def start(
        self, text: str, locale: str | None, earlier: Sequence[str], options: GenerationOptions, prompt: str | None
    ) -> dict[str, str]:
        decided: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()

        def on_decided(assessment: Assessment, decision: Decision) -> None:
            if not decided.done():
                decided.set_result(decision_headers(self.cid, planned_source(decision), decision, assessment))

        async def pump() -> None:
            try:
                stream = self.gateway.stream(
                    self.cid,
                    text,
                    locale,
                    earlier,
                    options=options,
                    app_prompt=prompt,
                    on_decided=on_decided,
                    caller=self.caller,
                    request_key=self.request_key,
                )
                async for item in stream:
                    if isinstance(item, TurnResult) and not decided.done():
                        decided.set_result(
                            decision_headers(self.cid, item.source.value, item.decision, item.assessment)
                        )
                    self.queue.put_nowait(item)
            finally:
                self.queue.put_nowait(None)

        self.task = asyncio.create_task(pump())
        waiting: set[asyncio.Future[Any]] = {decided, self.task}
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if decided.done():
            return decided.result()
        # The turn ended without a decision or result: only an exception does that (e.g. consent withdrawn
        # meanwhile). Nothing was released; the error handlers answer.
        try:
            await self.task
        finally:
            if self.thread is not None:
                await self.gateway.close_thread(self.thread, None)
        raise RuntimeError("streamed turn ended without a result")

    async def events(
        self, rid: str, created: int, model: str, read: Sequence[str], include_usage: bool
    ) -> AsyncIterator[str]:
        def chunk(delta: dict[str, Any], finish: str | None = None, extra: dict[str, Any] | None = None) -> str:
            body: dict[str, Any] = {
                "id": rid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            if include_usage:
                body["usage"] = None
            if extra:
                body.update(extra)
            return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

        final: TurnResult | None = None
        sent = False
        try:
            yield chunk({"role": "assistant", "content": ""})
            while (item := await self.queue.get()) is not None:
                if isinstance(item, TurnResult):
                    final = item
                    meta = {"conversation_id": self.cid, **item.meta()}
                    yield chunk({}, finish_reason(item), {"mindrail": meta})
                elif item:
                    sent = True
                    yield chunk({"content": item})
            assert self.task is not None
            if final is None:
                # The turn failed after it started (nothing unchecked was sent): end with the safe fallback.
                with contextlib.suppress(BaseException):
                    await self.task
                safe = self.gateway.guard.policy.message("fallback", None)
                yield chunk({"content": ("\n\n" if sent else "") + safe}, "content_filter")
            elif include_usage:
                usage = await self.gateway.usage(final, read)
                body = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": model}
                yield f"data: {json.dumps({**body, 'choices': [], 'usage': usage})}\n\n"
            yield "data: [DONE]\n\n"
        finally:
            if self.task is not None and not self.task.done():
                self.task.cancel()
            if self.thread is not None:
                # Shielded: a client that hangs up must still leave the thread head consistent.
                with anyio.CancelScope(shield=True):
                    await self.gateway.close_thread(self.thread, final.reply if final is not None else None)
