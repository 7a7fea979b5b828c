"""``mindrail bench run --ray``: a suite's cases fanned out over Ray actors, written as a local run writes them.

Each actor builds its own target, solver and scorer from a :class:`~mindrail.bench.registry.RunSpec` (plain names
and specs), so a guarded target's risk engine loads once per actor rather than once per case, and no model, engine
or HTTP client is pickled. Actors play cases with the local run's :func:`~mindrail.bench.run.play_case`, at most
``concurrency`` at a time each; the driver starts cases in suite order and appends their rows through the local
run's reorder buffer (:func:`~mindrail.bench.run.write_in_order`). So a Ray run file is in suite order, resumes
like any other, and equals a local run's on a deterministic target apart from its times (the header's
``started``, each row's ``finished`` and ``meta.latency_ms``).

Call :func:`mindrail.cluster.connect` first; this module never starts or leaves a cluster itself.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mindrail.bench.registry import RunSpec, build, check_spec
from mindrail.bench.run import RunFile, play_case, read_run, start_run, write_in_order
from mindrail.bench.suite import CaseLike, Suite
from mindrail.cluster import cluster_cpus


class WorkerError(RuntimeError):
    """The actors could not build the target, solver or scorer (a missing encoder or policy file on a node)."""


class CaseWorker:
    """One actor: a target, solver and scorer built once from a spec, playing the cases it is sent. A plain class
    (``ray.remote`` wraps it when a run starts), so importing this module does not need Ray."""

    def __init__(self, spec: RunSpec, retries: int = 2) -> None:
        self.parts = build(spec)
        self.retries = retries

    async def describe(self) -> tuple[dict[str, Any], str]:
        """What the run header records: the target's description and the scorer's name."""
        return self.parts.target.describe(), self.parts.scorer.name

    async def play(self, case: CaseLike) -> dict[str, Any]:
        return await play_case(case, self.parts.target, self.parts.solver, self.parts.scorer, self.retries)


def _absolute(spec: RunSpec) -> RunSpec:
    """File paths in ``spec`` made absolute: an actor's working directory need not be the driver's."""

    def backend(s: str | None) -> str | None:
        if s and s.startswith("scripted:") and len(s) > len("scripted:"):
            return "scripted:" + str(Path(s[len("scripted:") :]).resolve())
        return s

    return dataclasses.replace(
        spec,
        target=backend(spec.target) or spec.target,
        policy=str(Path(spec.policy).resolve()) if spec.policy else None,
        user=backend(spec.user),
        judges=tuple("llm:" + (backend(j[4:]) or "") if j.startswith("llm:") else j for j in spec.judges),
    )


async def run_suite_ray(
    suite: Suite[Any],
    spec: RunSpec,
    out: Path,
    *,
    workers: int | None = None,
    concurrency: int = 1,
    retries: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> RunFile:
    """Run (or resume) ``suite`` into ``out`` on the connected Ray cluster: ``workers`` actors (default: one per
    cluster CPU), each with at most ``concurrency`` cases in flight, so a hosted model sees at most
    ``workers * concurrency`` requests at once. Rows come out in suite order, as :func:`mindrail.bench.run.run_suite`
    writes them."""
    import ray

    if concurrency < 1:
        raise ValueError("concurrency must be >= 1")
    if spec.kind != suite.kind:
        raise ValueError(f"spec is for {spec.kind} suites, {suite.name!r} is a {suite.kind} suite")
    check_spec(spec)
    cpus = cluster_cpus()
    n = workers or cpus
    if n < 1:
        raise ValueError("workers must be >= 1")
    actor: Any = ray.remote(CaseWorker).options(
        num_cpus=min(1.0, cpus / n),  # more workers than CPUs share them rather than wait for a free one forever
        max_concurrency=concurrency,
        max_restarts=1,  # a lost worker (a node gone) is started again and its cases retried once
        max_task_retries=1,
    )
    actors: list[Any] = [actor.remote(_absolute(spec), retries) for _ in range(n)]
    try:
        try:
            target, judge = await actors[0].describe.remote()
        except ray.exceptions.RayActorError as exc:
            why = [line for line in str(exc).splitlines() if line.strip()][-1:] or [type(exc).__name__]
            raise WorkerError(f"the Ray workers could not build the target: {why[0]}") from None
        done = start_run(suite, target, judge, out)
        slots: asyncio.Queue[Any] = asyncio.Queue()
        for _ in range(concurrency):
            for a in actors:  # round robin, so the first cases spread over every actor
                slots.put_nowait(a)

        async def play(case: CaseLike) -> dict[str, Any]:
            a = await slots.get()
            try:
                row: dict[str, Any] = await a.play.remote(case)
                return row
            finally:
                slots.put_nowait(a)

        await write_in_order(suite, out, done, play, slots=n * concurrency, progress=progress)
    finally:
        for a in actors:
            ray.kill(a)
    return read_run(out)
