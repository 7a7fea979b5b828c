"""``mindrail bench run ... --ray`` (the audit bench's fan-out over Ray actors) against the same command without Ray.

Times the whole CLI command, as a person runs it, in five configurations taken in turn within each repeat (side by
side; medians reported): ``--concurrency 1``, ``--concurrency 2``, ``--ray --ray-workers 1``, ``--ray --ray-workers
2`` and ``--ray --ray-workers 2 --concurrency 2``. Two targets, both guarded, on the ``single_turn`` suite:

* a stand-in for a hosted model: an OpenAI-compatible server started by this script on a free loopback port, which
  answers every ``/v1/chat/completions`` after a fixed delay (``--delay``, default 0.3 s) with a fixed reply, one
  thread per connection so concurrent requests overlap; it also counts requests and the most in flight at once;
* the deterministic ``scripted`` target (no network), which shows Ray's fixed start-up cost against tiny work.

Also checks that every run file of a target is the same once its times are removed (the header's ``started``, each
row's ``finished`` and ``meta.latency_ms``).

    .venv/bin/python benchmarks/run_bench_ray.py [--repeats 2] [--delay 0.3] [--out docs/benchmarks-bench-ray.md]

Writes the whole of ``--out`` (a Markdown page) and prints it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.server
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SUITE = "single_turn"
REPLY = "Thanks for telling me. That sounds like a lot to carry. What has been the hardest part of it for you?"
CONFIGS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("concurrency 1 (no Ray)", ("--concurrency", "1")),
    ("concurrency 2 (no Ray)", ("--concurrency", "2")),
    ("Ray, 1 worker × concurrency 1", ("--ray", "--ray-workers", "1")),
    ("Ray, 2 workers × concurrency 1", ("--ray", "--ray-workers", "2")),
    ("Ray, 2 workers × concurrency 2", ("--ray", "--ray-workers", "2", "--concurrency", "2")),
)
IN_FLIGHT = (1, 2, 1, 2, 4)  # cases (and so upstream requests) in flight at once, per configuration


# --- a stand-in for a hosted model -------------------------------------------------------------------------------


@dataclass
class Counter:
    """Requests the fake server answered, and the most it held at once."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: int = 0
    in_flight: int = 0
    peak: int = 0

    def enter(self) -> None:
        with self.lock:
            self.requests += 1
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)

    def leave(self) -> None:
        with self.lock:
            self.in_flight -= 1

    def reset(self) -> tuple[int, int]:
        with self.lock:
            got = (self.requests, self.peak)
            self.requests = self.peak = 0
            return got


class FakeOpenAI(http.server.ThreadingHTTPServer):
    """An OpenAI-compatible server on loopback: non-streaming ``POST /v1/chat/completions`` (all that
    :class:`mindrail.backends.openai.OpenAIBackend` calls for the bench) and ``GET /v1/models``."""

    daemon_threads = True

    def __init__(self, delay_s: float) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.delay_s = delay_s
        self.counter = Counter()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a hosted API
    disable_nagle_algorithm = True  # else headers and body, written apart, wait ~40 ms for a delayed ACK
    server: FakeOpenAI

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": "fake", "object": "model", "owned_by": "bench"}]})
        else:
            self._send(404, {"error": {"message": "not found", "type": "invalid_request_error"}})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
            return
        try:
            request = json.loads(body)
        except ValueError:
            self._send(400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
            return
        if request.get("stream"):
            self._send(400, {"error": {"message": "streaming is not served here", "type": "invalid_request_error"}})
            return
        self.server.counter.enter()
        try:
            time.sleep(self.server.delay_s)
            self._send(
                200,
                {
                    "id": "chatcmpl-bench",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": str(request.get("model") or "fake"),
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": REPLY}, "finish_reason": "stop"}
                    ],
                    "usage": {"prompt_tokens": 20, "completion_tokens": 22, "total_tokens": 42},
                },
            )
        finally:
            self.server.counter.leave()


# --- the runs ------------------------------------------------------------------------------------------------------


def _mindrail() -> str:
    here = Path(sys.executable).with_name("mindrail")
    return str(here) if here.exists() else "mindrail"


def run_cli(target: str, extra: tuple[str, ...], out: Path) -> float:
    """``mindrail bench run`` as a subprocess; its wall time in seconds."""
    cmd = [_mindrail(), "bench", "run", "--suite", SUITE, "--target", target, "--guarded", *extra, "--out", str(out)]
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    t = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return wall


def without_times(path: Path) -> list[dict[str, Any]]:
    """A run file's records with the header's ``started``, each row's ``finished`` and ``meta.latency_ms`` gone."""
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    records[0].pop("started", None)
    for row in records[1:]:
        row.pop("finished", None)
        if isinstance(row.get("meta"), dict):
            row["meta"].pop("latency_ms", None)
    return records


def measure(target: str, repeats: int, tmp: Path, server: FakeOpenAI | None, label: str) -> dict[str, Any]:
    walls: list[list[float]] = [[] for _ in CONFIGS]
    peaks: list[int] = [0 for _ in CONFIGS]
    requests: list[int] = [0 for _ in CONFIGS]
    want: list[dict[str, Any]] | None = None
    identical = True
    cases = ok = 0
    for rep in range(repeats):
        for i, (name, extra) in enumerate(CONFIGS):
            out = tmp / f"{label}-{i}-{rep}.jsonl"
            if server is not None:
                server.counter.reset()
            walls[i].append(run_cli(target, extra, out))
            if server is not None:
                n, peak = server.counter.reset()
                requests[i], peaks[i] = n, max(peaks[i], peak)
            got = without_times(out)
            cases = int(got[0]["cases"])
            ok = sum(1 for r in got[1:] if r.get("status") == "ok")
            if ok != cases:
                raise SystemExit(f"{label} / {name}: only {ok} of {cases} cases finished")
            if want is None:
                want = got
            elif got != want:
                identical = False
            print(f"{label} rep {rep + 1}: {name}: {walls[i][-1]:.1f} s", file=sys.stderr, flush=True)
    return {
        "target": target,
        "cases": cases,
        "identical": identical,
        "rows": [
            {
                "config": name,
                "flags": " ".join(extra),
                "in_flight": IN_FLIGHT[i],
                "walls_s": walls[i],
                "median_s": statistics.median(walls[i]),
                "requests": requests[i] if server is not None else None,
                "peak": peaks[i] if server is not None else None,
            }
            for i, (name, extra) in enumerate(CONFIGS)
        ],
    }


def run(repeats: int, delay_s: float) -> dict[str, Any]:
    load_before = os.getloadavg()
    server = FakeOpenAI(delay_s)
    thread = threading.Thread(target=server.serve_forever, name="fake-openai", daemon=True)
    thread.start()
    t = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-ray-") as d:
            tmp = Path(d)
            hosted = measure(f"openai:{server.base_url}#fake", repeats, tmp, server, "hosted")
            scripted = measure("scripted", repeats, tmp, None, "scripted")
    finally:
        server.shutdown()
        server.server_close()
    return {
        "date": dt.date.today().isoformat(),
        "cores": os.cpu_count(),
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "repeats": repeats,
        "delay_s": delay_s,
        "total_s": time.perf_counter() - t,
        "hosted": hosted,
        "scripted": scripted,
    }


# --- the page ------------------------------------------------------------------------------------------------------


def _table(m: dict[str, Any], base: float, hosted: bool) -> str:
    head = "| configuration | flags | cases in flight | median wall | runs | vs concurrency 1 |"
    rule = "|---|---|---|---|---|---|"
    if hosted:
        head += " most requests at once at the server |"
        rule += "---|"
    lines = [head, rule]
    for r in m["rows"]:
        runs = ", ".join(f"{w:.1f}" for w in r["walls_s"])
        line = (
            f"| {r['config']} | `{r['flags']}` | {r['in_flight']} | {r['median_s']:.1f} s | {runs} | "
            f"{base / r['median_s']:.2f}× |"
        )
        if hosted:
            line += f" {r['peak']} |"
        lines.append(line)
    return "\n".join(lines)


def render(r: dict[str, Any]) -> str:
    h, s = r["hosted"], r["scripted"]
    runs = len(CONFIGS) * r["repeats"]
    requests = h["rows"][0]["requests"]
    sent = " (a guarded target does not send every case to the model)" if requests < h["cases"] else ""
    spread = max(max(row["walls_s"]) - min(row["walls_s"]) for m in (h, s) for row in m["rows"])
    hr = [row["median_s"] for row in h["rows"]]
    sr = [row["median_s"] for row in s["rows"]]
    ray_fixed = min(sr[2:]) - sr[0]
    lb, la = r["load_before"], r["load_after"]
    yes = {True: "yes", False: "**no**"}
    c2, ray2, ray22 = hr[1], hr[3], hr[4]
    if c2 <= ray2:
        compare_c2 = f"2 cases in flight in one process ({c2:.1f} s) beat 2 Ray workers ({ray2:.1f} s)"
    else:
        compare_c2 = f"2 Ray workers ({ray2:.1f} s) beat 2 cases in flight in one process ({c2:.1f} s)"
    compare_c2 += f", and 2 workers × concurrency 2 (4 in flight) took {ray22:.1f} s"
    if c2 <= ray2:
        compare_c2 += "; to overlap waiting on a remote model from one machine, `--concurrency` alone is cheaper"
    over = [row for row in h["rows"] if row["peak"] > row["in_flight"]]
    bound = (
        "the server never held more than that at once in any run above"
        if not over
        else "**the server held more than that** in " + ", ".join(row["config"] for row in over)
    )
    return reflow(f"""# Bench fan-out on Ray

Measured {r["date"]} by `benchmarks/run_bench_ray.py` on {r["cores"]} cores (a local Ray cluster the command starts
itself), load average {lb[0]:.2f} / {lb[1]:.2f} / {lb[2]:.2f} (1 / 5 / 15 min) before and {la[0]:.2f} / {la[1]:.2f} /
{la[2]:.2f} after, from these runs and other work on the machine. Each figure is the wall time of the whole command,

```bash
mindrail bench run --suite {SUITE} --target TARGET --guarded FLAGS --out RUN.jsonl
```

run as a subprocess (start-up, loading the risk engine, Ray's cluster and actors, the cases, writing the run file),
the five configurations taken in turn within each of {r["repeats"]} repeats; medians reported. The runs of one
configuration differ by up to {spread:.1f} s (the machine is shared), so smaller differences mean little.
Suite `{SUITE}`: {h["cases"]} cases. The whole measurement took {r["total_s"] / 60:.1f} minutes.

    .venv/bin/python benchmarks/run_bench_ray.py --repeats {r["repeats"]} --delay {r["delay_s"]:g}

## A hosted model (stand-in, {r["delay_s"]:g} s a reply)

Target `openai:http://127.0.0.1:PORT/v1#fake`: an OpenAI-compatible server the script starts on loopback, which
answers each chat completion after {r["delay_s"]:g} s with the same short reply, one thread per connection so
requests overlap. It received {requests} requests a run for the {h["cases"]} cases{sent}. The last column
is the most requests the server held at once in that configuration's runs.

{_table(h, hr[0], hosted=True)}

Run files identical across all {runs} runs, times removed (the header's `started`, each row's `finished` and
`meta.latency_ms`): {yes[h["identical"]]}.

## No network: the `scripted` target

Target `scripted` (canned replies, deterministic): almost no work per case, so what is left is start-up.

{_table(s, sr[0], hosted=False)}

Run files identical across all {runs} runs, times removed: {yes[s["identical"]]}.

## What this shows

The time of a run against a hosted model is the model's latency times the cases it is sent, divided by the cases in
flight (workers × concurrency), plus a fixed cost. Without Ray the fixed cost is starting the command and loading
the risk engine; with Ray it adds starting a local cluster and one actor per worker, each loading its own risk
engine: on the scripted target, {sr[0]:.1f} s without Ray against {min(sr[2:]):.1f} to {max(sr[2:]):.1f} s with it,
about {ray_fixed:.0f} s more. So on one machine Ray pays only once the cases in flight save more than that. Here,
with {h["cases"]} cases at {r["delay_s"]:g} s, {compare_c2}. Ray is for spreading the guard's own work (the risk
engine, or `--target local`) over more cores or nodes than one process has. A hosted model sees at most
workers × concurrency requests at once: {bound}; pick that product for what the server can take.

Not measured: a multi-node cluster (the network between nodes, joining one with `--ray-address`), a real hosted
model (its latency varies, it rate-limits, and replies are longer than the stand-in's), other suites (persona
suites make several calls a case), and more than 2 workers (this machine has {r["cores"]} cores, which the driver,
the actors and the stand-in server share).
""")


def reflow(text: str, width: int = 116) -> str:
    """Fill each prose paragraph to ``width`` (tables, code and headings stay as they are)."""
    blocks = text.strip("\n").split("\n\n")
    keep = ("|", "```", "    ", "#")
    out = [
        b
        if b.startswith(keep)
        else textwrap.fill(" ".join(b.split()), width, break_long_words=False, break_on_hyphens=False)
        for b in blocks
    ]
    return "\n\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--delay", type=float, default=0.3, help="Seconds the stand-in model takes per reply.")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks-bench-ray.md")
    ap.add_argument("--json", action="store_true", help="Also print the figures as JSON.")
    args = ap.parse_args(argv)
    if args.repeats < 1 or args.delay < 0:
        ap.error("--repeats must be >= 1 and --delay >= 0")
    r = run(args.repeats, args.delay)
    if args.json:
        print(json.dumps(r, indent=1))
    text = render(r)
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
