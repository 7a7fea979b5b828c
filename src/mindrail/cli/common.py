"""What every command module shares: the store and key options, the error console, progress bars, loading the
risk engine and opening the store (each a clear exit 2 on a missing encoder or key)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

if TYPE_CHECKING:
    from mindrail.risk.engine import RiskEngine
    from mindrail.store import Store

DbOpt = Annotated[str, typer.Option("--db", envvar="MINDRAIL_DB", help="SQLAlchemy URL of the store.")]
KeyFileOpt = Annotated[
    Path | None,
    typer.Option("--key-file", envvar="MINDRAIL_KEY_FILE", help="Key-ring file (else MINDRAIL_KEY)."),
]
err = Console(stderr=True, soft_wrap=True)


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
        disable=not err.is_terminal and not os.environ.get("MINDRAIL_PROGRESS"),
    )


def load_engine() -> RiskEngine:
    from mindrail.risk.encoder import EncoderNotBuilt
    from mindrail.risk.engine import RiskEngine

    try:
        return RiskEngine.load()
    except EncoderNotBuilt as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


def stage_bars(bar: Progress) -> Callable[[str, int, int], None]:
    """A progress callback that shows each named stage of long work as its own bar."""
    tasks: dict[str, Any] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=total)
        bar.update(tasks[stage], completed=done)

    return progress


def emit_json(report: dict[str, Any], out: Path | None) -> None:
    text = json.dumps(report, indent=1)
    if out:
        out.write_text(text + "\n", encoding="utf-8")
    sys.stdout.write(text + "\n")


def open_store(db: str, key_file: Path | None) -> Store:
    from mindrail.gateway.factory import Settings, load_keys
    from mindrail.store import Store
    from mindrail.store.crypto import KeyError_

    try:
        return Store(db, load_keys(Settings(db_url=db, key_file=key_file)))
    except KeyError_ as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
