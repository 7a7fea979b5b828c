"""Work spread over a Ray cluster: batch screening (``mindrail screen --ray``) and the bench's fan-out
(``mindrail bench run --ray``). Ray is imported only here and in this package's modules, and only when asked for,
so the gateway and the plain command line never load it."""

from __future__ import annotations

import os


def connect(address: str | None = None, *, num_cpus: int | None = None) -> None:
    """Join the Ray cluster at ``address`` (``ray://host:port`` or ``host:port``, or ``auto`` for the one this host
    belongs to), or start a local one with ``num_cpus`` CPUs when ``address`` is None. Idempotent within a process.
    Usage statistics stay off and no dashboard starts: nothing leaves an air-gapped machine."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    if ray.is_initialized():
        return
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)


def shutdown() -> None:
    """Leave (and, when this process started it, stop) the cluster."""
    import ray

    if ray.is_initialized():
        ray.shutdown()
