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
    assert [t["message_index"] for t in turns] == [0, 2]
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


def test_keys_apikeys_and_audit_verify(tmp_path: Path) -> None:
    import sqlite3

    keys, db = tmp_path / "keys.json", f"sqlite:///{tmp_path / 'm.db'}"
    assert runner.invoke(app, ["keys", "init", str(keys)]).exit_code == 0
    assert runner.invoke(app, ["keys", "init", str(keys)]).exit_code == 2
    r = runner.invoke(app, ["apikeys", "create", "clinic-app", "--db", db, "--key-file", str(keys)])
    assert r.exit_code == 0 and r.stdout.strip().startswith("mr_")
    r = runner.invoke(app, ["audit", "verify", "--db", db, "--key-file", str(keys)])
    assert r.exit_code == 0 and "OK" in r.stdout
    r = runner.invoke(app, ["keys", "rotate", "--db", db, "--key-file", str(keys)])
    assert r.exit_code == 0
    con = sqlite3.connect(tmp_path / "m.db")
    con.execute("UPDATE audit_events SET actor = 'someone-else' WHERE seq = 1")
    con.commit()
    con.close()
    r = runner.invoke(app, ["audit", "verify", "--db", db, "--key-file", str(keys)])
    assert r.exit_code == 1 and "seq 1" in r.stdout


def test_missing_key_is_a_clear_error(tmp_path: Path, monkeypatch: object) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("MINDRAIL_KEY", "MINDRAIL_KEY_FILE")}
    r = runner.invoke(app, ["audit", "verify", "--db", f"sqlite:///{tmp_path / 'x.db'}"], env=env)
    assert r.exit_code == 2


def test_serve_starts_and_answers_health(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [
        sys.executable,
        "-m",
        "mindrail.cli",
        "serve",
        "--port",
        str(port),
        "--backend",
        "scripted",
        "--db",
        f"sqlite:///{tmp_path / 'm.db'}",
        "--key-file",
        str(tmp_path / "k.json"),
        "--create-key",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        body = None
        # Start-up loads the risk engine and the privacy models: allow a loaded CI machine its time, but stop
        # waiting as soon as the server has exited.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
                    body = json.loads(resp.read())
                    break
            except OSError:
                time.sleep(0.2)
        assert body is not None and body["status"] == "ok" and body["backend"]["name"] == "scripted"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_demo_and_screen_number_turns_as_everywhere(tmp_path: Path) -> None:
    """docs/architecture.md, "Turns": user, assistant, user, user are turns 1, 2, 3 (the assistant unnumbered)."""
    messages = [
        {"role": "user", "content": "hi, can I ask you something?"},
        {"role": "assistant", "content": "Of course."},
        {"role": "user", "content": "I just lost my job today and I don't know what to do"},
        {"role": "user", "content": "which bridges in NYC are taller than 25 m?"},
    ]
    src = tmp_path / "conv.json"
    src.write_text(json.dumps({"id": "c", "messages": messages}), encoding="utf-8")
    r = runner.invoke(app, ["demo", "--conversation", str(src)])
    assert r.exit_code == 0, r.output
    first_cells = [line.split("│")[1].strip() for line in r.stdout.splitlines() if line.startswith("│")]
    assert [c for c in first_cells if c] == ["1", "2", "3"]
    r = runner.invoke(app, ["screen", str(src)])
    assert r.exit_code == 0, r.output
    turns = json.loads(r.stdout)["turns"]
    assert [(t["turn"], t["message_index"]) for t in turns] == [(1, 0), (2, 2), (3, 3)]
