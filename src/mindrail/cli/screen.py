"""Screening and serving: ``mindrail screen``, ``demo``, ``serve`` and ``openapi``. The screening itself is
``mindrail.screening``; this module reads the arguments, shows progress and renders the demo's table."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.console import Console
from rich.table import Table

from mindrail.cli.common import DbOpt, KeyFileOpt, err, load_engine, progress_bar


def screen(
    target: Annotated[
        str, typer.Argument(help="A message, or a JSONL file of messages or conversations ('-' = stdin).")
    ],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write JSONL here instead of stdout.")] = None,
    skip_bad: Annotated[bool, typer.Option("--skip-bad", help="Skip bad lines and report counts.")] = False,
    batch_size: Annotated[int, typer.Option(min=1, max=1024)] = 64,
    ray: Annotated[
        bool,
        typer.Option(
            "--ray",
            help="Screen the file on Ray workers: a new local Ray cluster, or the one --ray-address names. "
            "The output is the same, byte for byte.",
        ),
    ] = False,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address",
            metavar="ADDRESS",
            help="Join this Ray cluster (host:port, ray://host:port or auto) instead of starting one; implies --ray.",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, help="With --ray: workers, each with its own engine (default: cluster CPUs)."),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="With --ray and --out: continue a stopped run from OUT.progress.json."),
    ] = False,
) -> None:
    """Screen text for risk. Output is JSONL assessments, streamed in constant memory.

    A file line is either a message ({"text": ...} or {"role": "user", "content": ...}) or a whole conversation
    in OpenAI format ({"messages": [...]}); a conversation gets one assessment per turn (each of the person's
    messages, numbered from 1), in context, with its message_index in "messages".

    With --ray (a new local cluster) or --ray-address ADDRESS (an existing one) a file is screened by --workers
    Ray actors, each loading the engine once; the output is the same as without, in input order. With --out, a
    checkpoint (OUT.progress.json) is kept, and --resume continues a run that stopped.
    """
    from mindrail.risk.io import InputError

    if ray or ray_address:
        _screen_on_ray(target, out, skip_bad, batch_size, ray_address, workers, resume)
        return
    if workers is not None or resume:
        err.print("[red]error:[/red] --workers and --resume need --ray")
        raise typer.Exit(2)
    engine = load_engine()
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


def _screen_on_ray(
    target: str,
    out: Path | None,
    skip_bad: bool,
    batch_size: int,
    address: str | None,
    workers: int | None,
    resume: bool,
) -> None:
    """``mindrail screen FILE --ray``: the same output from Ray actors (mindrail.cluster.screen). The driver loads no
    engine; it reads, orders and writes."""
    from mindrail.cluster import connect, shutdown
    from mindrail.cluster.screen import ResumeError, WorkerPool, WorkerStartError, finished, screen_file
    from mindrail.risk.io import InputError

    stdin = target == "-"
    path = Path(target)
    if not stdin and not _is_file(path):
        err.print("[red]error:[/red] --ray screens a JSONL file (or '-' for stdin), not a message")
        raise typer.Exit(2)
    if resume and (stdin or out is None):
        err.print("[red]error:[/red] --resume needs an input file and --out")
        raise typer.Exit(2)
    if resume and out is not None and finished(path, out, batch_size, skip_bad):
        err.print(f"{out} is already complete")
        return
    started = connect(address)
    try:
        with WorkerPool(workers) as pool, progress_bar() as bar:
            total = None if stdin else path.stat().st_size
            task = bar.add_task("screening", total=total)

            def advance(done: int) -> None:
                bar.update(task, completed=done)

            stats = screen_file(
                pool,
                None if stdin else path,
                out,
                skip_bad=skip_bad,
                batch_size=batch_size,
                resume=resume,
                on_progress=advance if total else None,
            )
    except (InputError, ResumeError, WorkerStartError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    finally:
        if started:
            shutdown()
    if stats.already_done:
        err.print(f"{out} is already complete")
    elif stats.resumed_after_line:
        err.print(f"resumed after input line {stats.resumed_after_line}")
    if skip_bad or stats.skipped:
        err.print(f"screened {stats.ok} line(s), skipped {stats.skipped} bad line(s)")


def _is_file(path: Path) -> bool:
    """A message can be any text: one too long for a file name, or with a NUL in it, is a message."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _screen_file(
    engine: Any, path: Path, stdin: bool, sink: TextIO, skip_bad: bool, batch_size: int
) -> tuple[int, int]:
    from mindrail.risk.io import SkipCounter
    from mindrail.screening import jsonl_line, screen_jsonl

    counter = SkipCounter()
    fh = sys.stdin.buffer if stdin else path.open("rb")
    total = None if stdin else path.stat().st_size
    with progress_bar() as bar:
        task = bar.add_task("screening", total=total)

        def advance() -> None:
            if total:
                bar.update(task, completed=fh.tell())

        try:
            label = "<stdin>" if stdin else str(path)
            records = screen_jsonl(
                engine, fh, label, skip_bad=skip_bad, batch_size=batch_size, counter=counter, on_line=advance
            )
            for record in records:
                sink.write(jsonl_line(record))
        finally:
            if not stdin:
                fh.close()
    return counter.ok, counter.skipped


def demo(
    conversation: Annotated[
        Path | None, typer.Option(help="A JSONL conversation to screen instead of the sample.")
    ] = None,
) -> None:
    """Screen the bundled sample conversation and show each turn's assessment (turn N: the person's Nth message;
    the assistant's messages are shown unnumbered, for context)."""
    from importlib import resources

    from mindrail.risk.types import Level
    from mindrail.screening import screen_conversation

    if conversation is None:
        raw = resources.files("mindrail").joinpath("data").joinpath("sample_conversation.json").read_text("utf-8")
    else:
        raw = conversation.read_text(encoding="utf-8")
    convo = json.loads(raw)
    engine = load_engine()
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
    for t in screen_conversation(engine, [(m["role"], m["content"]) for m in convo["messages"]]):
        a = t.assessment
        if a is None:
            table.add_row("", f"[dim]{t.role}: {t.text}[/dim]", "", "", "", "")
            continue
        cats = "\n".join(f"{c.value}: {r.level.label} ({r.score:.2f})" for c, r in t.notable()) or "-"
        colour = colours[a.top_level]
        table.add_row(
            str(a.turn),
            t.text,
            f"[{colour}]{a.top_level.label}[/{colour}]",
            cats,
            a.subject.value,
            "\n".join(t.reasons()[:6]) or "-",
        )
    console.print(table)
    console.print(
        "\nLevels follow the C-SSRS screener triage; see docs/risk-model.md. "
        "mindrail is decision support, not a diagnosis."
    )


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
    hold_timeout: Annotated[
        float,
        typer.Option(
            min=1.0,
            envvar="MINDRAIL_HOLD_TIMEOUT",
            help="Seconds a held reply waits for a clinician before the person gets the safe reply with resources.",
        ),
    ] = 300.0,
    job_lease: Annotated[
        float,
        typer.Option(
            min=1.0,
            envvar="MINDRAIL_JOB_LEASE",
            help="Seconds a notification job claimed by this instance stays its own; after that (the instance died) "
            "another instance takes it. Keep it above the slowest send (webhook 5 s, SMTP 10 s).",
        ),
    ] = 60.0,
    background_jobs: Annotated[
        bool,
        typer.Option(
            "--background-jobs/--no-background-jobs",
            envvar="MINDRAIL_BACKGROUND_JOBS",
            help="Run this instance's share of notifications, hold timeouts and SLA timers (done once across all "
            "instances sharing the database).",
        ),
    ] = True,
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
    from mindrail.gateway.factory import BackendSpecError, Settings, api_options, backend_settings, build_gateway

    if app_system_prompt not in ("keep", "drop"):
        err.print(f"[red]error:[/red] --app-system-prompt must be keep or drop, not {app_system_prompt!r}")
        raise typer.Exit(2)
    settings = Settings(
        db_url=db,
        key_file=key_file,
        create_key=create_key,
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
        sla_minutes=_parse_sla(sla),
        hold_timeout_s=hold_timeout,
        job_lease_s=job_lease,
    )
    try:
        settings = backend_settings(backend, settings)
    except BackendSpecError as exc:
        err.print(f"[red]error:[/red] --backend {exc}")
        raise typer.Exit(2) from None
    gateway = build_gateway(settings, load_engine())
    secret = gateway.store.keys.derive("chat-cookie")

    def extra(a: Any) -> None:
        accepted = gateway.store.keys.derive_all("chat-cookie")
        add_chat_routes(a, gateway, secret, secure_cookie=settings.tls_proxy, accepted=accepted)
        add_console_routes(a, gateway, secure_cookie=settings.tls_proxy, sla_minutes=settings.sla_minutes)

    options = dataclasses.replace(api_options(settings), background_jobs=background_jobs)
    app_ = create_app(gateway, require_api_key=not no_api_key, extra_routes=extra, options=options)
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


def openapi(out: Annotated[Path, typer.Option(help="Where to write the spec.")] = Path("docs/openapi.json")) -> None:
    """Write the gateway's OpenAPI spec (the published API contract; tests check it is current)."""
    from mindrail.gateway.app import openapi_spec

    out.write_text(json.dumps(openapi_spec(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    err.print(f"wrote {out}")
