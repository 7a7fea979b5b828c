"""The audit bench: ``mindrail bench`` runs suites against any backend, raw or guarded, and judges and reports
them (``mindrail.bench``). Backends are named as everywhere else (``gateway.factory.backend_settings``)."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from mindrail.cli.common import err, load_engine, progress_bar

if TYPE_CHECKING:
    from mindrail.backends.base import Backend
    from mindrail.bench.judge import Judge

bench_app = typer.Typer(help="Audit bench: safety suites against any model, raw or guarded.", no_args_is_help=True)


def _bench_backend(spec: str, option: str = "--target") -> Backend:
    """The backend a spec names (gateway.factory.backend_settings); the bench's local model keeps 2 threads."""
    from mindrail.bench.registry import SpecError, build_backend

    try:
        return build_backend(spec, option)
    except SpecError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


def _bench_judges(spec: str, second: list[str] | None) -> list[Judge]:
    """offline | llm:BACKEND (any --target spec), then optional second opinions."""
    from mindrail.bench.registry import SpecError, build_judges

    try:
        return build_judges([spec, *(second or [])])
    except SpecError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


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
    concurrency: Annotated[
        int,
        typer.Option(
            help="Cases in flight at once; with --ray, per worker (a hosted model then sees up to "
            "--ray-workers × --concurrency requests at once)."
        ),
    ] = 1,
    out: Annotated[Path | None, typer.Option(help="Run file (JSONL); an existing one is resumed.")] = None,
    max_tokens: Annotated[int, typer.Option(help="Longest reply per model call.")] = 256,
    ray: Annotated[
        bool,
        typer.Option(
            "--ray",
            help="Play the cases on a Ray cluster (a local one unless --ray-address); same run file, same order.",
        ),
    ] = False,
    ray_address: Annotated[
        str | None,
        typer.Option(help="Join this Ray cluster (ray://HOST:PORT, HOST:PORT, or auto: this host's); implies --ray."),
    ] = None,
    ray_workers: Annotated[
        int | None,
        typer.Option(help="With --ray: actors, each with its own target (default: the cluster's CPUs).", min=1),
    ] = None,
) -> None:
    """Run a suite against a target, checkpointing every finished case (re-run the same command to resume)."""
    import asyncio

    from mindrail.bench.registry import RunSpec, SpecError, build, check_spec, load
    from mindrail.bench.run import RunFile, RunFileError, run_suite
    from mindrail.bench.suite import SuiteError

    ray = ray or ray_address is not None  # naming a cluster means running on it (as `mindrail screen` reads it)
    if not ray and ray_workers is not None:
        err.print("[red]error:[/red] --ray-workers needs --ray")
        raise typer.Exit(2)
    try:
        s = load(suite)
        if only is not None:
            s = s.subset(only)
    except (SuiteError, re.error) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    spec = RunSpec(
        kind=s.kind,
        target=target,
        guarded=guarded,
        policy=str(policy) if policy else None,
        judges=(judge, *(second_judge or [])),
        user=user,
        max_turns=max_turns,
        max_tokens=max_tokens,
    )
    try:
        check_spec(spec)
    except SpecError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    out = out or Path("runs") / f"{s.name}-{target.split(':')[0]}-{'guarded' if guarded else 'raw'}.jsonl"
    play: Callable[[Callable[[int, int], None]], RunFile]
    if ray:
        # Ray is imported only here: a run without --ray never loads it.
        from mindrail.cluster import connect, shutdown
        from mindrail.cluster.bench import WorkerError, run_suite_ray

        label = f"{'guarded' if guarded else 'raw'}:{target} on Ray"

        def play(progress: Callable[[int, int], None]) -> RunFile:
            started = connect(ray_address)  # False: Ray was already up in this process (a test's cluster)
            try:
                return asyncio.run(
                    run_suite_ray(s, spec, out, workers=ray_workers, concurrency=concurrency, progress=progress)
                )
            except WorkerError as exc:
                err.print(f"[red]error:[/red] {exc}")
                raise typer.Exit(2) from None
            finally:
                if started:
                    shutdown()

    else:
        parts = build(spec, engine=load_engine)
        label = parts.target.name

        def play(progress: Callable[[int, int], None]) -> RunFile:
            return asyncio.run(
                run_suite(
                    s, parts.target, parts.scorer, out, solver=parts.solver, concurrency=concurrency, progress=progress
                )
            )

    with progress_bar() as bar:
        task = bar.add_task(f"{s.name} · {label}", total=len(s))
        try:
            run = play(lambda done, total: bar.update(task, completed=done))
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

    from mindrail.bench.registry import load, parts
    from mindrail.bench.run import RunFileError, rescore
    from mindrail.bench.suite import SuiteError

    try:
        s = load(suite)
        task = parts(s, _bench_judges(judge, None), engine=functools.cache(load_engine))
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
    from mindrail.bench.judge_validation import load_labels, validate
    from mindrail.bench.suite import SuiteError

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
    from mindrail.bench.kinds.stigma import validate_coder

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
