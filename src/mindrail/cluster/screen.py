"""``mindrail screen FILE --ray``: a JSONL file screened by Ray actors, written as the single-process run writes it.

The driver streams the input, parses it and groups its lines exactly as the single-process path does
(:func:`mindrail.screening.iter_units`: message batches cut at ``batch_size`` and before each conversation line,
and whole conversations), because a message's scores can move with its batch neighbours. Chunks of whole units go
to actors, each of which loads the engine once and screens them with :func:`mindrail.screening.screen_units`, the
function the single-process path calls. At most two chunks per worker are in flight and results are written in
input order as the oldest completes, so memory does not grow with the file and the output is the single-process
output, byte for byte.

With an output file, a sidecar checkpoint (``OUT.progress.json``) records after each written chunk how far the
input and the output have got, so a run stopped for any reason resumes from its last written chunk.

Call :func:`mindrail.cluster.connect` first; this module never starts or leaves a cluster itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, BinaryIO, TextIO

from mindrail.cluster import cluster_cpus
from mindrail.risk.io import InputError, Record, SkipCounter, iter_jsonl
from mindrail.screening import MessageBatch, ScreenUnit, iter_units, jsonl_line, screen_units

CHUNK_SIZE = 256
"""Assessments per chunk sent to a worker (a chunk holds whole units, so it can be a little larger): about half a
second of one core's work, far above Ray's per-task cost of about a millisecond."""

CHECKPOINT_FORMAT = 1
HEAD_BYTES = 1 << 20
"""The checkpoint fingerprints the input by its size, modification time and the sha256 of this many first bytes."""


class ResumeError(ValueError):
    """A checkpoint that does not belong to this input, output, engine or settings: resuming would mix two runs.
    The message names files and settings, never input text."""


class WorkerStartError(RuntimeError):
    """A worker could not load the engine (not installed on a node, or the encoder missing there)."""


class ScreeningWorker:
    """One actor: the risk engine loaded once, screening the chunks it is sent. A plain class (``ray.remote`` wraps
    it in :class:`WorkerPool`), so importing this module does not import Ray."""

    def __init__(self) -> None:
        # One ONNX Runtime thread (intra-op 1, no batch pipelining), one BLAS thread and a one-thread tokenizer
        # (``tokenizers`` encodes a batch on a Rayon pool as wide as the machine, read when first used): an actor
        # holds one CPU, so N actors on N cores do not oversubscribe them.
        os.environ["RAYON_NUM_THREADS"] = "1"
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
        from mindrail.risk.engine import RiskEngine

        self.engine = RiskEngine.load(threads=1)

    def info(self) -> dict[str, Any]:
        """Who and where this worker is and what it holds (the benchmark's memory per worker)."""
        return {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "engine": self.engine.version,
            "threads": self.engine.detector.encoder.threads,
            "rss_bytes": _proc_status_bytes("VmRSS"),
            "peak_rss_bytes": _proc_status_bytes("VmHWM"),
        }

    def screen(self, units: list[ScreenUnit], batch_size: int) -> str:
        """The output lines for ``units``, serialised here so the driver only writes them."""
        return "".join(jsonl_line(r) for r in screen_units(self.engine, units, batch_size))


def _proc_status_bytes(field: str) -> int:
    """A memory figure of this process from /proc (Linux); 0 where there is none."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class WorkerPool:
    """``workers`` screening actors (default: one per CPU of the cluster), each with the engine loaded. Each asks
    for one CPU; more workers than CPUs share them rather than wait for a free one forever. Reusable across files
    (the benchmark screens several); :meth:`close` kills the actors."""

    def __init__(self, workers: int | None = None) -> None:
        import ray

        cpus = cluster_cpus()
        n = workers or cpus
        if n < 1:
            raise ValueError(f"workers must be >= 1, got {n}")
        actor: Any = ray.remote(ScreeningWorker).options(
            num_cpus=min(1.0, cpus / n),
            max_restarts=1,  # a lost worker (a node gone) is started again and its chunk screened again
            max_task_retries=1,
        )
        self.actors: list[Any] = [actor.remote() for _ in range(n)]
        try:
            infos = self.info()
        except ray.exceptions.RayActorError as exc:
            self.close()
            raise WorkerStartError(
                f"a screening worker could not start (is mindrail installed on every node?): {exc}"
            ) from None
        except BaseException:
            self.close()
            raise
        versions = sorted({i["engine"] for i in infos})
        if len(versions) != 1:
            self.close()
            raise RuntimeError(f"the workers run different engines ({', '.join(versions)}); install one everywhere")
        self.engine_version: str = versions[0]

    def __len__(self) -> int:
        return len(self.actors)

    def info(self) -> list[dict[str, Any]]:
        """Each worker's :meth:`ScreeningWorker.info` (waits until every engine has loaded)."""
        import ray

        infos: list[dict[str, Any]] = ray.get([a.info.remote() for a in self.actors])
        return infos

    def close(self) -> None:
        import ray

        for a in self.actors:
            ray.kill(a)
        self.actors = []

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class Mark:
    """Where the input stands just after a chunk's last line: the resume point a checkpoint records."""

    offset: int
    """Input bytes up to the end of that line."""
    line: int
    """That line's number: a resumed run numbers its next line ``line + 1``."""
    ok: int
    skipped: int


@dataclass(frozen=True, slots=True)
class ScreenStats:
    ok: int
    """Lines screened, over the whole job (a resumed run counts the lines before its checkpoint too)."""
    skipped: int
    chunks: int
    """Chunks this run wrote."""
    resumed_after_line: int = 0
    """The input line a resumed run started after; 0 for a fresh run."""
    already_done: bool = False
    """The checkpoint said the job had finished: nothing was screened."""


def _weight(unit: ScreenUnit) -> int:
    """Assessments a unit costs: one per message, one per turn of a conversation."""
    if isinstance(unit, MessageBatch):
        return len(unit.items)
    return max(1, sum(role == "user" for role, _ in unit.messages))


def _chunks(
    fh: BinaryIO,
    label: str,
    *,
    skip_bad: bool,
    batch_size: int,
    chunk_size: int,
    counter: SkipCounter,
    start_line: int,
    seekable: bool,
    on_line: Callable[[], None] | None,
) -> Iterator[tuple[list[ScreenUnit], Mark | None]]:
    """Whole units in chunks of about ``chunk_size`` assessments, each with its resume mark (None where the input
    cannot say: stdin, or the chunk before a bad line). A bad line raises after the units before it are yielded, as
    the single-process path writes them before it raises."""
    last = start_line  # the line of the last record read

    def records() -> Iterator[Record]:
        nonlocal last
        try:
            for rec in iter_jsonl(fh, label, skip_bad=skip_bad, counter=counter):
                last = rec.line + start_line
                yield Record(last, rec.value) if start_line else rec
        except InputError as exc:
            if not start_line:
                raise
            raise InputError(exc.path, exc.line + start_line, exc.problem) from None

    units: list[ScreenUnit] = []
    weight = 0
    try:
        for unit in iter_units(
            records(), label, skip_bad=skip_bad, batch_size=batch_size, counter=counter, on_line=on_line
        ):
            units.append(unit)
            weight += _weight(unit)
            # Cut only where the reader stands just past this unit's last line (not between a batch and the
            # conversation line that closed it), so the mark's offset and counts cover exactly what is written.
            if weight >= chunk_size and unit.last_line == last:
                mark = Mark(fh.tell(), last, counter.ok, counter.skipped) if seekable else None
                yield units, mark
                units, weight = [], 0
    except InputError:
        if units:
            yield units, None
        raise
    if units:
        yield units, (Mark(fh.tell(), last, counter.ok, counter.skipped) if seekable else None)


def screen_stream(
    pool: WorkerPool,
    fh: BinaryIO,
    label: str,
    write: Callable[[str, Mark | None], None],
    *,
    skip_bad: bool = False,
    batch_size: int = 64,
    chunk_size: int = CHUNK_SIZE,
    counter: SkipCounter | None = None,
    start_line: int = 0,
    seekable: bool = True,
    on_line: Callable[[], None] | None = None,
) -> None:
    """Screen the JSONL lines of ``fh`` on ``pool`` and hand each chunk's output lines to ``write`` in input order,
    with its resume mark. ``start_line``: lines before ``fh``'s position (a resumed run), so lines keep their
    numbers. Errors and ``counter`` are those of :func:`mindrail.screening.screen_jsonl`."""
    import ray

    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    counter = counter if counter is not None else SkipCounter()
    n = len(pool.actors)
    window: deque[tuple[Any, Mark | None, int]] = deque()  # (result ref, mark, actor index), oldest first
    turn = 0

    def least_busy() -> int:
        """The actor with the fewest chunks still running or queued (ties in turn), so a slow chunk (long
        conversations) does not hold back the actor that finished early."""
        nonlocal turn
        refs = [ref for ref, _, _ in window]
        done = set(ray.wait(refs, num_returns=len(refs), timeout=0)[0]) if refs else set()
        busy = [0] * n
        for ref, _, k in window:
            if ref not in done:
                busy[k] += 1
        k = min(range(n), key=lambda j: (busy[j], (j - turn) % n))
        turn = (k + 1) % n
        return k

    def write_oldest() -> None:
        ref, mark, _ = window.popleft()
        write(ray.get(ref), mark)

    chunks = _chunks(
        fh,
        label,
        skip_bad=skip_bad,
        batch_size=batch_size,
        chunk_size=chunk_size,
        counter=counter,
        start_line=start_line,
        seekable=seekable,
        on_line=on_line,
    )
    try:
        for units, mark in chunks:
            while len(window) >= 2 * n:
                write_oldest()
            k = least_busy()
            window.append((pool.actors[k].screen.remote(units, batch_size), mark, k))
    except InputError:
        while window:  # what came before the bad line is written, as the single-process path writes it
            write_oldest()
        raise
    while window:
        write_oldest()


def checkpoint_path(out: Path) -> Path:
    """The sidecar checkpoint of ``out``."""
    return out.with_name(out.name + ".progress.json")


def _fingerprint(path: Path) -> dict[str, Any]:
    st = path.stat()
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        digest.update(fh.read(HEAD_BYTES))
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "head_sha256": digest.hexdigest()}


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Written aside and renamed over the old one, so a checkpoint is whole or absent."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(state, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _resume_state(
    out: Path, fingerprint: dict[str, Any], engine: str, batch_size: int, skip_bad: bool
) -> dict[str, Any] | None:
    """The checkpoint to continue from; None to start afresh (nothing written yet). Raises :class:`ResumeError`
    when continuing would not give the uninterrupted run's output."""
    ckpt = checkpoint_path(out)
    if not ckpt.exists():
        if out.exists() and out.stat().st_size > 0:
            raise ResumeError(f"{out} has no checkpoint ({ckpt.name}) to resume from; remove it or drop --resume")
        return None
    try:
        state: dict[str, Any] = json.loads(ckpt.read_text(encoding="utf-8"))
        ok = state["format"] == CHECKPOINT_FORMAT and isinstance(state["out_bytes"], int)
    except (OSError, ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise ResumeError(f"{ckpt} is not a checkpoint this version can read")
    if state["input"] != fingerprint:
        raise ResumeError(f"{ckpt} was written for another input (its size, modification time or start differ)")
    if state["engine"] != engine:
        raise ResumeError(f"{ckpt} was written by engine {state['engine']}; the workers run {engine}")
    if state["batch_size"] != batch_size:
        raise ResumeError(f"{ckpt} was written with --batch-size {state['batch_size']}, not {batch_size}")
    if state["skip_bad"] != skip_bad:
        raise ResumeError(f"{ckpt} was written {'with' if state['skip_bad'] else 'without'} --skip-bad")
    if not out.exists() or out.stat().st_size < state["out_bytes"]:
        raise ResumeError(f"{out} is shorter than {ckpt.name} says it was; run again without --resume")
    return state


def finished(src: Path, out: Path, batch_size: int, skip_bad: bool) -> bool:
    """Whether ``out``'s checkpoint says a run with these settings on this very input finished (and ``out`` is as
    it left it): a ``--resume`` that has nothing to do need not start any worker."""
    ckpt = checkpoint_path(out)
    try:
        state = json.loads(ckpt.read_text(encoding="utf-8"))
        return bool(
            state["format"] == CHECKPOINT_FORMAT
            and state["done"] is True
            and state["input"] == _fingerprint(src)
            and (state["batch_size"], state["skip_bad"]) == (batch_size, skip_bad)
            and out.stat().st_size == state["out_bytes"]
        )
    except (OSError, ValueError, KeyError, TypeError):
        return False


def screen_file(
    pool: WorkerPool,
    src: Path | None,
    out: Path | None,
    *,
    sink: TextIO | None = None,
    skip_bad: bool = False,
    batch_size: int = 64,
    chunk_size: int = CHUNK_SIZE,
    resume: bool = False,
    on_progress: Callable[[int], None] | None = None,
    on_chunk: Callable[[int], None] | None = None,
) -> ScreenStats:
    """Screen ``src`` (None: stdin) on ``pool`` into ``out`` (None: ``sink``, default stdout), as
    ``mindrail screen`` does in one process.

    With ``out`` and an input file, a checkpoint beside ``out`` is kept after every chunk; ``resume`` continues from
    it: ``out`` is cut back to the last line the checkpoint covers and screening goes on from the input line after
    it, so the file ends as an uninterrupted run's would. ``on_progress`` gets the input bytes read; ``on_chunk``
    the number of chunks written so far, after each is written and checkpointed (a test stops a run there)."""
    if resume and (out is None or src is None):
        raise ResumeError("--resume needs an input file and --out")
    ckpt = checkpoint_path(out) if out is not None and src is not None else None
    fingerprint = _fingerprint(src) if ckpt is not None and src is not None else {}
    state = _resume_state(out, fingerprint, pool.engine_version, batch_size, skip_bad) if resume and out else None
    if state is not None and state["done"]:
        return ScreenStats(state["ok"], state["skipped"], 0, state["line"], already_done=True)

    def new_state(mark: Mark, out_bytes: int, done: bool) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "input": fingerprint,
            "input_path": str(src),
            "engine": pool.engine_version,
            "batch_size": batch_size,
            "skip_bad": skip_bad,
            "offset": mark.offset,
            "line": mark.line,
            "ok": mark.ok,
            "skipped": mark.skipped,
            "out_bytes": out_bytes,
            "done": done,
        }

    start = Mark(0, 0, 0, 0)
    if state is not None:
        start = Mark(state["offset"], state["line"], state["ok"], state["skipped"])
    counter = SkipCounter(skipped=start.skipped, ok=start.ok)
    fh: BinaryIO = src.open("rb") if src is not None else sys.stdin.buffer
    out_fh: IO[bytes] | None = None
    chunks = 0
    last = start
    try:
        if out is not None:
            out_fh = out.open("r+b" if state is not None else "wb")
            out_fh.truncate(0 if state is None else state["out_bytes"])
            out_fh.seek(0, os.SEEK_END)
        if src is not None:
            fh.seek(start.offset)
        if ckpt is not None:
            assert out_fh is not None
            _save_checkpoint(ckpt, new_state(start, out_fh.tell(), done=False))
        text_sink = sink if sink is not None else sys.stdout

        def write(text: str, mark: Mark | None) -> None:
            nonlocal chunks, last
            if out_fh is None:
                text_sink.write(text)
            else:
                out_fh.write(text.encode("utf-8"))
                if ckpt is not None and mark is not None:
                    out_fh.flush()  # the output reaches the OS before the checkpoint says it is there
                    _save_checkpoint(ckpt, new_state(mark, out_fh.tell(), done=False))
                    last = mark
            chunks += 1
            if on_chunk is not None:
                on_chunk(chunks)

        def advance() -> None:
            if on_progress is not None:
                on_progress(fh.tell())

        screen_stream(
            pool,
            fh,
            "<stdin>" if src is None else str(src),
            write,
            skip_bad=skip_bad,
            batch_size=batch_size,
            chunk_size=chunk_size,
            counter=counter,
            start_line=start.line,
            seekable=src is not None,
            on_line=advance if on_progress is not None and src is not None else None,
        )
        if ckpt is not None and out_fh is not None:
            out_fh.flush()
            end = Mark(fh.tell(), last.line, counter.ok, counter.skipped)
            _save_checkpoint(ckpt, new_state(end, out_fh.tell(), done=True))
    finally:
        if src is not None:
            fh.close()
        if out_fh is not None:
            out_fh.close()
    return ScreenStats(counter.ok, counter.skipped, chunks, start.line)
