"""Several gateway instances on one PostgreSQL (issue 15, part 1), measured on this machine:

1. the audit chain's appends per second from one process against three (each with several writer threads), and
   that the chain verifies after each run;
2. the multi-instance check (tests/multi_instance.py: 3 ``mindrail serve`` processes, 50 conversations for 60 s,
   one instance SIGKILLed and restarted), repeated.

Writes Markdown to ``--out`` (docs/benchmarks-instances.md). PostgreSQL is Debian's, started by
scripts/pg_test_server.sh in a temporary directory and removed afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.serving import fresh_pg_database  # noqa: E402  (the repository root is on the path from here)


def _appender(url: str, key_file: str, threads: int, seconds: float, start_at: float, out: Any) -> None:
    """One instance: ``threads`` writers appending audit events until the deadline; puts its count on ``out``."""
    from mindrail.store import KeyRing, Store

    store = Store(url, KeyRing.load(Path(key_file)), migrate=False)
    counts = [0] * threads
    time.sleep(max(0.0, start_at - time.time()))
    deadline = time.time() + seconds

    def write(n: int) -> None:
        while time.time() < deadline:
            store.audit("bench_append", "bench", None, {"writer": n})
            counts[n] += 1

    pool = [threading.Thread(target=write, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    store.close()
    out.put(sum(counts))


def audit_rate(server: str, processes: int, threads: int, seconds: float) -> tuple[float, bool, int]:
    """(appends per second over all processes, chain verifies, events) on a fresh database."""
    from mindrail.store import KeyRing, Store

    url = fresh_pg_database(server)
    with tempfile.TemporaryDirectory() as tmp:
        key_file = Path(tmp) / "keys.json"
        KeyRing.generate().save(key_file)
        Store(url, KeyRing.load(key_file)).close()  # migrate once
        ctx = mp.get_context("spawn")
        out = ctx.Queue()
        start_at = time.time() + 3.0  # every process connected before the clock starts
        procs = [
            ctx.Process(target=_appender, args=(url, str(key_file), threads, seconds, start_at, out))
            for _ in range(processes)
        ]
        for p in procs:
            p.start()
        total = sum(out.get(timeout=seconds + 120) for _ in procs)
        for p in procs:
            p.join()
        store = Store(url, KeyRing.load(key_file), migrate=False)
        report = store.verify_audit()
        store.close()
    return total / seconds, report.ok, report.events


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks-instances.md")
    ap.add_argument("--runs", type=int, default=3, help="Repeats of the multi-instance check and the audit runs.")
    ap.add_argument("--seconds", type=float, default=60.0, help="Load time of each multi-instance run.")
    ap.add_argument("--append-seconds", type=float, default=10.0)
    ap.add_argument("--threads", type=int, default=4, help="Writer threads per instance in the audit runs.")
    args = ap.parse_args()

    from tests.multi_instance import run_scenario

    script = ROOT / "scripts" / "pg_test_server.sh"
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp) / "pg"
        res = subprocess.run(["bash", str(script), "start", str(where)], capture_output=True, text=True, check=True)
        server = res.stdout.strip().splitlines()[-1]
        try:
            rates: dict[int, list[float]] = {1: [], 3: []}
            chain_ok = True
            for _ in range(args.runs):
                for n in (1, 3):  # side by side in each repeat
                    rate, ok, _events = audit_rate(server, n, args.threads, args.append_seconds)
                    rates[n].append(rate)
                    chain_ok &= ok
                    print(f"audit appends, {n} instance(s): {rate:.0f}/s (chain ok: {ok})", flush=True)
            runs = []
            for k in range(args.runs):
                r = run_scenario(fresh_pg_database(server), Path(tmp) / f"run{k}", seconds=args.seconds)
                runs.append(r)
                print({x: r[x] for x in ("turns_stored", "turns_lost", "turns_duplicated", "chain_ok")}, flush=True)
        finally:
            subprocess.run(["bash", str(script), "stop", str(where)], capture_output=True)
    _write(args, rates, chain_ok, runs)


def _write(args: argparse.Namespace, rates: dict[int, list[float]], chain_ok: bool, runs: list[dict[str, Any]]) -> None:
    one, three = statistics.median(rates[1]), statistics.median(rates[3])
    lines = [
        "# Several gateway instances on one PostgreSQL",
        "",
        f"Measured by `python benchmarks/run_scale.py` on {dt.date.today().isoformat()}: {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, Debian's PostgreSQL on loopback (scripts/pg_test_server.sh, default "
        "settings). Everything ran on this one machine, so the instances share 2 cores with PostgreSQL and the "
        "load generator; docs/deployment.md says what these figures do and do not show.",
        "",
        "## Audit chain appends",
        "",
        f"Each instance is a process with {args.threads} writer threads calling `Store.audit` in a loop for "
        f"{args.append_seconds:.0f} s on a fresh database; {args.runs} repeats, one and three instances side by side "
        "in each; medians.",
        "",
        "| instances | appends/s (median) | runs | chain verifies after every run |",
        "|---|---|---|---|",
        f"| 1 | {one:.0f} | {', '.join(f'{x:.0f}' for x in rates[1])} | {'yes' if chain_ok else 'NO'} |",
        f"| 3 | {three:.0f} | {', '.join(f'{x:.0f}' for x in rates[3])} | {'yes' if chain_ok else 'NO'} |",
        "",
        f"Three instances append at {three / one:.2f}× the rate of one. Every append takes the one audit head "
        "row's lock (`SELECT ... FOR UPDATE`) for the rest of its transaction, so appends are serialised across "
        "all instances: more instances add waiting writers, not throughput. This is the price of one linear chain.",
        "",
        "## The multi-instance check",
        "",
        f"`tests/multi_instance.py`: 3 `mindrail serve` processes started at once on an empty database (their "
        f"migrations race), 50 conversations spread over them in rotation for {args.seconds:.0f} s, instance 0 "
        "killed with SIGKILL at 20 s and restarted 5 s later, a held-reply timeout of 3 s, review SLAs of 0 minutes "
        "(every escalation goes overdue at once, so overdue notices are tested too), a webhook receiver and an SMTP "
        "server on loopback that count every delivery (they do not deduplicate).",
        "",
        "| run | turns answered | stored | lost | duplicated | chain | escalations | overdue | webhook deliveries "
        "(repeats; once each by key) | e-mails (repeats; once each by Message-ID) | holds timed out (once each) | "
        "client retries | turns/s | p50 ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for k, r in enumerate(runs, 1):
        lines.append(
            f"| {k} | {r['turns_answered']} | {r['turns_stored']} | {r['turns_lost']} | {r['turns_duplicated']} | "
            f"{'verifies' if r['chain_ok'] else 'BROKEN'} ({r['chain_events']} events) | {r['escalations']} | "
            f"{r['overdue_items']} | {r['webhook_deliveries']} ({r['webhook_repeats']}; "
            f"{'yes' if r['webhook_exactly_once'] else 'NO'}) | "
            f"{r['emails']} ({r['email_repeats']}; {'yes' if r['emails_exactly_once'] else 'NO'}) | "
            f"{r['holds_timed_out']}/{r['holds']} ({'yes' if r['holds_exactly_once'] else 'NO'}) | "
            f"{r['client_retries']} | {r['turns_per_s']} | {r['latency_p50_ms']} |"
        )
    lines += [
        "",
        "Each escalation and each overdue review is one notice per channel. A repeat is a notice delivered twice: "
        "the check counts it as a failure unless its first delivery came from the killed instance (sent, then killed "
        "before it recorded the delivery) and it carries the same key, which a receiver keeping keys drops.",
        "",
        "Turns/s and latency are those of three gateways, PostgreSQL and 50 clients sharing 2 cores, with every "
        "turn sent to a different instance than the last (so each instance rebuilds the conversation from the "
        "store before answering); they are not a capacity figure.",
        "",
    ]
    args.out.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
