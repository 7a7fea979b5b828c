"""Builds a Gateway from settings (CLI flags or environment), so `mindrail serve` and tests share one wiring, and
the one backend factory: `mindrail serve --backend` and the audit bench's `--target`, `--user` and `--judge llm:`
name a backend in the same spec syntax (``backend_settings``), built by ``make_backend``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from mindrail.backends.base import Backend
from mindrail.gateway.care import CareDesk
from mindrail.gateway.jobs import JobSettings
from mindrail.gateway.pipeline import Guard, GuardConfig
from mindrail.gateway.recorder import StoreRecorder
from mindrail.gateway.service import Gateway, GatewayConfig
from mindrail.policy.decide import Policy
from mindrail.risk.engine import RiskEngine
from mindrail.risk.types import Level
from mindrail.store import KeyRing, Store

if TYPE_CHECKING:
    from mindrail.gateway.app import ApiOptions

BackendKind = Literal["local", "openai", "scripted"]
BACKEND_SPECS: Final = "local, scripted[:FILE] or openai:BASE_URL#MODEL"
"""The backend spec syntax, as error messages and ``--help`` name it."""


@dataclass
class Settings:
    db_url: str = "sqlite:///var/mindrail.db"
    key_file: Path | None = None
    """Key-ring file; created when missing if ``create_key`` is set. Otherwise MINDRAIL_KEY / MINDRAIL_KEY_FILE."""
    create_key: bool = False
    backend: BackendKind = "local"
    openai_base_url: str | None = None
    openai_model: str | None = None
    openai_api_key_env: str = "OPENAI_API_KEY"
    openai_is_local: bool = False
    script: Path | None = None
    policy: Path | None = None
    locale: str | None = None
    redact: bool | None = None
    """None: redact only for non-local backends."""
    webhook_url: str | None = None
    webhook_secret_env: str = "MINDRAIL_WEBHOOK_SECRET"
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_sender: str = "mindrail@localhost"
    smtp_recipients: tuple[str, ...] = ()
    console_url: str = "http://127.0.0.1:8080/console"
    screen_max_chars: int = 20_000
    """Longest text ``/v1/screen`` assesses; longer gets 413."""
    screen_concurrency: int = 1
    """Screenings running at once (worker threads)."""
    metrics_token_env: str = "MINDRAIL_METRICS_TOKEN"
    """Env var holding the token ``/metrics`` requires; unset or empty: ``/metrics`` is open."""
    tls_proxy: bool = False
    """Served behind a TLS-terminating proxy: console and chat-page cookies are always Secure."""
    backend_timeout_s: float = 60.0
    """How long one model reply may take before the person gets the "having trouble" message. A loaded CPU makes
    the local model slow: raise it there (measured in benchmarks/run_local_speed.py)."""
    max_tokens: int = 512
    """The longest reply, in tokens: a client's ``max_tokens`` is capped by it, and so is the local model."""
    local_threads: int | None = None
    """CPU threads for the local model (None: one fewer than the CPUs, see ``backends.local.default_threads``)."""
    app_system_prompt: Literal["keep", "drop"] = "keep"
    """An app's own system prompt: kept beneath the safety prompt as lower-priority instructions, or dropped."""
    sla_minutes: Mapping[Level, int] | None = None
    """Review SLA minutes per level (default ``gateway.jobs.DEFAULT_SLA_MINUTES``)."""
    hold_timeout_s: float = 300.0
    """A held reply nobody released in this time is replaced by the safe reply with resources."""
    job_lease_s: float = 60.0
    """How long a background job claimed by an instance is its own (gateway.jobs.JobSettings.lease_s)."""


def api_options(settings: Settings) -> ApiOptions:
    """The HTTP edge's settings for ``create_app``. The metrics token comes from the environment, never a flag
    (which ``ps`` shows to every user of the machine)."""
    from mindrail.gateway.app import ApiOptions

    return ApiOptions(
        screen_max_chars=settings.screen_max_chars,
        screen_concurrency=settings.screen_concurrency,
        metrics_token=os.environ.get(settings.metrics_token_env) or None,
    )


def load_keys(settings: Settings) -> KeyRing:
    if settings.key_file is not None:
        if not settings.key_file.exists() and settings.create_key:
            settings.key_file.parent.mkdir(parents=True, exist_ok=True)
            KeyRing.generate().save(settings.key_file)
        return KeyRing.load(settings.key_file)
    return KeyRing.from_env()


class BackendSpecError(ValueError):
    """A backend spec that names no backend; the message names the value and the forms accepted."""


def backend_settings(spec: str, base: Settings | None = None) -> Settings:
    """``base`` (default: ``Settings()``) with the backend ``spec`` names: ``local``; ``scripted`` or
    ``scripted:FILE`` (replies from a YAML script); ``openai:BASE_URL#MODEL``, any OpenAI-compatible server (its key
    from ``$OPENAI_API_KEY``). A bare ``openai`` or ``scripted`` keeps ``base``'s server, model and script, which
    ``mindrail serve`` also takes as ``--openai-base-url``, ``--openai-model`` and ``--script``."""
    settings = base or Settings()
    kind, colon, rest = spec.partition(":")
    if kind == "local":
        return replace(settings, backend="local")
    if kind == "scripted":
        return replace(settings, backend="scripted", script=Path(rest) if rest else settings.script)
    if kind == "openai" and not colon:
        return replace(settings, backend="openai")
    url, _, model = rest.rpartition("#")
    if kind == "openai" and url and model:
        return replace(settings, backend="openai", openai_base_url=url, openai_model=model)
    raise BackendSpecError(f"{spec!r} is not a backend: expected {BACKEND_SPECS}")


def make_backend(settings: Settings) -> Backend:
    """The backend ``settings`` name (see ``backend_settings`` for the spec syntax)."""
    if settings.backend == "local":
        from mindrail.backends.local import LocalBackend, default_threads

        return LocalBackend(threads=settings.local_threads or default_threads(), max_tokens=settings.max_tokens)
    if settings.backend == "openai":
        from mindrail.backends.openai import OpenAIBackend

        if not settings.openai_base_url or not settings.openai_model:
            raise BackendSpecError(
                "the openai backend needs a server and a model: openai:BASE_URL#MODEL, "
                "or --openai-base-url and --openai-model"
            )
        return OpenAIBackend(
            settings.openai_base_url,
            settings.openai_model,
            api_key=os.environ.get(settings.openai_api_key_env),
            is_local=settings.openai_is_local,
        )
    from mindrail.backends.scripted import ScriptedBackend

    return ScriptedBackend.from_file(settings.script) if settings.script else ScriptedBackend()


def _privacy(settings: Settings, backend: Backend) -> tuple[Any, Any, Any]:
    """(redactor, vault factory, vault loader), or Nones when nothing needs redacting."""
    wanted = settings.redact if settings.redact is not None else not backend.is_local
    if not wanted:
        return None, None, None
    from mindrail.privacy import Vault, default_redactor

    return default_redactor(), Vault, Vault.from_dict


def _webhook(settings: Settings) -> tuple[Any, ...]:
    if not settings.webhook_url:
        return ()
    from mindrail.gateway.webhook import WebhookNotifier

    secret = os.environ.get(settings.webhook_secret_env)
    return (WebhookNotifier(settings.webhook_url, secret=secret.encode() if secret else None),)


def _email(settings: Settings) -> tuple[Any, ...]:
    if not settings.smtp_host or not settings.smtp_recipients:
        return ()
    from mindrail.gateway.email import EmailNotifier, SmtpSettings

    smtp = SmtpSettings(
        settings.smtp_host,
        settings.smtp_port,
        sender=settings.smtp_sender,
        recipients=settings.smtp_recipients,
        username=os.environ.get("MINDRAIL_SMTP_USER"),
        password=os.environ.get("MINDRAIL_SMTP_PASSWORD"),
        starttls=bool(os.environ.get("MINDRAIL_SMTP_STARTTLS")),
        console_url=settings.console_url,
    )
    return (EmailNotifier(smtp),)


def build_gateway(settings: Settings, engine: RiskEngine | None = None) -> Gateway:
    engine = engine or RiskEngine.load()
    store = Store(settings.db_url, load_keys(settings))
    backend = make_backend(settings)
    redactor, vault_factory, vault_loader = _privacy(settings, backend)
    policy = Policy.load(settings.policy)
    notifiers = (*_webhook(settings), *_email(settings))
    guard = Guard(
        engine,
        policy,
        backend,
        care=CareDesk(policy),
        redactor=redactor,
        recorder=StoreRecorder(store, channels=tuple(n.name for n in notifiers)),
        vault_factory=vault_factory,
        config=GuardConfig(
            redact_local=bool(settings.redact) and backend.is_local,
            backend_timeout_s=settings.backend_timeout_s,
            app_system_prompt=settings.app_system_prompt,
        ),
    )
    config = GatewayConfig(
        default_locale=settings.locale,
        max_tokens_cap=settings.max_tokens,
        sla_minutes=settings.sla_minutes,
        hold_timeout_s=settings.hold_timeout_s,
        jobs=JobSettings(lease_s=settings.job_lease_s),
    )
    return Gateway(guard, store, config, vault_loader=vault_loader, notifiers=notifiers)
