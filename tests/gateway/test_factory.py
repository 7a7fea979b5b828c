"""gateway.factory: the one backend factory and its spec syntax, for `mindrail serve` and the audit bench alike."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mindrail.backends.base import Backend, ChatMessage, GenerationOptions
from mindrail.backends.local import DEFAULT_MAX_TOKENS, LocalBackend, default_threads
from mindrail.backends.openai import OpenAIBackend
from mindrail.backends.scripted import ScriptedBackend
from mindrail.cli import app as cli_app
from mindrail.gateway.factory import BackendSpecError, Settings, backend_settings, make_backend

SCRIPT = "rules:\n  - match: hello\n    reply: Hi from the script.\n"


def _script(tmp_path: Path) -> Path:
    path = tmp_path / "script.yaml"
    path.write_text(SCRIPT, encoding="utf-8")
    return path


def test_local_spec_builds_the_local_model_with_the_configured_threads_and_cap() -> None:
    backend = make_backend(backend_settings("local"))
    assert isinstance(backend, LocalBackend)
    assert (backend.threads, backend.max_tokens) == (default_threads(), DEFAULT_MAX_TOKENS)
    tuned = make_backend(backend_settings("local", Settings(local_threads=2, max_tokens=128)))
    assert isinstance(tuned, LocalBackend) and (tuned.threads, tuned.max_tokens) == (2, 128)


def _reply(backend: Backend) -> str:
    return asyncio.run(backend.complete([ChatMessage("user", "hello")], GenerationOptions())).text


def test_scripted_spec_with_and_without_a_file(tmp_path: Path) -> None:
    bare = make_backend(backend_settings("scripted"))
    assert isinstance(bare, ScriptedBackend) and _reply(bare) != "Hi from the script."
    path = _script(tmp_path)
    for settings in (backend_settings(f"scripted:{path}"), backend_settings("scripted", Settings(script=path))):
        assert settings.backend == "scripted" and settings.script == path
        backend = make_backend(settings)
        assert isinstance(backend, ScriptedBackend) and _reply(backend) == "Hi from the script."


def test_openai_spec_in_both_spellings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    one = backend_settings("openai:http://127.0.0.1:8000/v1#my-model")
    other = backend_settings("openai", Settings(openai_base_url="http://127.0.0.1:8000/v1", openai_model="my-model"))
    for settings in (one, other):
        backend = make_backend(settings)
        assert isinstance(backend, OpenAIBackend)
        assert (backend.base_url, backend.model, backend.is_local) == ("http://127.0.0.1:8000/v1", "my-model", False)
        assert backend._client.headers["Authorization"] == "Bearer sk-test"
    # A '#' inside the URL is kept: the model is what follows the last one.
    assert backend_settings("openai:http://h/v1#frag#m").openai_base_url == "http://h/v1#frag"


def test_a_spec_keeps_the_other_settings() -> None:
    base = Settings(db_url="sqlite:///x.db", max_tokens=64, locale="en-GB")
    settings = backend_settings("scripted", base)
    assert (settings.db_url, settings.max_tokens, settings.locale) == ("sqlite:///x.db", 64, "en-GB")
    assert base.backend == "local"  # the base is not changed


@pytest.mark.parametrize("spec", ["gpt-4", "", "openai:", "openai:http://h/v1", "openai:#model", "openai:http://h#"])
def test_a_bad_spec_names_the_value_and_the_forms(spec: str) -> None:
    with pytest.raises(BackendSpecError) as info:
        backend_settings(spec)
    assert f"{spec!r} is not a backend" in str(info.value)
    assert "local, scripted[:FILE] or openai:BASE_URL#MODEL" in str(info.value)


def test_openai_without_a_server_or_model_is_a_clear_error() -> None:
    with pytest.raises(BackendSpecError, match="openai:BASE_URL#MODEL, or --openai-base-url and --openai-model"):
        make_backend(backend_settings("openai"))


# ---------------------------------------------------------------------------- the command line, both spellings
class _Stop(Exception):
    pass


def _served_settings(monkeypatch: pytest.MonkeyPatch, args: list[str]) -> Settings:
    seen: list[Settings] = []

    def capture(settings: Settings, engine: object = None) -> None:
        seen.append(settings)
        raise _Stop

    monkeypatch.setattr("mindrail.cli.screen.load_engine", lambda: None)
    monkeypatch.setattr("mindrail.gateway.factory.build_gateway", capture)
    result = CliRunner().invoke(cli_app, ["serve", *args])
    assert isinstance(result.exception, _Stop), result.output
    return seen[0]


def test_serve_accepts_both_spellings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = _script(tmp_path)
    assert _served_settings(monkeypatch, ["--backend", "scripted", "--script", str(path)]).script == path
    assert _served_settings(monkeypatch, ["--backend", f"scripted:{path}"]).script == path
    flags = ["--backend", "openai", "--openai-base-url", "http://h/v1", "--openai-model", "m"]
    for args in (flags, ["--backend", "openai:http://h/v1#m"]):
        s = _served_settings(monkeypatch, args)
        assert (s.backend, s.openai_base_url, s.openai_model) == ("openai", "http://h/v1", "m")


def test_serve_and_bench_refuse_a_bad_spec_naming_it() -> None:
    runner = CliRunner()
    served = runner.invoke(cli_app, ["serve", "--backend", "gpt-4"])
    assert served.exit_code == 2 and "--backend 'gpt-4' is not a backend" in served.stderr
    bench = runner.invoke(cli_app, ["bench", "run", "--suite", "single_turn", "--target", "gpt-4"])
    assert bench.exit_code == 2 and "--target 'gpt-4' is not a backend" in bench.stderr
