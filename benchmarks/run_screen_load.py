"""Does screening stall the event loop? (issue 11: a 315 KB /v1/screen request once held /healthz for 25 s.)

Serves the gateway with uvicorn in a subprocess (scripted backend, SQLite), then measures /healthz latency over
loopback while it is idle and while 10 maximum-size /v1/screen requests run concurrently. Screening runs in
worker threads, ``screen_concurrency`` at a time; the event loop that answers /healthz must stay free. Target:
/healthz p99 ≤ 50 ms under that load.

    .venv/bin/python benchmarks/run_screen_load.py --out docs/benchmarks-gateway.md

The section it writes replaces its own earlier version in ``--out`` (run after run_gateway.py, which rewrites
the file).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

HEADING = "## /healthz while /v1/screen is busy"
SENTENCES = [
    "Work was long today and the train home was late again, so I'm pretty tired.",
    "My sister called about the holidays and we argued about who hosts this year.",
    "I keep thinking about whether I should change jobs, but the timing feels wrong.",
    "Sometimes I feel like nothing I do matters and I don't know why I bother.",
    "We planted tomatoes on the balcony and the basil is finally coming up.",
    "I haven't been sleeping well and my exam is on Thursday morning.",
]


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(port: int, max_chars: int, concurrency: int) -> None:
    """The server process: the real engine and app, a scripted backend and a throwaway SQLite store."""
    import uvicorn

    from mindrail.backends.scripted import ScriptedBackend
    from mindrail.gateway.app import ApiOptions, create_app
    from mindrail.gateway.pipeline import Guard
    from mindrail.gateway.recorder import StoreRecorder
    from mindrail.gateway.service import Gateway
    from mindrail.policy.decide import default_policy
    from mindrail.risk.engine import RiskEngine
    from mindrail.store import KeyRing, Store

    with tempfile.TemporaryDirectory() as d:
        store = Store(f"sqlite:///{d}/screen.db", KeyRing.generate())
        guard = Guard(RiskEngine.load(), default_policy(), ScriptedBackend(), recorder=StoreRecorder(store))
        options = ApiOptions(screen_max_chars=max_chars, screen_concurrency=concurrency)
        app = create_app(Gateway(guard, store), require_api_key=False, options=options)
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def max_size_text(chars: int, seed: int) -> str:
    out: list[str] = []
    n, i = 0, seed
    while n < chars:
        s = SENTENCES[i % len(SENTENCES)] + " "
        out.append(s)
        n += len(s)
        i += 1
    return "".join(out)[:chars]


async def measure(base: str, max_chars: int, requests: int, idle_samples: int) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=requests + 4)
    async with httpx.AsyncClient(base_url=base, timeout=300, limits=limits) as c:
        await c.post("/v1/screen", json={"text": SENTENCES[0]})  # warm-up
        idle: list[float] = []
        for _ in range(idle_samples):
            t0 = time.perf_counter()
            r = await c.get("/healthz")
            idle.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200
            await asyncio.sleep(0.01)

        async def one(i: int) -> tuple[int, float]:
            t0 = time.perf_counter()
            r = await c.post("/v1/screen", json={"text": max_size_text(max_chars, i)})
            return r.status_code, time.perf_counter() - t0

        t_start = time.perf_counter()
        screens = [asyncio.create_task(one(i)) for i in range(requests)]
        await asyncio.sleep(0.2)  # let every screening request reach the server first
        busy: list[float] = []
        while not all(t.done() for t in screens):
            t0 = time.perf_counter()
            r = await c.get("/healthz")
            busy.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200
            await asyncio.sleep(0.02)
        results = [t.result() for t in screens]
        wall = time.perf_counter() - t_start
    return {
        "idle_p50_ms": statistics.median(idle),
        "idle_p99_ms": _pct(idle, 0.99),
        "busy_samples": len(busy),
        "busy_p50_ms": statistics.median(busy) if busy else 0.0,
        "busy_p99_ms": _pct(busy, 0.99) if busy else 0.0,
        "busy_max_ms": max(busy) if busy else 0.0,
        "screen_status": sorted({s for s, _ in results}),
        "screen_median_s": statistics.median(t for _, t in results),
        "screen_max_s": max(t for _, t in results),
        "wall_s": wall,
    }


def render(r: dict[str, Any]) -> str:
    ok = "met" if r["busy_p99_ms"] <= 50 else "**not met**"
    return (
        f"\n{HEADING}\n\n"
        f"Measured {r['date']} by `benchmarks/run_screen_load.py` on {r['cores']} cores with a load average of "
        f"{r['load']:.1f} from other work. The gateway "
        "served by uvicorn in its own process, HTTP over loopback; screening in worker threads, "
        f"{r['concurrency']} at a time. /healthz polled every 20 ms while {r['requests']} concurrent /v1/screen "
        f"requests of {r['max_chars']:,} characters each (the cap) ran:\n\n"
        "| measure | value | target |\n|---|---|---|\n"
        f"| /healthz idle, p50 / p99 | {r['idle_p50_ms']:.1f} / {r['idle_p99_ms']:.1f} ms | - |\n"
        f"| /healthz under load, p50 / p99 (max) | {r['busy_p50_ms']:.1f} / {r['busy_p99_ms']:.1f} ms "
        f"({r['busy_max_ms']:.1f} ms), {r['busy_samples']} samples | p99 ≤ 50 ms: {ok} |\n"
        f"| /v1/screen latency, median / max | {r['screen_median_s']:.1f} / {r['screen_max_s']:.1f} s "
        f"(status {', '.join(map(str, r['screen_status']))}) | - |\n"
        f"| all {r['requests']} screenings done in | {r['wall_s']:.1f} s | - |\n"
    )


def write_section(out: Path, text: str) -> None:
    """Replace this benchmark's section in ``out`` (or append it)."""
    old = out.read_text(encoding="utf-8") if out.exists() else ""
    pattern = re.compile(r"\n" + re.escape(HEADING) + r"\n.*?(?=\n## |\Z)", re.S)
    new = pattern.sub(lambda _: text.rstrip("\n") + "\n", old) if pattern.search(old) else old + text
    out.write_text(new, encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=None, help="Markdown file to write the section into.")
    ap.add_argument("--requests", type=int, default=10)
    ap.add_argument("--max-chars", type=int, default=20_000, help="The screening cap (ApiOptions.screen_max_chars).")
    ap.add_argument("--concurrency", type=int, default=1, help="ApiOptions.screen_concurrency.")
    ap.add_argument("--idle-samples", type=int, default=100)
    ap.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve is not None:
        serve(args.serve, args.max_chars, args.concurrency)
        return
    load = os.getloadavg()[0]
    port = _free_port()
    cmd = [sys.executable, __file__, "--serve", str(port), "--max-chars", str(args.max_chars)]
    server = subprocess.Popen([*cmd, "--concurrency", str(args.concurrency)], env={**os.environ})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the gateway did not start")
            time.sleep(0.25)
        result = asyncio.run(measure(base, args.max_chars, args.requests, args.idle_samples))
    finally:
        server.terminate()
        server.wait(timeout=30)
    result.update(
        date=dt.date.today().isoformat(),
        requests=args.requests,
        max_chars=args.max_chars,
        concurrency=args.concurrency,
        cores=os.cpu_count(),
        load=load,
    )
    print(json.dumps(result, indent=2))
    text = render(result)
    if args.out is not None:
        write_section(args.out, text)
    print(text)


if __name__ == "__main__":
    main()
