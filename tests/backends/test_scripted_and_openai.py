"""Scripted and OpenAI-compatible backends. The OpenAI client's retry, backoff and stream parsing are exercised
with injected HTTP faults (httpx's MockTransport); the gateway tests talk to a real server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from mindrail.backends.base import Backend, BackendError, ChatMessage, GenerationOptions
from mindrail.backends.openai import OpenAIBackend
from mindrail.backends.scripted import ScriptedBackend
from mindrail.datafiles import DataFileError

MSGS = [ChatMessage("system", "be kind"), ChatMessage("user", "hello there, rough week")]
OPTS = GenerationOptions(max_tokens=64, temperature=0.0)


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_scripted_rules_queue_default_and_stream() -> None:
    b = ScriptedBackend(["first", "second"], rules=[(r"rough week", "sorry to hear that")], default="fallback")
    assert isinstance(b, Backend)
    assert run(b.complete(MSGS, OPTS)).text == "sorry to hear that"
    other = [ChatMessage("user", "hi")]
    assert run(b.complete(other, OPTS)).text == "first"
    assert run(b.complete(other, OPTS)).text == "second"
    assert run(b.complete(other, OPTS)).text == "fallback"

    async def collect() -> str:
        return "".join([p async for p in b.stream(MSGS, OPTS)])

    assert run(collect()) == "sorry to hear that"
    assert len(b.calls) == 5 and b.calls[0][0].role == "system"


def test_scripted_runs_out_and_truncates() -> None:
    b = ScriptedBackend(["one two three four"], default=None)
    c = run(b.complete(MSGS, GenerationOptions(max_tokens=2)))
    assert c.text == "one two" and c.finish_reason == "length"
    with pytest.raises(BackendError):
        run(b.complete(MSGS, OPTS))


def test_scripted_from_file_and_bad_file(tmp_path: Path) -> None:
    good = tmp_path / "s.yaml"
    good.write_text("rules:\n  - match: hello\n    reply: hi!\nreplies: [a]\n", encoding="utf-8")
    assert run(ScriptedBackend.from_file(good).complete(MSGS, OPTS)).text == "hi!"
    bad = tmp_path / "b.yaml"
    bad.write_text("rules:\n  - match: hello\n    answer: hi!\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=r"b.yaml:3: rules\[0\]"):
        ScriptedBackend.from_file(bad)


def _ok(text: str = "I'm here with you.") -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "model": "m",
            "choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 4},
        },
    )


def _backend(handler, retries: int = 2) -> OpenAIBackend:  # type: ignore[no-untyped-def]
    return OpenAIBackend(
        "http://model.invalid/v1",
        "m",
        api_key="k",
        retries=retries,
        backoff_s=0.001,
        transport=httpx.MockTransport(handler),
    )


def test_openai_sends_openai_payload_and_parses_reply() -> None:
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return _ok()

    c = run(_backend(handler).complete(MSGS, OPTS))
    assert c.text == "I'm here with you." and c.completion_tokens == 4
    body = json.loads(seen[0].content)
    assert seen[0].url.path == "/v1/chat/completions"
    assert seen[0].headers["authorization"] == "Bearer k"
    assert body["messages"][1] == {"role": "user", "content": "hello there, rough week"}
    assert body["max_tokens"] == 64 and body["stream"] is False


def test_openai_retries_429_and_5xx_then_succeeds() -> None:
    codes = iter([429, 503])

    def handler(req: httpx.Request) -> httpx.Response:
        code = next(codes, 200)
        return _ok() if code == 200 else httpx.Response(code, headers={"retry-after": "0"})

    assert run(_backend(handler).complete(MSGS, OPTS)).text


def test_openai_gives_up_with_a_message_free_of_conversation_text() -> None:
    calls = 0

    def handler(req: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(500)

    with pytest.raises(BackendError) as exc:
        run(_backend(handler, retries=2).complete(MSGS, OPTS))
    assert calls == 3
    assert "rough week" not in str(exc.value) and "HTTP 500" in str(exc.value)


def test_openai_does_not_retry_client_errors_or_accept_garbage() -> None:
    calls = 0

    def bad_request(req: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(400, json={"error": "bad"})

    with pytest.raises(BackendError, match="HTTP 400"):
        run(_backend(bad_request).complete(MSGS, OPTS))
    assert calls == 1
    with pytest.raises(BackendError, match="malformed"):
        run(_backend(lambda r: httpx.Response(200, json={"nope": 1})).complete(MSGS, OPTS))


def test_openai_connection_errors_and_timeouts_are_retried() -> None:
    attempts = 0

    def handler(req: httpx.Request) -> httpx.Response:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise httpx.ConnectError("refused", request=req)
        if attempts == 2:
            raise httpx.ReadTimeout("slow", request=req)
        return _ok()

    assert run(_backend(handler).complete(MSGS, OPTS)).text
    assert attempts == 3


def _sse(*pieces: str) -> bytes:
    events = ["data: " + json.dumps({"choices": [{"delta": {"content": p}, "index": 0}]}) + "\n\n" for p in pieces]
    return ("".join(events) + "data: [DONE]\n\n").encode()


def test_openai_stream_yields_deltas() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        assert json.loads(req.content)["stream"] is True
        return httpx.Response(
            200, content=_sse("I'm ", "here ", "for you."), headers={"content-type": "text/event-stream"}
        )

    async def collect() -> list[str]:
        return [p async for p in _backend(handler).stream(MSGS, OPTS)]

    assert run(collect()) == ["I'm ", "here ", "for you."]


def test_openai_stream_retries_before_first_piece_only() -> None:
    attempts = 0

    def handler(req: httpx.Request) -> httpx.Response:
        nonlocal attempts
        attempts += 1
        return httpx.Response(503) if attempts == 1 else httpx.Response(200, content=_sse("ok"))

    async def collect() -> str:
        return "".join([p async for p in _backend(handler).stream(MSGS, OPTS)])

    assert run(collect()) == "ok" and attempts == 2


def test_generation_options_validate() -> None:
    with pytest.raises(ValueError, match="max_tokens"):
        GenerationOptions(max_tokens=0)
    with pytest.raises(ValueError, match="temperature"):
        GenerationOptions(temperature=3)
    with pytest.raises(ValueError, match="role"):
        ChatMessage("tool", "x")  # type: ignore[arg-type]
