"""Training and evaluation: ``mindrail train`` and the ``mindrail eval`` commands (``mindrail.training``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from mindrail.cli.common import emit_json, err, load_engine, progress_bar, stage_bars

eval_app = typer.Typer(help="Measure components on labelled data.", no_args_is_help=True)


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
    engine = load_engine()
    with progress_bar() as bar:
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

    report = challenge.evaluate(load_engine())
    emit_json(report, out)


@eval_app.command("care")
def eval_care(
    split: Annotated[str, typer.Option(help="dev (readable while building) or test (measured only).")] = "test",
    out: Annotated[Path | None, typer.Option(help="Write the JSON here as well.")] = None,
) -> None:
    """The care tools on scripted people (data/care): scoring table, conversational check-ins (item agreement,
    ICC), the risk inquiry (triage level, no questions in a crisis, declines respected)."""
    from mindrail.care import evaluation

    if split not in ("dev", "test"):
        raise typer.BadParameter("must be dev or test", param_hint="--split")
    emit_json(evaluation.evaluate(load_engine(), split), out)


@eval_app.command("everyday")
def eval_everyday(
    out: Annotated[Path | None, typer.Option(help="Write the JSON here as well.")] = None,
    limit: Annotated[int | None, typer.Option(help="At most this many texts per set.")] = None,
) -> None:
    """Everyday benign text (GoEmotions, ESConv, CounselChat, AnnoMI): rates at each level, and escalations per
    1,000 turns of long everyday conversations."""
    from mindrail.training import benign

    emit_json(benign.evaluate(load_engine(), limit=limit), out)


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
    with progress_bar() as bar:
        progress = stage_bars(bar)
        report = loso_report(seed=seed, cache_dir=Path(".cache/train"), progress=progress, sources=chosen)
    emit_json(report, out)


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

    with progress_bar() as bar:
        progress = stage_bars(bar)
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
