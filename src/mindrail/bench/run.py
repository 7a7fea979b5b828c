"""Runs: every prompt, reply, judgement and version, stored as JSONL, resumable after interruption.

Line 1 is the run header (suite name and hash, target, judge, versions, start time); each further line is one
finished case, in suite order, appended and flushed as soon as it and every case before it are judged, so an
interrupted run loses at most the few cases that finished ahead of a slower one, and a re-run with the same file
skips what is done. The order makes a run file the same whether its cases ran one at a time, concurrently or on a
Ray cluster (``mindrail.cluster.bench``), apart from the times in it (``started``, ``finished``, ``latency_ms``). A
case whose target keeps failing is recorded as an error (with the error type only) and retried on resume.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from mindrail import __version__
from mindrail.bench.judge import Judge
from mindrail.bench.kinds.check import CheckScorer
from mindrail.bench.protocols import Scorer, Solver, resolve_score, scripted_turns
from mindrail.bench.suite import C, Suite
from mindrail.bench.target import Target, TargetReply

FORMAT = "mindrail-bench-run/1"


class RunFileError(ValueError):
    """A malformed or mismatched run file: names the file and line."""


@dataclass
class RunFile:
    header: dict[str, Any]
    results: list[dict[str, Any]]

    @property
    def done(self) -> set[str]:
        return {r["case_id"] for r in self.results if r.get("status") == "ok"}


def read_run(path: Path) -> RunFile:
    header: dict[str, Any] | None = None
    results: dict[str, dict[str, Any]] = {}
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                if lineno > 1 and not line.endswith("\n"):
                    break  # a line cut short by an interruption: the case will be re-run
                raise RunFileError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
            if lineno == 1:
                if row.get("format") != FORMAT:
                    raise RunFileError(f"{path}:1: format: expected {FORMAT!r}")
                header = row
                continue
            if "case_id" not in row or "status" not in row:
                raise RunFileError(f"{path}:{lineno}: case_id/status: missing")
            results[row["case_id"]] = row  # a later line for the same case (a retry) wins
    if header is None:
        raise RunFileError(f"{path}: empty run file")
    return RunFile(header, list(results.values()))


def _drop_partial_tail(path: Path) -> None:
    """A crash mid-write leaves a last line without its newline; cut it off so appends start on a fresh line."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        with path.open("r+b") as f:
            f.truncate(cut)


def _scorer(scorer: Scorer[C] | Judge) -> Scorer[C]:
    """A plain judge is wrapped as a check scorer (its suite must hold check cases)."""
    return cast("Scorer[C]", CheckScorer(scorer)) if isinstance(scorer, Judge) else scorer


def start_run(suite: Suite[Any], target: dict[str, Any], judge: str, out: Path) -> set[str]:
    """Write a new run file's header, or check that an existing one was run on this suite version and target and
    cut a half-written last line off it; return the ids of the cases already done (the ones a resume skips)."""
    header: dict[str, Any] = {
        "format": FORMAT,
        "suite": suite.name,
        "suite_sha256": suite.sha256,
        "kind": suite.kind,
        "cases": len(suite),
        "target": target,
        "judge": judge,
        "mindrail": __version__,
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    if out.exists() and out.stat().st_size:
        _drop_partial_tail(out)
        existing = read_run(out)
        if existing.header.get("suite_sha256") != suite.sha256:
            raise RunFileError(f"{out}: was run on another version of suite {existing.header.get('suite')!r}")
        if existing.header.get("target", {}).get("name") != target["name"]:
            raise RunFileError(f"{out}: was run against {existing.header['target'].get('name')!r}")
        return existing.done
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(header) + "\n", encoding="utf-8")
    return set()


async def play_case(case: C, target: Target, solver: Solver[C], score: Scorer[C], retries: int = 2) -> dict[str, Any]:
    """One case played and scored, retried on any error: its run-file row. Local and Ray runs both build their rows
    here, so a case's line does not depend on where it ran."""
    row: dict[str, Any] = {"case_id": case.id, "condition": case.condition, "check": getattr(case, "check", None)}
    failed: list[str] = []
    for attempt in range(retries + 1):
        try:
            reply = await solver(case, target)
            sc = await resolve_score(score(case, reply))
            row.pop("error", None)  # an "ok" row carries no error: the failed attempts before it are listed apart
            if failed:
                row["failed_attempts"] = failed
            row.update(
                status="ok",
                messages=[u for role, u in reply.transcript if role == "user"],
                reply=reply.text,
                transcript=[list(t) for t in reply.transcript],
                meta=reply.meta,
                judgement=sc.judgement,
                appropriate=sc.appropriate,
                attempts=attempt + 1,
                finished=dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
                **sc.extra,
            )
            break
        except Exception as exc:
            failed.append(type(exc).__name__)
            row.update(status="error", error=type(exc).__name__, attempts=attempt + 1)
            if attempt < retries:
                await asyncio.sleep(0.2 * 2**attempt)
    return row


async def write_in_order(
    suite: Suite[C],
    out: Path,
    done: set[str],
    play: Callable[[C], Awaitable[dict[str, Any]]],
    *,
    slots: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Play the cases not in ``done`` with up to ``slots`` in flight, started in suite order, and append their rows
    to ``out`` in suite order through a reorder buffer, whichever finishes first. ``play`` may run a case anywhere
    (here, or on a Ray actor). What each (re)start appends is so always an unbroken stretch of the suite: an
    interruption loses only the rows still waiting in the buffer (fewer than ``2 * slots``, the submission window,
    which also bounds how far ahead of a slow case the others may run), and those cases are played again on
    resume."""
    if slots < 1:
        raise ValueError("concurrency must be >= 1")
    todo = [c for c in suite.cases if c.id not in done]
    window = 2 * slots
    waiting: dict[int, dict[str, Any]] = {}
    written = 0
    room = asyncio.Condition()
    queue = iter(enumerate(todo))
    if progress:
        progress(len(done), len(suite))

    with out.open("a", encoding="utf-8") as f:

        async def worker() -> None:
            nonlocal written
            for i, case in queue:  # shared by the workers: cases start in suite order
                async with room:
                    while i >= written + window:
                        await room.wait()
                row = await play(case)
                async with room:
                    waiting[i] = row
                    while written in waiting:
                        f.write(json.dumps(waiting.pop(written), ensure_ascii=False) + "\n")
                        f.flush()
                        written += 1
                        if progress:
                            progress(len(done) + written, len(suite))
                    room.notify_all()

        tasks = [asyncio.create_task(worker()) for _ in range(min(slots, len(todo)))]
        try:
            await asyncio.gather(*tasks)
        except BaseException:  # an interruption or a lost worker: stop the rest, keep what is written
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise


async def run_suite(
    suite: Suite[C],
    target: Target,
    scorer: Scorer[C] | Judge,
    out: Path,
    *,
    solver: Solver[C] = scripted_turns,
    concurrency: int = 1,
    retries: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> RunFile:
    """Run (or resume) ``suite`` against ``target`` into ``out``, ``concurrency`` cases at a time, rows in suite
    order. A plain judge is wrapped as a check scorer. ``mindrail.cluster.bench`` runs the same on a Ray cluster."""
    if concurrency < 1:
        raise ValueError("concurrency must be >= 1")
    score = _scorer(scorer)
    done = start_run(suite, target.describe(), score.name, out)

    async def play(case: C) -> dict[str, Any]:
        return await play_case(case, target, solver, score, retries)

    await write_in_order(suite, out, done, play, slots=concurrency, progress=progress)
    return read_run(out)


async def rescore(path: Path, suite: Suite[C], scorer: Scorer[C] | Judge, out: Path) -> RunFile:
    """Judge a finished run again with another (or a newer) scorer, without calling the target: every reply and
    transcript is in the run file. The new file records the new judge and when it was rescored."""
    run = read_run(path)
    if run.header.get("suite_sha256") != suite.sha256:
        raise RunFileError(f"{path}: was run on another version of suite {run.header.get('suite')!r}")
    score = _scorer(scorer)
    by_id = {c.id: c for c in suite.cases}
    header = {**run.header, "judge": score.name, "rescored": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    rows = []
    for row in run.results:
        if row.get("status") == "ok":
            case = by_id.get(row["case_id"])
            if case is None:
                raise RunFileError(f"{path}: case {row['case_id']!r} is not in suite {suite.name!r}")
            transcript = tuple((str(a), str(b)) for a, b in row.get("transcript", []))
            sc = await resolve_score(score(case, TargetReply(row["reply"], transcript, row.get("meta", {}))))
            row = {**row, "judgement": sc.judgement, "appropriate": sc.appropriate, **sc.extra}
        rows.append(row)
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        f.write(json.dumps(header) + "\n")
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(out)
    return read_run(out)
