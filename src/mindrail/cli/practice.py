"""``mindrail practice``: the practice simulator for people learning to help (``mindrail.practice``). Training
only: the person is simulated, and every screen says so."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from mindrail.cli.common import err

if TYPE_CHECKING:
    from mindrail.practice.cards import PersonaCard
    from mindrail.practice.feedback import TurnFeedback
    from mindrail.practice.session import PracticeSession

practice_app = typer.Typer(
    help="Practise helping a simulated person, with feedback on every turn.", no_args_is_help=True
)
out = Console()
OutOpt = Annotated[Path, typer.Option("--out", help="Folder of session reports (one sub-folder per trainee).")]
DEFAULT_OUT = Path("var/practice")
BANNER = "Training exercise: the person is simulated. Type /end to finish, /help for commands."


def _card(card_id: str) -> PersonaCard:
    from mindrail.practice.cards import card

    try:
        return card(card_id)
    except KeyError as exc:
        err.print(f"[red]error:[/red] {exc.args[0]}")
        raise typer.Exit(2) from None


def _trainee_dir(folder: Path, trainee: str) -> Path:
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", trainee):
        err.print("[red]error:[/red] --trainee: letters, digits, '.', '_' and '-' only (at most 64)")
        raise typer.Exit(2)
    return folder / trainee


@practice_app.command("list")
def list_cards() -> None:
    """The persona cards, by module."""
    from mindrail.practice.cards import cards

    t = Table(title="Practice cards (simulated people)")
    t.add_column("card", no_wrap=True)
    for col in ("module", "risk", "style", "summary"):
        t.add_column(col, overflow="fold")
    for c in cards():
        risk = f"{c.risk.level} ({c.risk.cssrs.value}{', about someone else' if c.risk.subject != 'self' else ''})"
        t.add_row(c.id, c.module.value, risk, ", ".join(c.style), c.summary)
    out.print(t)


def show_feedback(fb: TurnFeedback) -> None:
    lines = [f"[bold]{fb.code.act.value.replace('_', ' ')}[/bold]"]
    lines += [n for n in fb.notes]
    lines += [f"[yellow]Missed:[/yellow] {m.note}" for m in fb.missed]
    lines += [f"[green]Caught:[/green] {m.note}" for m in fb.moments if m.caught]
    if fb.alternative:
        lines.append(f"[cyan]Another way:[/cyan] {fb.alternative.text}\n{fb.alternative.why}")
    out.print(Panel("\n".join(lines), title="feedback", border_style="dim"))


def _save(session: PracticeSession, folder: Path) -> Path:
    from mindrail.practice.report import report, to_html

    rep = report(session.card, session.record)
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{session.record.started.strftime('%Y%m%dT%H%M%S')}-{session.card.id}"
    (folder / f"{stem}.json").write_text(json.dumps(rep.to_dict(), indent=2) + "\n", encoding="utf-8")
    (folder / f"{stem}.html").write_text(to_html(rep), encoding="utf-8")
    s = rep.summary
    rq = "n/a" if s.reflection_to_question is None else f"{s.reflection_to_question:.2f}"
    cr = "n/a" if s.complex_reflection_share is None else f"{100 * s.complex_reflection_share:.0f}%"
    out.print(
        Panel(
            f"Rating: [bold]{rep.rating}[/bold]   reflection:question {rq}   complex reflections {cr}\n"
            + "\n".join(f"{'✓' if c.passed else '✗'} {c.text}" for c in rep.checks),
            title=f"report: {folder / stem}.html",
        )
    )
    return folder / f"{stem}.json"


@practice_app.command("run")
def run(
    card_id: Annotated[str, typer.Argument(metavar="CARD", help="A card id from `mindrail practice list`.")],
    trainee: Annotated[str, typer.Option(help="Your name for the progress record.")] = "trainee",
    seed: Annotated[int, typer.Option(help="Same seed, same card, same turns: same session.")] = 0,
    feedback: Annotated[bool, typer.Option("--feedback/--no-feedback", help="Feedback after every turn.")] = True,
    backend: Annotated[
        str | None, typer.Option(help="A chat backend to voice the person and draft alternatives (default: scripted).")
    ] = None,
    locale: Annotated[str, typer.Option(help="Region of the crisis lines in suggested replies.")] = "US",
    folder: OutOpt = DEFAULT_OUT,
) -> None:
    """Chat with a simulated person in the terminal, with feedback on every turn."""
    from mindrail.practice.coder import default_coder
    from mindrail.practice.session import PracticeSession

    card = _card(card_id)
    target = _trainee_dir(folder, trainee)
    voice = drafter = None
    if backend:
        from mindrail.cli.bench import _bench_backend
        from mindrail.practice.model import ModelDrafter, ModelVoice

        model = _bench_backend(backend, "--backend")
        voice, drafter = ModelVoice(model), ModelDrafter(model, default_coder())
    session = PracticeSession(
        card, default_coder(), seed=seed, feedback=feedback, locale=locale, voice=voice, drafter=drafter
    )
    out.print(f"[bold yellow]{BANNER}[/bold yellow]")
    out.print(f"[bold]{card.name}[/bold]: {session.start().text}")
    while not session.ended:
        try:
            text = out.input("[bold]you>[/bold] ")
        except (EOFError, KeyboardInterrupt):
            break
        if text.strip() in ("/end", "/quit"):
            break
        if text.strip() == "/help":
            out.print("/end finishes the session and writes the report; /feedback turns feedback on or off.")
            continue
        if text.strip() == "/feedback":
            session.record.feedback_on = not session.record.feedback_on
            out.print(f"feedback {'on' if session.record.feedback_on else 'off'}")
            continue
        if not text.strip():
            continue
        fb, _ = asyncio.run(session.astep(text))
        if session.record.feedback_on:
            show_feedback(fb)
        out.print(f"[bold]{card.name}[/bold]: {session.record.entries[-1].text}")
    session.finish(resolved=session.record.resolved)
    _save(session, target)


@practice_app.command("simulate")
def simulate(
    card_id: Annotated[str, typer.Argument(metavar="CARD")],
    trainee: Annotated[str, typer.Option("--as", help="good or poor: a scripted trainee.")] = "good",
    seed: Annotated[int, typer.Option()] = 0,
    folder: OutOpt = DEFAULT_OUT,
) -> None:
    """Play a card with a scripted trainee (a demonstration of what good and poor practice look like)."""
    from mindrail.practice.coder import default_coder
    from mindrail.practice.session import PracticeSession
    from mindrail.practice.trainees import GoodTrainee, PoorTrainee, play

    if trainee not in ("good", "poor"):
        err.print("[red]error:[/red] --as: good or poor")
        raise typer.Exit(2)
    card = _card(card_id)
    session = play(
        PracticeSession(card, default_coder(), seed=seed), GoodTrainee() if trainee == "good" else PoorTrainee()
    )
    for e in session.record.entries:
        who = card.name if e.role == "person" else f"{trainee} trainee"
        out.print(f"[bold]{who}[/bold]: {e.text}")
    _save(session, _trainee_dir(folder, f"scripted-{trainee}"))


@practice_app.command("report")
def progress(
    trainee: Annotated[str, typer.Option(help="Whose sessions.")] = "trainee",
    folder: OutOpt = DEFAULT_OUT,
    plot: Annotated[Path | None, typer.Option(help="Write a progress plot (PNG) here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the rows as JSON.")] = False,
) -> None:
    """Progress across a trainee's sessions: rating, MITI figures and missed moments, oldest first."""
    from mindrail.practice.progress import load_reports, plot_progress
    from mindrail.practice.report import progress_rows

    target = _trainee_dir(folder, trainee)
    try:
        rows = progress_rows(load_reports(target))
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
    else:
        t = Table(title=f"Practice progress: {trainee} ({len(rows)} sessions)")
        for col in ("started", "card", "rating", "reflection:question", "complex refl.", "open q.", "missed"):
            t.add_column(col)

        def f(v: float | None, pct: bool = False) -> str:
            return "n/a" if v is None else (f"{100 * v:.0f}%" if pct else f"{v:.2f}")

        for r in rows:
            t.add_row(
                r["started"][:19],
                r["card"],
                r["rating"],
                f(r["reflection_to_question"]),
                f(r["complex_reflection_share"], True),
                f(r["open_question_share"], True),
                str(r["missed_moments"]),
            )
        out.print(t)
    if plot is not None:
        plot_progress(rows, plot, title=f"Practice progress: {trainee}")
        err.print(f"wrote {plot}")
