"""``mindrail practice``: list, run (terminal chat), simulate and report."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from mindrail.cli import app

runner = CliRunner()


def test_list_shows_every_card() -> None:
    r = runner.invoke(app, ["practice", "list"], env={"COLUMNS": "200"})
    assert r.exit_code == 0
    assert "ray_national_guard" in r.output


def test_run_chats_gives_feedback_and_writes_a_report(tmp_path: Path) -> None:
    turns = "It sounds like you're carrying a lot on your own.\n/feedback\nWhat's been the hardest part?\n/end\n"
    r = runner.invoke(
        app,
        ["practice", "run", "dre_army_separated", "--trainee", "sam", "--out", str(tmp_path)],
        input=turns,
        env={"COLUMNS": "200"},
    )
    assert r.exit_code == 0, r.output
    assert "Training exercise" in r.output and "feedback" in r.output
    (report,) = (tmp_path / "sam").glob("*.json")
    data = json.loads(report.read_text(encoding="utf-8"))
    assert [e["role"] for e in data["transcript"]].count("trainee") == 2
    assert (tmp_path / "sam" / report.name.replace(".json", ".html")).exists()
    r = runner.invoke(app, ["practice", "report", "--trainee", "sam", "--out", str(tmp_path), "--json"])
    assert r.exit_code == 0 and json.loads(r.output)[0]["card"] == "dre_army_separated"


def test_simulate_and_plot(tmp_path: Path) -> None:
    r = runner.invoke(app, ["practice", "simulate", "jordan_student_exams", "--as", "good", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app,
        ["practice", "report", "--trainee", "scripted-good", "--out", str(tmp_path), "--plot", str(tmp_path / "p.png")],
    )
    assert r.exit_code == 0 and (tmp_path / "p.png").exists()


def test_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    assert runner.invoke(app, ["practice", "run", "nobody"]).exit_code == 2
    assert runner.invoke(app, ["practice", "simulate", "jordan_student_exams", "--as", "great"]).exit_code == 2
    bad = runner.invoke(app, ["practice", "report", "--trainee", "../etc", "--out", str(tmp_path)])
    assert bad.exit_code == 2
    none = runner.invoke(app, ["practice", "report", "--trainee", "nobody", "--out", str(tmp_path)])
    assert none.exit_code == 2
