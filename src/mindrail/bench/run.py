"""Runs: every prompt, reply, judgement and version, stored as JSONL, resumable after interruption.

Line 1 is the run header (suite name and hash, target, judge, versions, start time); each further line is one
finished case, appended and flushed as soon as it is judged, so an interrupted run loses nothing finished and a
re-run with the same file skips what is done. A case whose target keeps failing is recorded as an error (with
the error type only) and retried on resume.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Callable
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
    """Run (or resume) ``suite`` against ``target`` into ``out``. A plain judge is wrapped as a check scorer."""
    if concurrency < 1:
        raise ValueError("concurrency must be >= 1")
    score = _scorer(scorer)
    header: dict[str, Any] = {
        "format": FORMAT,
        "suite": suite.name,
        "suite_sha256": suite.sha256,
        "kind": suite.kind,
        "cases": len(suite),
        "target": target.describe(),
        "judge": score.name,
        "mindrail": __version__,
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    done: set[str] = set()
    if out.exists() and out.stat().st_size:
        _drop_partial_tail(out)
        existing = read_run(out)
        if existing.header.get("suite_sha256") != suite.sha256:
            raise RunFileError(f"{out}: was run on another version of suite {existing.header.get('suite')!r}")
        if existing.header.get("target", {}).get("name") != header["target"]["name"]:
            raise RunFileError(f"{out}: was run against {existing.header['target'].get('name')!r}")
        done = existing.done
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(header) + "\n", encoding="utf-8")
    todo = [c for c in suite.cases if c.id not in done]
    lock = asyncio.Lock()
    sem = asyncio.Semaphore(concurrency)
    finished = len(done)
    if progress:
        progress(finished, len(suite))

    async def one(case: C) -> None:
        nonlocal finished
        async with sem:
            row: dict[str, Any] = {
                "case_id": case.id,
                "condition": case.condition,
                "check": getattr(case, "check", None),
            }
            for attempt in range(retries + 1):
                try:
                    reply = await solver(case, target)
                    sc = await resolve_score(score(case, reply))
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
                    row.update(status="error", error=type(exc).__name__, attempts=attempt + 1)
                    await asyncio.sleep(0.2 * 2**attempt)
            async with lock:
                with out.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
                    f.flush()
                finished += 1
                if progress:
                    progress(finished, len(suite))

    await asyncio.gather(*(one(c) for c in todo))
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
