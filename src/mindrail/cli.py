"""mindrail's command line: thin Typer commands over the packages."""

from __future__ import annotations

import functools
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from mindrail import __version__

app = typer.Typer(
    help="mindrail: a safety layer for mental-health conversations with chat models.",
    no_args_is_help=True,
    add_completion=False,
)
eval_app = typer.Typer(help="Measure components on labelled data.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
keys_app = typer.Typer(help="Encryption keys for the store.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
apikeys_app = typer.Typer(help="API keys for apps calling the gateway.", no_args_is_help=True)
app.add_typer(apikeys_app, name="apikeys")
audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
users_app = typer.Typer(help="Staff accounts for the clinician console.", no_args_is_help=True)
app.add_typer(users_app, name="users")
staff_app = typer.Typer(help="Which tenants console staff see (docs/console.md).", no_args_is_help=True)
app.add_typer(staff_app, name="staff")
export_app = typer.Typer(help="Export data for other tools.", no_args_is_help=True)
app.add_typer(export_app, name="export")
bench_app = typer.Typer(help="Audit bench: safety suites against any model, raw or guarded.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")

DbOpt = Annotated[str, typer.Option("--db", envvar="MINDRAIL_DB", help="SQLAlchemy URL of the store.")]
KeyFileOpt = Annotated[
    Path | None,
    typer.Option("--key-file", envvar="MINDRAIL_KEY_FILE", help="Key-ring file (else MINDRAIL_KEY)."),
]
err = Console(stderr=True, soft_wrap=True)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
        disable=not err.is_terminal and not os.environ.get("MINDRAIL_PROGRESS"),
    )


def _engine() -> Any:
    from mindrail.risk.encoder import EncoderNotBuilt
    from mindrail.risk.engine import RiskEngine

    try:
        return RiskEngine.load()
    except EncoderNotBuilt as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


@app.command()
def version() -> None:
    """Print the package and model versions."""
    typer.echo(f"mindrail {__version__}")


@app.command()
def screen(
    target: Annotated[
        str, typer.Argument(help="A message, or a JSONL file of messages or conversations ('-' = stdin).")
    ],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write JSONL here instead of stdout.")] = None,
    skip_bad: Annotated[bool, typer.Option("--skip-bad", help="Skip bad lines and report counts.")] = False,
    batch_size: Annotated[int, typer.Option(min=1, max=1024)] = 64,
) -> None:
    """Screen text for risk. Output is JSONL assessments, streamed in constant memory.

    A file line is either a message ({"text": ...} or {"role": "user", "content": ...}) or a whole conversation
    in OpenAI format ({"messages": [...]}); a conversation gets one assessment per user turn, in context.
    """
    from mindrail.risk.io import InputError

    engine = _engine()
    sink: TextIO = out.open("w", encoding="utf-8") if out else sys.stdout
    try:
        path = Path(target)
        if target != "-" and not _is_file(path):
            a = engine.assess(target)
            sink.write(json.dumps(a.to_dict(), ensure_ascii=False) + "\n")
            return
        try:
            ok, skipped = _screen_file(engine, path, target == "-", sink, skip_bad, batch_size)
        except InputError as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
        if skip_bad or skipped:
            err.print(f"screened {ok} line(s), skipped {skipped} bad line(s)")
    finally:
        if out:
            sink.close()


def _is_file(path: Path) -> bool:
    """A message can be any text: one too long for a file name, or with a NUL in it, is a message."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _screen_file(
    engine: Any, path: Path, stdin: bool, sink: TextIO, skip_bad: bool, batch_size: int
) -> tuple[int, int]:
    from mindrail.risk.io import InputError, SkipCounter, conversation_turns, iter_jsonl, message_text

    label = "<stdin>" if stdin else str(path)
    counter = SkipCounter()
    fh = sys.stdin.buffer if stdin else path.open("rb")
    total = None if stdin else path.stat().st_size
    pending: list[tuple[int, Any, str]] = []

    def flush() -> None:
        if not pending:
            return
        for (line, rid, _), a in zip(pending, engine.iter_assess([p[2] for p in pending], batch_size), strict=True):
            sink.write(json.dumps({"line": line, "id": rid, "assessment": a.to_dict()}, ensure_ascii=False) + "\n")
        pending.clear()

    with _progress() as bar:
        task = bar.add_task("screening", total=total)
        try:
            for rec in iter_jsonl(fh, label, skip_bad=skip_bad, counter=counter):
                rid = rec.value.get("id")
                try:
                    if "messages" in rec.value:
                        turns = conversation_turns(rec.value, label, rec.line)
                        flush()
                        state = engine.new_conversation()
                        out = []
                        for k, (role, content) in enumerate(turns):
                            if role == "user":
                                out.append({"index": k, **state.add_user(content).to_dict()})
                            elif role == "assistant":
                                state.add_assistant(content)
                        sink.write(json.dumps({"line": rec.line, "id": rid, "turns": out}, ensure_ascii=False) + "\n")
                    else:
                        pending.append((rec.line, rid, message_text(rec.value, label, rec.line)))
                        if len(pending) >= batch_size:
                            flush()
                except InputError:
                    if not skip_bad:
                        raise
                    counter.skipped += 1
                    counter.ok -= 1
                if total:
                    bar.update(task, completed=fh.tell())
            flush()
        finally:
            if not stdin:
                fh.close()
    return counter.ok, counter.skipped


@eval_app.command("detector")
def eval_detector(
    data: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="CSV (with header) or JSONL file.")],
    text_col: Annotated[str, typer.Option(help="Column holding the text.")],
    label_col: Annotated[str, typer.Option(help="Column holding the label.")],
    positive: Annotated[str, typer.Option(help="Label value that counts as positive.")],
    category: Annotated[str, typer.Option(help="Risk category to evaluate.")] = "suicide_self_harm",
    min_level: Annotated[str, typer.Option(help="Positive prediction when the level is at least this.")] = "low",
    out: Annotated[Path | None, typer.Option(help="Output folder for eval.json and eval.md.")] = None,
    limit: Annotated[int | None, typer.Option(help="Use at most this many rows.")] = None,
    skip_bad: Annotated[bool, typer.Option("--skip-bad")] = False,
) -> None:
    """Metrics, latency and a counterfactual identity-swap check on any labelled CSV/JSONL."""
    from mindrail.risk.io import InputError
    from mindrail.risk.types import Category, Level
    from mindrail.training.labelled_file import EvalConfig, evaluate, markdown_summary, write_report

    try:
        cat = Category(category)
        lvl = Level.parse(min_level)
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    cfg = EvalConfig(data, text_col, label_col, positive, cat, lvl, skip_bad=skip_bad, limit=limit)
    engine = _engine()
    with _progress() as bar:
        task = bar.add_task("evaluating", total=None)
        try:
            report = evaluate(engine, cfg, progress=lambda d, t: bar.update(task, completed=d, total=t))
        except InputError as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
    out_dir = out or Path(f"eval-{data.stem}")
    j, md = write_report(report, out_dir)
    Console().print(markdown_summary(report))
    err.print(f"wrote {j} and {md}")


@eval_app.command("challenge")
def eval_challenge(
    out: Annotated[Path | None, typer.Option(help="Write the JSON here as well.")] = None,
) -> None:
    """The frozen challenge set (data/challenge): aggregate figures only, never an item."""
    from mindrail.training import challenge

    report = challenge.evaluate(_engine())
    _emit(report, out)


@eval_app.command("everyday")
def eval_everyday(
    out: Annotated[Path | None, typer.Option(help="Write the JSON here as well.")] = None,
    limit: Annotated[int | None, typer.Option(help="At most this many texts per set.")] = None,
) -> None:
    """Everyday benign text (GoEmotions, ESConv, CounselChat, AnnoMI): rates at each level, and escalations per
    1,000 turns of long everyday conversations."""
    from mindrail.training import benign

    _emit(benign.evaluate(_engine(), limit=limit), out)


@eval_app.command("loso")
def eval_loso(
    out: Annotated[Path | None, typer.Option(help="Write the JSON here as well.")] = None,
    seed: Annotated[int, typer.Option()] = 13,
    sources: Annotated[
        str | None, typer.Option(help="Comma-separated sources to leave out, one fold each (default: all).")
    ] = None,
) -> None:
    """Leave one source out: suicide heads trained without each public source, measured on it."""
    from mindrail.training.dataset import LOSO_SOURCES
    from mindrail.training.loso import loso_report

    chosen = tuple(s.strip() for s in sources.split(",")) if sources else LOSO_SOURCES
    unknown = sorted(set(chosen) - set(LOSO_SOURCES))
    if unknown:
        raise typer.BadParameter(
            f"unknown source(s) {unknown}; choose from {list(LOSO_SOURCES)}", param_hint="--sources"
        )
    with _progress() as bar:
        progress = _stages(bar)
        report = loso_report(seed=seed, cache_dir=Path(".cache/train"), progress=progress, sources=chosen)
    _emit(report, out)


def _stages(bar: Progress) -> Callable[[str, int, int], None]:
    """A progress callback that shows each named stage of long work as its own bar."""
    tasks: dict[str, Any] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=total)
        bar.update(tasks[stage], completed=done)

    return progress


def _emit(report: dict[str, Any], out: Path | None) -> None:
    text = json.dumps(report, indent=1)
    if out:
        out.write_text(text + "\n", encoding="utf-8")
    sys.stdout.write(text + "\n")


@app.command()
def train(
    seed: Annotated[int, typer.Option(help="Random seed (splits and models).")] = 13,
    out: Annotated[Path | None, typer.Option(help="Where to write heads.json.")] = None,
    shared: Annotated[Path | None, typer.Option(help="Folder of public data (default ../shared/data).")] = None,
    sources: Annotated[str | None, typer.Option(help="Comma-separated subset of sources.")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Re-embed everything.")] = False,
    extra: Annotated[
        list[Path] | None, typer.Option(help="Extra labelled JSONL, e.g. from `mindrail export labels` (repeatable).")
    ] = None,
) -> None:
    """Reproduce the shipped detector heads from source data (seeded)."""
    from mindrail.training.train import run_training

    with _progress() as bar:
        progress = _stages(bar)
        path, report = run_training(
            out,
            seed=seed,
            shared=shared,
            sources=tuple(sources.split(",")) if sources else None,
            cache_dir=None if no_cache else Path(".cache/train"),
            progress=progress,
            extra=tuple(extra or ()),
        )
    table = Table(title=f"heads {report['heads_version']} (dev split)")
    for col in ("head", "dev n", "pos", "AUROC", "precision", "recall", "threshold"):
        table.add_column(col)
    for name, r in report["heads"].items():
        d = r["dev"]
        table.add_row(
            name,
            str(d["n"]),
            str(d["positives"]),
            f"{d['auroc'] or 0:.3f}",
            f"{d['precision']:.3f}",
            f"{d['recall']:.3f}",
            f"{r['threshold']:.3f}",
        )
    Console().print(table)
    err.print(f"wrote {path}")


@app.command()
def demo(
    conversation: Annotated[
        Path | None, typer.Option(help="A JSONL conversation to screen instead of the sample.")
    ] = None,
) -> None:
    """Screen the bundled sample conversation and show each turn's assessment."""
    from importlib import resources

    from mindrail.risk.types import Level

    if conversation is None:
        raw = resources.files("mindrail").joinpath("data").joinpath("sample_conversation.json").read_text("utf-8")
    else:
        raw = conversation.read_text(encoding="utf-8")
    convo = json.loads(raw)
    engine = _engine()
    state = engine.new_conversation()
    console = Console()
    console.print(f"[bold]mindrail demo[/bold]: screening a sample conversation with {engine.version}\n")
    colours = {
        Level.NONE: "green",
        Level.LOW: "yellow",
        Level.MODERATE: "dark_orange",
        Level.HIGH: "red",
        Level.IMMINENT: "bold red",
    }
    table = Table(show_lines=True)
    for col in ("turn", "message", "top level", "categories (level, score)", "subject", "reasons"):
        table.add_column(col, overflow="fold")
    for k, m in enumerate(convo["messages"]):
        if m["role"] == "assistant":
            state.add_assistant(m["content"])
            table.add_row(str(k), f"[dim]assistant: {m['content']}[/dim]", "", "", "", "")
            continue
        a = state.add_user(m["content"])
        cats = (
            "\n".join(
                f"{c.value}: {r.level.label} ({r.score:.2f})"
                for c, r in a.categories.items()
                if r.level > Level.NONE or r.score >= 0.2
            )
            or "-"
        )
        reasons = sorted({x for r in a.categories.values() if r.level > Level.NONE for x in r.reasons})
        colour = colours[a.top_level]
        table.add_row(
            str(k),
            m["content"],
            f"[{colour}]{a.top_level.label}[/{colour}]",
            cats,
            a.subject.value,
            "\n".join(reasons[:6]) or "-",
        )
    console.print(table)
    console.print(
        "\nLevels follow the C-SSRS screener triage; see docs/risk-model.md. "
        "mindrail is decision support, not a diagnosis."
    )


def _store(db: str, key_file: Path | None) -> Any:
    from mindrail.gateway.factory import Settings, load_keys
    from mindrail.store import Store
    from mindrail.store.crypto import KeyError_

    try:
        return Store(db, load_keys(Settings(db_url=db, key_file=key_file)))
    except KeyError_ as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8080,
    db: DbOpt = "sqlite:///var/mindrail.db",
    key_file: KeyFileOpt = None,
    create_key: Annotated[bool, typer.Option(help="Create the key-ring file if it is missing.")] = False,
    backend: Annotated[str, typer.Option(help="local | openai | scripted")] = "local",
    openai_base_url: Annotated[
        str | None, typer.Option(help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")
    ] = None,
    openai_model: Annotated[str | None, typer.Option(help="Model name on that server.")] = None,
    openai_api_key_env: Annotated[str, typer.Option(help="Env var holding that server's key.")] = "OPENAI_API_KEY",
    script: Annotated[Path | None, typer.Option(help="Replies for the scripted backend (YAML).")] = None,
    policy: Annotated[Path | None, typer.Option(help="Policy YAML (default: the shipped policy).")] = None,
    locale: Annotated[str | None, typer.Option(help="Default crisis-resource locale, e.g. en-GB.")] = None,
    no_api_key: Annotated[bool, typer.Option(help="Do not require API keys (local testing only).")] = False,
    webhook_url: Annotated[
        str | None, typer.Option(help="POST escalations here (signed with $MINDRAIL_WEBHOOK_SECRET if set).")
    ] = None,
    redact: Annotated[
        bool | None,
        typer.Option("--redact/--no-redact", help="Redact identifiers (default: only for non-local backends)."),
    ] = None,
    smtp_host: Annotated[str | None, typer.Option(help="SMTP server for escalation e-mails.")] = None,
    smtp_port: Annotated[int, typer.Option(help="SMTP port.")] = 25,
    smtp_from: Annotated[str, typer.Option(help="Sender address.")] = "mindrail@localhost",
    notify_email: Annotated[
        list[str] | None, typer.Option(help="Recipient of escalation e-mails (repeatable).")
    ] = None,
    sla: Annotated[
        str | None, typer.Option(help="Review SLA minutes per level, e.g. imminent=5,high=15,moderate=60,low=240.")
    ] = None,
    screen_max_chars: Annotated[
        int,
        typer.Option(min=1, envvar="MINDRAIL_SCREEN_MAX_CHARS", help="Longest text /v1/screen assesses (413 above)."),
    ] = 20_000,
    screen_concurrency: Annotated[
        int,
        typer.Option(min=1, envvar="MINDRAIL_SCREEN_CONCURRENCY", help="Screenings run at once, in worker threads."),
    ] = 1,
    tls_proxy: Annotated[
        bool,
        typer.Option(
            envvar="MINDRAIL_TLS_PROXY", help="Served behind a TLS-terminating proxy: cookies are always Secure."
        ),
    ] = False,
    backend_timeout: Annotated[
        float,
        typer.Option(
            min=1.0,
            envvar="MINDRAIL_BACKEND_TIMEOUT",
            help="Seconds one model reply may take before the person is told the model is having trouble.",
        ),
    ] = 60.0,
    max_tokens: Annotated[
        int,
        typer.Option(
            min=1, max=8192, envvar="MINDRAIL_MAX_TOKENS", help="Longest reply in tokens (caps a client's max_tokens)."
        ),
    ] = 512,
    local_threads: Annotated[
        int | None,
        typer.Option(
            min=1, envvar="MINDRAIL_LOCAL_THREADS", help="CPU threads for the local model (default: CPUs minus one)."
        ),
    ] = None,
    app_system_prompt: Annotated[
        str,
        typer.Option(
            envvar="MINDRAIL_APP_SYSTEM_PROMPT",
            help="keep: an app's own system prompt goes beneath the safety prompt as lower-priority instructions; "
            "drop: it is ignored.",
        ),
    ] = "keep",
) -> None:
    """Serve the guarded gateway: OpenAI-compatible API, screening, consent and data rights. /metrics needs
    `Authorization: Bearer $MINDRAIL_METRICS_TOKEN` when that variable is set."""
    import uvicorn

    from mindrail.console.app import add_console_routes
    from mindrail.gateway.app import create_app
    from mindrail.gateway.chat import add_chat_routes
    from mindrail.gateway.factory import Settings, api_options, build_gateway

    if backend not in ("local", "openai", "scripted"):
        err.print(f"[red]error:[/red] --backend must be local, openai or scripted, not {backend!r}")
        raise typer.Exit(2)
    if app_system_prompt not in ("keep", "drop"):
        err.print(f"[red]error:[/red] --app-system-prompt must be keep or drop, not {app_system_prompt!r}")
        raise typer.Exit(2)
    settings = Settings(
        db_url=db,
        key_file=key_file,
        create_key=create_key,
        backend=backend,  # type: ignore[arg-type]
        openai_base_url=openai_base_url,
        openai_model=openai_model,
        openai_api_key_env=openai_api_key_env,
        script=script,
        policy=policy,
        locale=locale,
        webhook_url=webhook_url,
        redact=redact,
        smtp_host=smtp_host,
        smtp_port=smtp_port,
        smtp_sender=smtp_from,
        smtp_recipients=tuple(notify_email or ()),
        console_url=f"http://{host}:{port}/console",
        screen_max_chars=screen_max_chars,
        screen_concurrency=screen_concurrency,
        tls_proxy=tls_proxy,
        backend_timeout_s=backend_timeout,
        max_tokens=max_tokens,
        local_threads=local_threads,
        app_system_prompt=app_system_prompt,  # type: ignore[arg-type]
    )
    gateway = build_gateway(settings, _engine())
    secret = gateway.store.keys.derive("chat-cookie")

    sla_minutes = _parse_sla(sla)

    def extra(a: Any) -> None:
        add_chat_routes(a, gateway, secret, secure_cookie=settings.tls_proxy)
        add_console_routes(a, gateway, secure_cookie=settings.tls_proxy, sla_minutes=sla_minutes)

    app_ = create_app(gateway, require_api_key=not no_api_key, extra_routes=extra, options=api_options(settings))
    err.print(f"mindrail: chat page at http://{host}:{port}/chat  (API docs at http://{host}:{port}/docs)")
    uvicorn.run(app_, host=host, port=port, log_level="warning")


def _parse_sla(spec: str | None) -> Any:
    from mindrail.risk.types import Level

    if not spec:
        return None
    out = {}
    for part in spec.split(","):
        name, _, minutes = part.partition("=")
        try:
            out[Level.parse(name.strip())] = int(minutes)
        except ValueError:
            err.print(f"[red]error:[/red] --sla: {part!r} is not level=minutes (levels: low, moderate, high, imminent)")
            raise typer.Exit(2) from None
    return out


@app.command()
def openapi(out: Annotated[Path, typer.Option(help="Where to write the spec.")] = Path("docs/openapi.json")) -> None:
    """Write the gateway's OpenAPI spec (the published API contract; tests check it is current)."""
    from mindrail.gateway.app import openapi_spec

    out.write_text(json.dumps(openapi_spec(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    err.print(f"wrote {out}")


@keys_app.command("init")
def keys_init(path: Annotated[Path, typer.Argument(help="Key-ring file to create.")]) -> None:
    """Create a key-ring file with one new AES-256 key (mode 0600)."""
    from mindrail.store import KeyRing

    if path.exists():
        err.print(f"[red]error:[/red] {path} exists; use `mindrail keys rotate`")
        raise typer.Exit(2)
    path.parent.mkdir(parents=True, exist_ok=True)
    KeyRing.generate().save(path)
    err.print(f"wrote {path}")


@keys_app.command("rotate")
def keys_rotate(
    db: DbOpt = "sqlite:///var/mindrail.db",
    key_file: Annotated[Path, typer.Option("--key-file", envvar="MINDRAIL_KEY_FILE", help="Key-ring file.")] = Path(
        "var/keys.json"
    ),
    retire: Annotated[bool, typer.Option(help="Drop old keys from the ring once everything is re-sealed.")] = True,
) -> None:
    """Add a new active key, re-seal every stored value with it, then (by default) retire the old keys."""
    store = _store(db, key_file)
    new = store.keys.rotated()
    new.save(key_file)  # saved first: if re-sealing stops half way, both keys are still in the ring
    n = store.rotate_keys(new)
    if retire:
        new.without_retired(keep=set()).save(key_file)
    err.print(f"re-sealed {n} values; active key {new.active}")


def _known_consent(version: str | None) -> str | None:
    """The version, if it is one the policy's consent text knows; else exit with the known ones."""
    from mindrail.policy.consent import default_consent

    known = default_consent().known_versions
    if version is not None and version not in known:
        err.print(f"unknown consent version {version!r}; known: {', '.join(sorted(known))}")
        raise typer.Exit(2)
    return version


ConsentOpt = Annotated[
    str | None,
    typer.Option(
        "--consent-attested",
        help="Consent text version (GET /v1/consent) that you attest every person using the app accepted. Requests "
        "on the key may then leave out the conversation (drop-in mode).",
    ),
]


@apikeys_app.command("create")
def apikeys_create(
    name: Annotated[str, typer.Argument(help="Who the key is for.")],
    consent_attested: ConsentOpt = None,
    tenant: Annotated[
        str | None,
        typer.Option(
            help="Tenant whose conversations the key reaches (default: a new tenant named after the key's id). "
            "Give several keys the same tenant to let them share conversations, e.g. another key's id."
        ),
    ] = None,
    db: DbOpt = "sqlite:///var/mindrail.db",
    key_file: KeyFileOpt = None,
) -> None:
    """Create an API key. It is printed once; only its hash is stored."""
    version = _known_consent(consent_attested)
    try:
        typer.echo(_store(db, key_file).create_api_key(name, consent_version=version, tenant=tenant))
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


@apikeys_app.command("list")
def apikeys_list(db: DbOpt = "sqlite:///var/mindrail.db", key_file: KeyFileOpt = None) -> None:
    """Every key's id, name, tenant, attested consent and state (secrets are never stored)."""
    table = Table("id", "name", "tenant", "consent attested", "state")
    for k in _store(db, key_file).api_keys():
        table.add_row(k["id"], k["name"], k["tenant"], k["consent_version"] or "-", "revoked" if k["revoked"] else "")
    Console(soft_wrap=True).print(table)


@apikeys_app.command("attest")
def apikeys_attest(
    key_id: Annotated[str, typer.Argument(help="The id part of mr_<id>_<secret>.")],
    consent_attested: ConsentOpt = None,
    clear: Annotated[bool, typer.Option(help="Withdraw the attestation: requests must name a conversation.")] = False,
    db: DbOpt = "sqlite:///var/mindrail.db",
    key_file: KeyFileOpt = None,
) -> None:
    """Attest (or with --clear, stop attesting) consent for an existing key."""
    if clear == (consent_attested is not None):
        err.print("give exactly one of --consent-attested VERSION or --clear")
        raise typer.Exit(2)
    _store(db, key_file).attest_api_key_consent(key_id, _known_consent(consent_attested))
    err.print(
        f"{key_id}: consent attested {consent_attested}" if consent_attested else f"{key_id}: attestation cleared"
    )


@apikeys_app.command("revoke")
def apikeys_revoke(
    key_id: Annotated[str, typer.Argument(help="The id part of mr_<id>_<secret>.")],
    db: DbOpt = "sqlite:///var/mindrail.db",
    key_file: KeyFileOpt = None,
) -> None:
    _store(db, key_file).revoke_api_key(key_id)
    err.print(f"revoked {key_id}")


TenantsOpt = Annotated[
    list[str] | None, typer.Option("--tenant", help="A tenant they may see in the console (repeatable).")
]
AllTenantsOpt = Annotated[bool, typer.Option(help="They may see every tenant, present and future.")]


def _grant_list(tenant: list[str] | None, all_tenants: bool) -> list[str]:
    """The tenants named on the command line ("*" for --all-tenants); exits unless exactly one form is used."""
    from mindrail.store.tenancy import ALL

    if bool(tenant) == all_tenants:
        err.print("give --tenant TENANT (repeatable) or --all-tenants")
        raise typer.Exit(2)
    return [ALL] if all_tenants else list(tenant or ())


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Option(help="admin | clinician | auditor")] = "admin",
    tenant: TenantsOpt = None,
    all_tenants: AllTenantsOpt = False,
    password_stdin: Annotated[bool, typer.Option(help="Read the password from standard input.")] = False,
    db: DbOpt = "sqlite:///var/mindrail.db",
    key_file: KeyFileOpt = None,
) -> None:
    """Create a staff account (the first admin is created this way; there are no default passwords). Which tenants
    they see is always said: --tenant T (repeatable) or --all-tenants."""
    from mindrail.console.accounts import Accounts

    tenants = _grant_list(tenant, all_tenants)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        Accounts(_store(db, key_file)).add_user(username, role, password, tenants=tenants)
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    err.print(f"added {role} {username} ({'all tenants' if '*' in tenants else ', '.join(tenants)})")


@staff_app.command("grant")
def staff_grant(
    username: Annotated[str, typer.Argument(help="Staff login name.")],
    tenants: Annotated[list[str] | None, typer.Argument(help="Tenants to grant.")] = None,
    all_tenants: AllTenantsOpt = False,
    db: DbOpt = "sqlite:///var/mindrail.db",
    key_file: KeyFileOpt = None,
) -> None:
    """Let a member of staff see tenants in the console (audited; applies at their next page)."""
    from mindrail.console.accounts import Accounts
    from mindrail.store import NotFound

    names = _grant_list(tenants, all_tenants)
    store = _store(db, key_file)
    accounts, known = Accounts(store), set(store.tenants())
    try:
        for t in names:
            added = accounts.grant(username, t)
            note = "" if t == "*" or t in known else " (no key or conversation has this tenant yet)"
            err.print(f"{username}: {'granted' if added else 'already had'} {t}{note}")
    except (ValueError, NotFound) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


@staff_app.command("revoke")
def staff_revoke(
    username: Annotated[str, typer.Argument(help="Staff login name.")],
    tenants: Annotated[list[str] | None, typer.Argument(help="Tenants to revoke.")] = None,
    all_tenants: AllTenantsOpt = False,
    db: DbOpt = "sqlite:///var/mindrail.db",
    key_file: KeyFileOpt = None,
) -> None:
    """Stop a member of staff seeing tenants (--all-tenants revokes the grant to every tenant, not each one)."""
    from mindrail.console.accounts import Accounts
    from mindrail.store import NotFound

    accounts = Accounts(_store(db, key_file))
    try:
        for t in _grant_list(tenants, all_tenants):
            removed = accounts.revoke(username, t)
            err.print(f"{username}: {'revoked' if removed else 'had no grant to'} {t}")
    except NotFound as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


@staff_app.command("list")
def staff_list(db: DbOpt = "sqlite:///var/mindrail.db", key_file: KeyFileOpt = None) -> None:
    """Who sees which tenants, and the tenants no clinician sees (their escalations would wait unseen)."""
    from mindrail.console.accounts import Accounts

    store = _store(db, key_file)
    users = Accounts(store).list_users()
    table = Table("username", "role", "tenants")
    for u in users:
        tenants = list(u["tenants"])
        table.add_row(str(u["username"]), str(u["role"]), "all" if "*" in tenants else ", ".join(tenants) or "none")
    Console(soft_wrap=True).print(table)
    seen: set[str] = set()
    for u in users:
        if u["role"] == "clinician" and not u["disabled"]:
            seen.update(u["tenants"])
    unseen = [] if "*" in seen else [t for t in store.tenants() if t not in seen]
    if unseen:
        err.print(f"[yellow]no clinician sees:[/yellow] {', '.join(unseen)}")


@export_app.command("labels")
def export_labels_cmd(
    out: Annotated[Path, typer.Option(help="JSONL to write (the format `mindrail train --extra` reads).")] = Path(
        "clinician-labels.jsonl"
    ),
    tenant: Annotated[
        list[str] | None, typer.Option("--tenant", help="Only these tenants (repeatable; default: every tenant).")
    ] = None,
    staff: Annotated[
        str | None, typer.Option(help="Only the tenants this staff member is granted; audited as them.")
    ] = None,
    db: DbOpt = "sqlite:///var/mindrail.db",
    key_file: KeyFileOpt = None,
) -> None:
    """Resolved escalations, de-identified, as labelled examples: clinicians' judgements improve the detector."""
    from mindrail.console.accounts import Accounts
    from mindrail.console.labels import export_labels
    from mindrail.privacy import Vault, default_redactor
    from mindrail.store import NotFound
    from mindrail.store.tenancy import EVERYTHING, Grants, staff_actor

    if tenant and staff:
        err.print("give --tenant or --staff, not both")
        raise typer.Exit(2)
    store = _store(db, key_file)
    grants, actor = (Grants.of(tenant), "cli") if tenant else (EVERYTHING, "cli")
    if staff:
        try:
            grants, actor = Accounts(store).grants(staff), staff_actor(staff)
        except NotFound as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
    n = export_labels(store, out, default_redactor(), Vault, grants, actor)
    err.print(f"wrote {n} labelled examples to {out}")


def _bench_backend(spec: str) -> Any:
    """local | scripted[:FILE] | openai:BASE_URL#MODEL (key from $OPENAI_API_KEY)."""
    kind, _, rest = spec.partition(":")
    if kind == "local":
        from mindrail.backends.local import LocalBackend

        return LocalBackend()
    if kind == "scripted":
        from mindrail.backends.scripted import ScriptedBackend

        return ScriptedBackend.from_file(Path(rest)) if rest else ScriptedBackend()
    if kind == "openai" and "#" in rest:
        from mindrail.backends.openai import OpenAIBackend

        url, model = rest.rsplit("#", 1)
        return OpenAIBackend(url, model, api_key=os.environ.get("OPENAI_API_KEY"))
    err.print(f"[red]error:[/red] --target {spec!r}: expected local, scripted[:FILE] or openai:BASE_URL#MODEL")
    raise typer.Exit(2)


def _bench_judges(spec: str, second: list[str] | None) -> list[Any]:
    """offline | llm:BACKEND (any --target spec), then optional second opinions."""
    from mindrail.bench.judge import OfflineJudge
    from mindrail.bench.llm_judge import LLMJudge

    def one(s: str) -> Any:
        if s == "offline":
            return OfflineJudge()
        if s.startswith("llm:"):
            return LLMJudge(_bench_backend(s[4:]))
        err.print(f"[red]error:[/red] --judge {s!r}: expected offline or llm:BACKEND")
        raise typer.Exit(2)

    return [one(spec), *(one(x) for x in second or [])]


@bench_app.command("run")
def bench_run(
    suite: Annotated[
        str,
        typer.Option(help="single_turn, over_refusal, stigma, personas, counterfactual, or a JSONL/YAML suite file."),
    ],
    target: Annotated[str, typer.Option(help="local | scripted[:FILE] | openai:BASE_URL#MODEL")] = "local",
    guarded: Annotated[bool, typer.Option(help="Put mindrail in front of the target.")] = False,
    policy: Annotated[Path | None, typer.Option(help="Policy YAML for --guarded (default: shipped policy).")] = None,
    judge: Annotated[str, typer.Option(help="offline, or llm:BACKEND (a model judge, same specs as --target).")] = (
        "offline"
    ),
    second_judge: Annotated[
        list[str] | None, typer.Option(help="More judges whose answers are recorded beside the first's.")
    ] = None,
    user: Annotated[
        str | None, typer.Option(help="Persona suites: a backend that plays the person (default: scripted turns).")
    ] = None,
    max_turns: Annotated[int, typer.Option(help="Persona suites with --user: user turns per conversation.")] = 6,
    only: Annotated[
        str | None, typer.Option(help="Run only the cases whose id matches this regular expression (a subset).")
    ] = None,
    concurrency: Annotated[int, typer.Option(help="Cases in flight at once.")] = 1,
    out: Annotated[Path | None, typer.Option(help="Run file (JSONL); an existing one is resumed.")] = None,
    max_tokens: Annotated[int, typer.Option(help="Longest reply per model call.")] = 256,
) -> None:
    """Run a suite against a target, checkpointing every finished case (re-run the same command to resume)."""
    import asyncio

    from mindrail.backends.base import GenerationOptions
    from mindrail.bench.run import RunFileError, run_suite
    from mindrail.bench.suite import SuiteError
    from mindrail.bench.target import GuardedTarget, RawTarget
    from mindrail.bench.tasks import load, parts
    from mindrail.policy.decide import Policy

    try:
        s = load(suite)
        if only is not None:
            s = s.subset(only)
    except (SuiteError, re.error) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    backend = _bench_backend(target)
    engine = functools.cache(_engine)  # loaded once, and only if the target or the suite needs it
    task = parts(
        s,
        _bench_judges(judge, second_judge),
        engine=engine,
        simulated_user=_bench_backend(user) if user else None,
        max_turns=max_turns,
    )
    opts = GenerationOptions(max_tokens=max_tokens, temperature=0.0, seed=0)
    t: Any = (
        GuardedTarget(engine(), Policy.load(policy), backend, opts) if guarded else RawTarget(backend, options=opts)
    )
    out = out or Path("runs") / f"{s.name}-{target.split(':')[0]}-{'guarded' if guarded else 'raw'}.jsonl"
    with _progress() as bar:
        progress = bar.add_task(f"{s.name} · {t.name}", total=len(s))
        try:
            run = asyncio.run(
                run_suite(
                    s,
                    t,
                    task.scorer,
                    out,
                    solver=task.solver,
                    concurrency=concurrency,
                    progress=lambda done, total: bar.update(progress, completed=done),
                )
            )
        except RunFileError as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
    ok = sum(1 for r in run.results if r.get("status") == "ok")
    err.print(f"{ok}/{len(s)} cases finished → {out}")


@bench_app.command("rescore")
def bench_rescore(
    run: Annotated[Path, typer.Argument(help="A finished run file.")],
    suite: Annotated[str, typer.Option(help="The suite it was run on (name or file).")],
    judge: Annotated[str, typer.Option(help="offline, or llm:BACKEND.")] = "offline",
    out: Annotated[Path | None, typer.Option(help="Where to write (default: replace the run file).")] = None,
) -> None:
    """Judge a finished run again (a newer judge, or a model judge) without calling the target."""
    import asyncio

    from mindrail.bench.run import RunFileError, rescore
    from mindrail.bench.suite import SuiteError
    from mindrail.bench.tasks import load, parts

    try:
        s = load(suite)
        task = parts(s, _bench_judges(judge, None), engine=functools.cache(_engine))
        done = asyncio.run(rescore(run, s, task.scorer, out or run))
    except (SuiteError, RunFileError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    err.print(f"rescored {sum(1 for r in done.results if r.get('status') == 'ok')} cases → {out or run}")


@bench_app.command("report")
def bench_report(
    runs: Annotated[list[Path], typer.Argument(help="Run files.")],
    out: Annotated[Path, typer.Option(help="Folder for report.html, report.json, report.md.")] = Path("reports"),
) -> None:
    """A self-contained offline HTML report with confidence intervals, plus JSON and markdown."""
    from mindrail.bench.report import build_report
    from mindrail.bench.run import RunFileError

    try:
        build_report(runs, out)
    except RunFileError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    typer.echo((out / "report.md").read_text(encoding="utf-8"))


@bench_app.command("validate-judge")
def bench_validate_judge(
    labels: Annotated[Path, typer.Option(help="JSONL of cases with a reply and a human yes/no label.")] = Path(
        "src/mindrail/bench/validation/judge_labels.jsonl"
    ),
    judge: Annotated[str, typer.Option(help="offline, or llm:BACKEND.")] = "offline",
) -> None:
    """Agreement of a judge with human labels: accuracy, Cohen's kappa, confusion, per check."""
    from mindrail.bench.suite import SuiteError
    from mindrail.bench.validate import load_labels, validate

    try:
        result = validate(_bench_judges(judge, None)[0], load_labels(labels))
    except SuiteError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    typer.echo(json.dumps(result, indent=1))


@bench_app.command("validate-stigma")
def bench_validate_stigma(
    published: Annotated[Path, typer.Option(help="The paper's coded answers (all_combined.csv).")] = Path(
        "../shared/data/moore_stigma/published_model_answers.csv"
    ),
) -> None:
    """Agreement of the stigma coder with Moore et al.'s own coding of their models' answers."""
    from mindrail.bench.stigma import validate_coder

    if not published.exists():
        err.print(f"[red]error:[/red] {published}: no such file")
        raise typer.Exit(2)
    typer.echo(json.dumps(validate_coder(published), indent=1))


@bench_app.command("compare")
def bench_compare(a: Annotated[Path, typer.Argument()], b: Annotated[Path, typer.Argument()]) -> None:
    """Per-condition appropriate rates of two runs side by side."""
    from mindrail.bench.report import compare

    c = compare(a, b)
    table = Table(title=f"{c['a']} vs {c['b']}")
    for col in ("condition", "A", "B", "B - A"):
        table.add_column(col)

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v:.1%}"

    for r in c["rows"]:
        diff = "-" if r["diff"] is None else f"{r['diff']:+.1%}"
        table.add_row(r["condition"], pct(r["a"]), pct(r["b"]), diff)
    table.add_row("OVERALL", pct(c["overall"][0]), pct(c["overall"][1]), "")
    Console().print(table)


@audit_app.command("verify")
def audit_verify(db: DbOpt = "sqlite:///var/mindrail.db", key_file: KeyFileOpt = None) -> None:
    """Check the audit chain and the stored turns against it; exit 1 on any edit, deletion or reordering."""
    report = _store(db, key_file).verify_audit()
    if report.ok:
        typer.echo(f"audit log OK: {report.events} events, chain intact")
        return
    typer.echo(f"audit log BROKEN ({len(report.problems)} problem(s) shown):")
    for p in report.problems:
        typer.echo(f"  {p}")
    raise typer.Exit(1)


if __name__ == "__main__":  # pragma: no cover
    app()
