"""``mindrail screen FILE --ray``: Ray actors give the single-process output byte for byte (in input order, with the
same batching), the same errors and skip counts, and a stopped run resumes to the same file. One local cluster
(2 CPUs) per test process, started once for the module; ``connect`` always starts a new one, so two xdist workers
never share or stop each other's."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mindrail.cli import app
from mindrail.cluster import connect, shutdown
from mindrail.cluster.screen import ResumeError, WorkerPool, checkpoint_path, screen_file
from mindrail.risk.engine import RiskEngine
from mindrail.risk.io import InputError, SkipCounter
from mindrail.screening import jsonl_line, screen_jsonl

# Made up for these tests: everyday text, with some ordinary low mood, so scores are not all zero.
TEXTS = [
    "what a lovely morning for a walk by the river",
    "my train was cancelled again and I missed the meeting",
    "I lost my job today and I feel pretty low",
    "can you recommend a book about birds?",
    "work has been stressful and I can't sleep much",
    "we are painting the kitchen yellow this weekend",
    "I feel lonely since my friend moved away",
    "the cat knocked my coffee onto the keyboard",
    "exams are next week and I'm nervous",
    "does anyone know a good recipe for lentil soup",
]
REPLIES = ["That sounds hard. How are you doing?", "I see. Tell me more.", "Thanks for sharing that."]


def _mixed_lines(n: int = 60) -> list[str]:
    """Messages in both shapes, with an id or without, and every seventh line a conversation of up to 3 turns."""
    lines = []
    for i in range(n):
        text = TEXTS[(i * 7) % len(TEXTS)]
        if i % 7 == 3:
            turns = 1 + i % 3
            messages = [{"role": "system", "content": "You are kind."}]
            for t in range(turns):
                messages.append({"role": "user", "content": TEXTS[(i + t) % len(TEXTS)]})
                messages.append({"role": "assistant", "content": REPLIES[t % len(REPLIES)]})
            lines.append(json.dumps({"id": f"c{i}", "messages": messages}))
        elif i % 2:
            lines.append(json.dumps({"id": i, "role": "user", "content": text}))
        else:
            lines.append(json.dumps({"id": f"m{i}", "text": text}))
    return lines


def _write(path: Path, lines: list[str]) -> Path:
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
    return path


def _single(engine: RiskEngine, path: Path, *, skip_bad: bool = False, batch_size: int = 64) -> tuple[str, SkipCounter]:
    """What ``mindrail screen FILE`` writes in one process, and its counts."""
    counter = SkipCounter()
    with path.open("rb") as fh:
        records = screen_jsonl(engine, fh, str(path), skip_bad=skip_bad, batch_size=batch_size, counter=counter)
        return "".join(jsonl_line(r) for r in records), counter


class Pools:
    """The module's two workers, made on first use; the CLI test closes them so its own workers get the CPUs."""

    def __init__(self) -> None:
        self.pool: WorkerPool | None = None

    def get(self) -> WorkerPool:
        if self.pool is None:
            self.pool = WorkerPool(2)
        return self.pool

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None


@pytest.fixture(scope="module")
def pools() -> Iterator[Pools]:
    shutdown()  # a cluster another module left up in this process is not ours to use
    connect(None, num_cpus=2)
    holder = Pools()
    yield holder
    holder.close()
    shutdown()


def test_ray_output_is_the_single_process_output_byte_for_byte(
    pools: Pools, engine: RiskEngine, tmp_path: Path
) -> None:
    src = _write(tmp_path / "mixed.jsonl", _mixed_lines())
    pool = pools.get()
    assert len(pool) == 2 and all(i["threads"] == 1 for i in pool.info())
    for batch_size, chunk_size in ((4, 6), (64, 256)):
        want, counter = _single(engine, src, batch_size=batch_size)
        out = tmp_path / f"out-{batch_size}.jsonl"
        stats = screen_file(pool, src, out, batch_size=batch_size, chunk_size=chunk_size)
        assert out.read_bytes() == want.encode("utf-8")
        assert (stats.ok, stats.skipped) == (counter.ok, counter.skipped) == (60, 0)
        assert json.loads(checkpoint_path(out).read_text(encoding="utf-8"))["done"] is True
    rows = [json.loads(x) for x in want.splitlines()]
    assert {"assessment", "turns"} <= {k for r in rows for k in r}


def test_order_is_kept_when_later_chunks_finish_first(pools: Pools, engine: RiskEngine, tmp_path: Path) -> None:
    """Long conversations first, one unit per chunk: the short chunks behind them complete earlier and wait."""
    convo = [{"role": "user" if k % 2 == 0 else "assistant", "content": TEXTS[k % len(TEXTS)]} for k in range(16)]
    lines = [json.dumps({"id": f"long{i}", "messages": convo}) for i in range(2)]
    lines += [json.dumps({"id": i, "text": TEXTS[i % len(TEXTS)]}) for i in range(20)]
    src = _write(tmp_path / "order.jsonl", lines)
    want, _ = _single(engine, src, batch_size=2)
    out = tmp_path / "out.jsonl"
    stats = screen_file(pools.get(), src, out, batch_size=2, chunk_size=1)
    got = out.read_text(encoding="utf-8")
    assert got == want
    assert [json.loads(x)["line"] for x in got.splitlines()] == list(range(1, 23))
    assert stats.chunks == 12


def test_a_bad_line_is_named_and_what_came_before_is_written(pools: Pools, engine: RiskEngine, tmp_path: Path) -> None:
    lines = _mixed_lines(30)
    lines[16] = '{"text": not quoted}'
    src = _write(tmp_path / "bad.jsonl", lines)
    with pytest.raises(InputError) as single_err:
        list(screen_jsonl(engine, src.open("rb"), str(src), batch_size=4))
    want = io.StringIO()
    try:
        for r in screen_jsonl(engine, src.open("rb"), str(src), batch_size=4):
            want.write(jsonl_line(r))
    except InputError:
        pass
    out = tmp_path / "out.jsonl"
    with pytest.raises(InputError) as ray_err:
        screen_file(pools.get(), src, out, batch_size=4, chunk_size=5)
    assert str(ray_err.value) == str(single_err.value) == f"{src}:17: invalid JSON (Expecting value at column 10)"
    assert "quoted" not in str(ray_err.value)
    assert out.read_text(encoding="utf-8") == want.getvalue()


def test_skip_bad_counts_as_the_single_process_path(pools: Pools, engine: RiskEngine, tmp_path: Path) -> None:
    lines = _mixed_lines(40)
    lines[2] = "not json"
    lines[9] = "[1, 2]"
    lines[12] = '{"id": "no-text", "score": 1}'
    lines[17] = '{"id": "c-bad", "messages": "nope"}'
    lines[30] = ""
    raw = ("\n".join(lines) + "\n").encode("utf-8").replace(b"lovely", b"lovel\xff", 1)
    src = tmp_path / "skip.jsonl"
    src.write_bytes(raw)
    want, counter = _single(engine, src, skip_bad=True, batch_size=4)
    out = tmp_path / "out.jsonl"
    stats = screen_file(pools.get(), src, out, skip_bad=True, batch_size=4, chunk_size=5)
    assert out.read_text(encoding="utf-8") == want
    assert (stats.ok, stats.skipped) == (counter.ok, counter.skipped) == (34, 5)


def test_a_stopped_run_resumes_to_the_uninterrupted_output(pools: Pools, engine: RiskEngine, tmp_path: Path) -> None:
    lines = _mixed_lines(60)
    lines[20] = "not json"
    src = _write(tmp_path / "in.jsonl", lines)
    want, counter = _single(engine, src, skip_bad=True, batch_size=4)
    out = tmp_path / "out.jsonl"
    pool = pools.get()

    class Stop(Exception):
        pass

    def stop_after_three(chunks: int) -> None:
        if chunks == 3:
            raise Stop

    with pytest.raises(Stop):
        screen_file(pool, src, out, skip_bad=True, batch_size=4, chunk_size=6, on_chunk=stop_after_three)
    state = json.loads(checkpoint_path(out).read_text(encoding="utf-8"))
    assert not state["done"] and 0 < state["line"] < 60 and state["out_bytes"] == out.stat().st_size
    assert want.startswith(out.read_text(encoding="utf-8"))
    with out.open("ab") as fh:  # a chunk half written when the run stopped: cut off on resume
        fh.write(b'{"line": 99, "id": "half')

    with pytest.raises(ResumeError, match="batch-size"):
        screen_file(pool, src, out, skip_bad=True, batch_size=8, resume=True)
    stats = screen_file(pool, src, out, skip_bad=True, batch_size=4, chunk_size=6, resume=True)
    assert out.read_text(encoding="utf-8") == want
    assert stats.resumed_after_line == state["line"] and stats.chunks > 0
    assert (stats.ok, stats.skipped) == (counter.ok, counter.skipped) == (59, 1)
    again = screen_file(pool, src, out, skip_bad=True, batch_size=4, resume=True)
    assert again.already_done and again.chunks == 0 and out.read_text(encoding="utf-8") == want

    src.write_bytes(src.read_bytes() + b'{"text": "one more line"}\n')
    with pytest.raises(ResumeError, match="another input"):
        screen_file(pool, src, out, skip_bad=True, batch_size=4, resume=True)
    out.write_text("something else\n", encoding="utf-8")
    checkpoint_path(out).unlink()
    with pytest.raises(ResumeError, match="no checkpoint"):
        screen_file(pool, src, out, skip_bad=True, batch_size=4, resume=True)


def test_cli_screen_with_ray(pools: Pools, engine: RiskEngine, tmp_path: Path) -> None:
    pools.close()  # the command starts its own workers on the module's cluster (and leaves the cluster up)
    src = _write(tmp_path / "cli.jsonl", _mixed_lines(30))
    want, _ = _single(engine, src, batch_size=8)
    out = tmp_path / "out.jsonl"
    runner = CliRunner()
    args = ["screen", str(src), "--ray", "--workers", "1", "--batch-size", "8", "--out", str(out)]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert out.read_text(encoding="utf-8") == want
    r = runner.invoke(app, [*args, "--resume"])
    assert r.exit_code == 0, r.output
    assert "already complete" in r.stderr  # said from the checkpoint, without starting a worker
    r = runner.invoke(app, ["screen", str(src), "--workers", "2"])
    assert r.exit_code == 2 and "need --ray" in r.stderr
    r = runner.invoke(app, ["screen", "just a message", "--ray"])
    assert r.exit_code == 2 and "JSONL file" in r.stderr


def test_ray_is_imported_only_by_the_cluster_package() -> None:
    code = (
        "import sys, mindrail.gateway.app, mindrail.cli, mindrail.cli.screen, mindrail.cluster.screen; "
        "assert 'ray' not in sys.modules, 'ray imported'"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-1500:]
