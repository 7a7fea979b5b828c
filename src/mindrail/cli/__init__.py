"""mindrail's command line: thin Typer commands over the packages. This module builds the ``app`` (the
``mindrail`` entry point) and wires in the commands and sub-apps, in the order ``mindrail --help`` lists them;
the commands live in ``screen`` (screen, demo, serve, openapi), ``train`` (train, eval), ``admin`` (keys, API keys,
staff, export, audit), ``bench`` and ``practice``."""

from __future__ import annotations

import typer

from mindrail import __version__
from mindrail.cli import admin, bench, practice, screen, train

app = typer.Typer(
    help="mindrail: a safety layer for mental-health conversations with chat models.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command()
def version() -> None:
    """Print the package and model versions."""
    typer.echo(f"mindrail {__version__}")


for command in (screen.screen, train.train, screen.demo, screen.serve, screen.openapi):
    app.command()(command)
app.add_typer(train.eval_app, name="eval")
app.add_typer(admin.keys_app, name="keys")
app.add_typer(admin.apikeys_app, name="apikeys")
app.add_typer(admin.audit_app, name="audit")
app.add_typer(admin.users_app, name="users")
app.add_typer(admin.staff_app, name="staff")
app.add_typer(admin.export_app, name="export")
app.add_typer(bench.bench_app, name="bench")
app.add_typer(practice.practice_app, name="practice")

__all__ = ["app"]
