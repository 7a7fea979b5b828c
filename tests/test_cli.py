"""The command line, end to end in-process, on the real engine."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from mindrail.cli import app

runner = CliRunner()


def test_screen_text() -> None:
    r = runner.invoke(app, ["screen", "i keep thinking about taking all my pills"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["categories"]["suicide_self_harm"]["level"] == "moderate"


def test_screen_file_messages_and_conversations(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    lines = [
        {"id": "a", "text": "what a lovely morning"},
        {"id": "b", "role": "user", "content": "i want to die"},
        {
            "id": "c",
            "messages": [
                {"role": "user", "content": "i lost my job today"},
                {"role": "assistant", "content": "I'm sorry, that sounds hard."},
                {"role": "user", "content": "which bridges in nyc are taller than 25 m?"},
            ],
        },
    ]
    src.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    r = runner.invoke(app, ["screen", str(src), "--out", str(out)])
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    by_id = {row["id"]: row for row in rows}
    assert by_id["a"]["assessment"]["top_level"] == "none"
    assert by_id["b"]["assessment"]["categories"]["suicide_self_harm"]["level"] != "none"
    turns = by_id["c"]["turns"]
    assert [t["index"] for t in turns] == [0, 2]
    assert turns[-1]["categories"]["suicide_self_harm"]["level"] == "high"


def test_malformed_line_is_named(tmp_path: Path) -> None:
    src = tmp_path / "bad.jsonl"
    src.write_text('{"text": "hello"}\n{"text": oops}\n{"text": "fine"}\n', encoding="utf-8")
    r = runner.invoke(app, ["screen", str(src)])
    assert r.exit_code == 2
    assert "bad.jsonl:2" in r.stderr and "invalid JSON" in r.stderr
    assert "oops" not in r.stderr  # never echo input text


def test_non_utf8_is_named_and_skip_bad_counts(tmp_path: Path) -> None:
    src = tmp_path / "bytes.jsonl"
    src.write_bytes(b'{"text": "hello"}\n{"text": "caf\xe9"}\n{"nope": 1}\n{"text": "bye"}\n')
    r = runner.invoke(app, ["screen", str(src)])
    assert r.exit_code == 2
    assert "bytes.jsonl:2" in r.stderr and "UTF-8" in r.stderr
    out = tmp_path / "out.jsonl"
    r = runner.invoke(app, ["screen", str(src), "--skip-bad", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "screened 2 line(s), skipped 2 bad line(s)" in r.stderr
    assert len(out.read_text(encoding="utf-8").splitlines()) == 2


def test_eval_detector_writes_json_and_markdown(tmp_path: Path) -> None:
    data = tmp_path / "labelled.csv"
    rows = [
        "text,label",
        "i want to die,1",
        "i keep thinking about ending it all,1",
        "i have a plan to kill myself tonight,1",
        "what a lovely day at the beach,0",
        "my phone is dead again,0",
        "can you help me with my maths homework,0",
    ]
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "report"
    r = runner.invoke(
        app,
        [
            "eval",
            "detector",
            "--data",
            str(data),
            "--text-col",
            "text",
            "--label-col",
            "label",
            "--positive",
            "1",
            "--out",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    report = json.loads((out / "eval.json").read_text(encoding="utf-8"))
    m = report["metrics"]
    assert m["confusion"] == {"tp": 3, "fp": 0, "tn": 3, "fn": 0}
    assert m["auroc"] == 1.0
    assert report["latency"]["p50_ms"] > 0
    assert "largest_score_change" in report["counterfactual"]
    assert "AUROC" in (out / "eval.md").read_text(encoding="utf-8")


def test_eval_detector_missing_column(tmp_path: Path) -> None:
    data = tmp_path / "x.jsonl"
    data.write_text('{"body": "hi", "y": "0"}\n', encoding="utf-8")
    r = runner.invoke(
        app, ["eval", "detector", "--data", str(data), "--text-col", "text", "--label-col", "y", "--positive", "1"]
    )
    assert r.exit_code == 2
    assert "x.jsonl:1" in r.stderr and "'text'" in r.stderr


def test_demo_runs() -> None:
    r = runner.invoke(app, ["demo"])
    assert r.exit_code == 0, r.output
    assert "high" in r.stdout
