"""The local backend's repetition guard and token cap, driven by a scripted stand-in for llama.cpp so a loop can
be produced on demand (SmolLM2 loops only on some prompts), and how the timeout and token limit are configured
(settings, `mindrail serve` flags, environment). The real model's own tests are in test_local.py."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from typer.testing import CliRunner

pytest.importorskip("llama_cpp")

from mindrail.backends.base import ChatMessage, GenerationOptions, StreamInfo
from mindrail.backends.local import LocalBackend, default_threads
from mindrail.cli import app as cli_app
from mindrail.gateway.factory import Settings, build_gateway, make_backend
from mindrail.repetition import find_loop
from mindrail.risk.engine import RiskEngine

LOOP = "I'm here to help you find a place to stay. "
OPTIONS = GenerationOptions(max_tokens=400, temperature=0.0, seed=0)
HI = [ChatMessage("user", "hi")]


class FakeLlama:
    """Yields ``text`` one word-piece per token like llama-cpp-python's chat stream, and keeps ``n_tokens`` the way
    llama.cpp does (the prompt, plus every sampled token but the latest)."""

    PROMPT = 30

    def __init__(self, text: str) -> None:
        self.text = text
        self.n_tokens = 0
        self.asked: list[dict[str, Any]] = []
        self.sampled = 0

    def reset(self) -> None:
        self.n_tokens = 0

    def close(self) -> None:
        pass

    def create_chat_completion(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        self.asked.append(kwargs)
        assert kwargs["stream"] is True
        pieces = re.findall(r"\S+\s*", self.text)[: kwargs["max_tokens"]]
        finish = "length" if len(re.findall(r"\S+\s*", self.text)) > kwargs["max_tokens"] else "stop"

        def chunks() -> Iterator[dict[str, Any]]:
            self.sampled = 0
            yield {"choices": [{"delta": {"role": "assistant"}, "finish_reason": None}]}
            for i, piece in enumerate(pieces):
                self.n_tokens = self.PROMPT + i
                self.sampled = i + 1
                yield {"choices": [{"delta": {"content": piece}, "finish_reason": None}]}
            self.n_tokens = self.PROMPT + len(pieces)
            yield {"choices": [{"delta": {}, "finish_reason": finish}]}

        return chunks()


def _backend(text: str, **kw: Any) -> tuple[LocalBackend, FakeLlama]:
    b = LocalBackend(**kw)
    fake = FakeLlama(text)
    b._llama = fake  # the model never loads: the fake stands in for it
    return b, fake


async def _stream(b: LocalBackend, info: StreamInfo | None = None) -> list[str]:
    return [p async for p in b.stream(HI, OPTIONS, info)]


def test_complete_stops_a_loop_and_keeps_the_text_up_to_the_first_repetition() -> None:
    b, fake = _backend("Hello there. " + LOOP * 10)
    c = asyncio.run(b.complete(HI, OPTIONS))
    assert c.text == "Hello there. I'm here to help you find a place to stay."
    assert c.finish_reason == "stop" and c.meta["loop"] == "run"
    # Generation stopped at the third copy, long before the ten copies (and the token limit) were produced.
    assert fake.sampled < len(("Hello there. " + LOOP * 3).split()) + 1
    assert c.prompt_tokens == FakeLlama.PROMPT and c.completion_tokens == fake.sampled
    asyncio.run(b.aclose())


def test_stream_stops_a_loop_and_never_shows_the_copies_it_cuts() -> None:
    b, fake = _backend("Hello there. " + LOOP * 10)
    info = StreamInfo()
    pieces = asyncio.run(_stream(b, info))
    assert "".join(pieces) == "Hello there. I'm here to help you find a place to stay."
    assert len(pieces) >= 3  # still streamed word by word before the loop began
    assert info.finish_reason == "stop" and info.completion_tokens == fake.sampled
    asyncio.run(b.aclose())


def test_a_sentence_that_keeps_coming_back_is_cut_at_its_second_copy_streamed_or_not() -> None:
    text = "Call someone you trust. Breathe slowly. Call someone you trust. Drink some water. Call someone you trust."
    b, _ = _backend(text + " Then rest.")
    c = asyncio.run(b.complete(HI, OPTIONS))
    assert c.text == "Call someone you trust. Breathe slowly." and c.meta["loop"] == "sentence"
    assert "".join(asyncio.run(_stream(b))) == c.text  # the second copy was held back, never shown
    asyncio.run(b.aclose())


def test_a_loop_without_sentence_ends_is_cut_at_its_first_repetition() -> None:
    b, _ = _backend("You can talk to me and I will listen and " * 6)
    c = asyncio.run(b.complete(HI, OPTIONS))
    assert c.text == "You can talk to me and I will listen and"[: len(c.text)] and c.text
    assert find_loop(c.text) is None
    assert "".join(asyncio.run(_stream(b))) == c.text
    asyncio.run(b.aclose())


def test_a_reply_without_a_loop_is_untouched_and_streams_the_same() -> None:
    text = "It sounds like a hard week. You can call 988 any time. Would you like to talk about what happened?"
    b, _ = _backend(text)
    c = asyncio.run(b.complete(HI, OPTIONS))
    assert c.text == text and "loop" not in c.meta and c.finish_reason == "stop"
    assert "".join(asyncio.run(_stream(b))) == text
    asyncio.run(b.aclose())


def test_the_guard_can_be_switched_off() -> None:
    b, _ = _backend(LOOP * 4, loop_guard=None)
    assert asyncio.run(b.complete(HI, OPTIONS)).text == LOOP * 4
    asyncio.run(b.aclose())


def test_a_request_max_tokens_is_capped_by_the_configured_maximum() -> None:
    b, fake = _backend(" ".join(f"word{i}" for i in range(50)), max_tokens=16)
    c = asyncio.run(b.complete(HI, GenerationOptions(max_tokens=100)))
    assert fake.asked[-1]["max_tokens"] == 16 and c.finish_reason == "length" and c.completion_tokens == 16
    asyncio.run(b.complete(HI, GenerationOptions(max_tokens=8)))
    assert fake.asked[-1]["max_tokens"] == 8  # a smaller request is honoured as asked
    with pytest.raises(ValueError, match="max_tokens"):
        LocalBackend(max_tokens=0)
    asyncio.run(b.aclose())


# ---------------------------------------------------------------- configuration
def test_timeout_and_token_limit_are_configurable_from_settings(tmp_path: Path) -> None:
    settings = Settings(
        db_url=f"sqlite:///{tmp_path / 'm.db'}",
        key_file=tmp_path / "k.json",
        create_key=True,
        backend="scripted",
        backend_timeout_s=150.0,
        max_tokens=128,
    )
    gateway = build_gateway(settings, cast(RiskEngine, object()))  # the engine is only stored here
    assert gateway.guard.config.backend_timeout_s == 150.0
    assert gateway.config.max_tokens_cap == 128
    local = make_backend(Settings(backend="local", max_tokens=128, local_threads=1))
    assert isinstance(local, LocalBackend) and (local.max_tokens, local.threads) == (128, 1)


def test_serve_reads_the_flags_and_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Settings] = []

    class Stop(Exception):
        pass

    def capture(settings: Settings, engine: object = None) -> None:
        seen.append(settings)
        raise Stop

    monkeypatch.setattr("mindrail.cli.screen.load_engine", lambda: None)
    monkeypatch.setattr("mindrail.gateway.factory.build_gateway", capture)
    args = ["serve", "--backend", "scripted", "--backend-timeout", "150", "--max-tokens", "128"]
    result = CliRunner().invoke(cli_app, args, env={"MINDRAIL_LOCAL_THREADS": "1"})
    assert isinstance(result.exception, Stop), result.output
    assert (seen[0].backend_timeout_s, seen[0].max_tokens, seen[0].local_threads) == (150.0, 128, 1)
    result = CliRunner().invoke(cli_app, ["serve", "--backend", "scripted"], env={"MINDRAIL_BACKEND_TIMEOUT": "90"})
    assert isinstance(result.exception, Stop) and seen[1].backend_timeout_s == 90.0 and seen[1].max_tokens == 512
    assert seen[1].local_threads is None  # the default: one fewer than the CPUs


def test_the_local_model_leaves_a_core_free_by_default() -> None:
    assert [default_threads(n) for n in (1, 2, 4, 16)] == [1, 1, 3, 8]
    backend = make_backend(Settings(backend="local"))
    assert isinstance(backend, LocalBackend) and backend.threads == default_threads()
