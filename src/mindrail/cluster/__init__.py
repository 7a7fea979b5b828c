"""Work spread over a Ray cluster: batch screening (``mindrail screen --ray``) and the bench's fan-out
(``mindrail bench run --ray``). Ray is imported only here and in this package's modules, and only when asked for,
so the gateway and the plain command line never load it."""

from __future__ import annotations

import logging
import os


def connect(address: str | None = None, *, num_cpus: int | None = None) -> bool:
    """Join the Ray cluster at ``address`` (``ray://host:port`` or ``host:port``, or ``auto`` for the one this host
    belongs to), or start a new local one with ``num_cpus`` CPUs when ``address`` is None (even when ``RAY_ADDRESS``
    is set: "local" must not mean someone else's cluster). Idempotent within a process: returns True only when this
    call connected, so a caller that finds Ray already up (a test's cluster) leaves it up.
    Usage statistics stay off and no dashboard starts: nothing leaves an air-gapped machine."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    if ray.is_initialized():
        return False
    if address:
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    else:
        ray.init(
            address="local",
            num_cpus=num_cpus,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
        )
    return True


def cluster_cpus() -> int:
    """The CPUs of the connected cluster (at least 1): the default number of workers."""
    import ray

    resources: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]
    return max(1, int(resources.get("CPU", 1)))


def shutdown() -> None:
    """Leave (and, when this process started it, stop) the cluster."""
    import ray

    if ray.is_initialized():
        ray.shutdown()
