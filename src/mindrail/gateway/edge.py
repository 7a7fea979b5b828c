"""The HTTP edge: what every request passes through before any route (API, chat page, console) sees it.

- **Body limit while streaming.** A chunked body has no Content-Length, so checking the header alone lets any
  size through; the body is counted as its ``http.request`` messages arrive and answered 413 past the limit.
- **Invalid Unicode and NUL.** A lone surrogate (``"\\ud83d"`` in JSON, or CESU-8 bytes, which ``json.loads``
  decodes with ``surrogatepass``) cannot be encoded to UTF-8, so a turn carrying one could be assessed but not
  sealed and recorded; PostgreSQL refuses NUL in text. Every string a route can read is therefore scrubbed here
  with :func:`mindrail.risk.normalise.scrub` (lone surrogate → U+FFFD, NUL → space, one for one): every JSON
  string and key, form fields, the query string, the path and header values. Routes then see only text that
  can be stored; identifier fields reject what became a space or U+FFFD with :data:`Identifier`.

Pure ASGI (no ``BaseHTTPMiddleware``), so streamed responses and client disconnects pass through untouched.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Annotated, Any, Final

from pydantic import AfterValidator
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mindrail.risk.normalise import scrub

# A JSON body needs parsing only when it may decode to a lone surrogate or NUL: a \u escape of one (any case),
# UTF-8-encoded surrogate bytes, or any NUL byte (a UTF-16/32 body, or a raw NUL that json.loads rejects anyway).
_SUSPECT_JSON: Final = re.compile(rb"\\u(?:[dD][89a-fA-F][0-9a-fA-F]{2}|0000)|\xed[\xa0-\xbf]|\x00")


def scrub_tree(value: Any) -> Any:
    """``value`` (parsed JSON) with every string, keys included, scrubbed."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, list):
        return [scrub_tree(v) for v in value]
    if isinstance(value, dict):
        return {scrub(k): scrub_tree(v) for k, v in value.items()}
    return value


def clean_json(body: bytes) -> bytes:
    """The body re-encoded with every string scrubbed, or the body itself when there is nothing to scrub or it is
    not JSON (the route then answers 400 as before). Re-encoding what ``json.loads`` read keeps its meaning."""
    if _SUSPECT_JSON.search(body) is None:
        return body
    try:
        cleaned = scrub_tree(json.loads(body))
        return json.dumps(cleaned, ensure_ascii=False).encode("utf-8")
    except (ValueError, RecursionError):
        return body


def clean_form(body: bytes) -> bytes:
    """A form body with NUL (encoded or raw) made a space, one byte for one. Invalid UTF-8 in a form already
    decodes to U+FFFD (starlette decodes with ``errors="replace"`` or latin-1), so NUL is all that is left. There
    are no file uploads, so a raw NUL in a multipart body is always in a text field."""
    return body.replace(b"%00", b"%20").replace(b"\x00", b" ")


def _form(content_type: str) -> bool:
    return content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data"))


def _identifier(value: str) -> str:
    if not value.isprintable() or " " in value or "\ufffd" in value:
        raise ValueError("must not contain spaces, control characters, NUL or invalid Unicode")
    return value


Identifier = Annotated[str, AfterValidator(_identifier)]
"""An identifier-like field (consent version, locale, conversation id): after the edge scrubbed it, a NUL shows
as a space and a lone surrogate as U+FFFD, and either is refused with an error naming the field."""


class EdgeMiddleware:
    """Counts the request body as it streams in (413 past ``max_body_bytes``, whatever the headers say) and hands
    the app a body, path, query string and headers with invalid Unicode and NUL scrubbed."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, too_large: Callable[[int], Response]) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.too_large = too_large

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope = _clean_scope(scope)
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await self.too_large(self.max_body_bytes)(scope, receive, send)
            return
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away before sending it all
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await self.too_large(self.max_body_bytes)(scope, receive, send)
                return
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        if body:
            content_type = headers.get(b"content-type", b"").decode("latin-1").lower()
            cleaned = clean_form(body) if _form(content_type) else clean_json(body)
            if cleaned is not body:
                body = cleaned
                scope = _with_length(scope, len(body))

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # http.disconnect, for streamed responses

        await self.app(scope, replay, send)


def _clean_scope(scope: Scope) -> Scope:
    """Path (percent-decoded by the server, so ``%00`` is a NUL), query string and header values with NUL made a
    space. The server decodes the path and starlette the query with ``errors="replace"`` and headers as latin-1,
    so no surrogates arrive that way."""
    path, query = scope["path"], scope.get("query_string", b"")
    headers = scope["headers"]
    dirty_headers = any(b"\x00" in v for _, v in headers)
    if "\x00" not in path and b"%00" not in query and not dirty_headers:
        return scope
    out = dict(scope)
    out["path"] = scrub(path)
    out["query_string"] = query.replace(b"%00", b"%20")
    if dirty_headers:
        out["headers"] = [(k, v.replace(b"\x00", b" ")) for k, v in headers]
    return out


def _with_length(scope: Scope, length: int) -> Scope:
    headers = [(k, v) for k, v in scope["headers"] if k != b"content-length"]
    if any(k == b"transfer-encoding" for k, _ in headers):
        headers = [(k, v) for k, v in headers if k != b"transfer-encoding"]
    return {**scope, "headers": [*headers, (b"content-length", str(length).encode())]}
