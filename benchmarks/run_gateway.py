"""Gateway benchmarks (issue 3, section 11), written to docs/benchmarks-gateway.md by `make bench`.

1. Overhead per turn, everything but the model: SQLite store, scripted backend, in-process.
2. 50 concurrent conversations for 60 s over loopback HTTP (uvicorn): lost audit records and chain verification.
3. Time to first streamed piece, local model direct vs through the gateway (which holds text back a sentence).
4. Local model tokens/s, direct llama-cpp-python vs through the gateway, side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from mindrail.backends.base import ChatMessage, GenerationOptions  # noqa: E402
from mindrail.backends.scripted import ScriptedBackend  # noqa: E402
from mindrail.gateway.app import create_app  # noqa: E402
from mindrail.gateway.pipeline import Guard, GuardConfig, TurnResult  # noqa: E402
from mindrail.gateway.recorder import StoreRecorder  # noqa: E402
from mindrail.gateway.service import Gateway  # noqa: E402
from mindrail.policy.consent import default_consent  # noqa: E402
from mindrail.policy.decide import default_policy  # noqa: E402
from mindrail.risk.engine import RiskEngine  # noqa: E402
from mindrail.store import KeyRing, Store  # noqa: E402

TEXTS = [
    "had a long day at work and i'm pretty tired",
    "can you recommend a good book about stoicism?",
    "my exam is tomorrow and i'm so stressed",
    "what's a good recipe for lentil soup",
    "i argued with my sister again and feel awful",
]
REPLY = "That sounds like a lot to carry. What would help most right now?"


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


def overhead(engine: RiskEngine, tmp: Path, conversations: int = 30, turns: int = 10) -> dict[str, Any]:
    store = Store(f"sqlite:///{tmp / 'overhead.db'}", KeyRing.generate())
    guard = Guard(engine, default_policy(), ScriptedBackend(default=REPLY), recorder=StoreRecorder(store))

    async def run() -> list[float]:
        lat: list[float] = []
        for _ in range(conversations):
            cid = store.start_conversation("bench")
            s = guard.new_session(cid, "en-US")
            for i in range(turns):
                t0 = time.perf_counter()
                await guard.turn(s, TEXTS[i % len(TEXTS)])
                lat.append((time.perf_counter() - t0) * 1000)
        return lat[turns:]  # first conversation warms up

    lat = asyncio.run(run())
    return {"turns": len(lat), "p50_ms": statistics.median(lat), "p99_ms": _pct(lat, 0.99)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def concurrent(engine: RiskEngine, tmp: Path, clients: int = 50, seconds: float = 60.0) -> dict[str, Any]:
    store = Store(f"sqlite:///{tmp / 'concurrent.db'}", KeyRing.generate())
    guard = Guard(engine, default_policy(), ScriptedBackend(default=REPLY), recorder=StoreRecorder(store))
    gateway = Gateway(guard, store)
    key = store.create_api_key("bench")
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(gateway), host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    ok, errors, lat = 0, 0, []

    async def client(n: int, deadline: float) -> None:
        nonlocal ok, errors
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=30) as c:
            consent = {"consent_version": default_consent().version, "locale": "en-US"}
            r = await c.post("/v1/conversations", json=consent)
            cid = r.json()["id"]
            i = 0
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                r = await c.post(
                    "/v1/chat/completions",
                    json={
                        "messages": [{"role": "user", "content": TEXTS[(n + i) % len(TEXTS)]}],
                        "conversation_id": cid,
                    },
                )
                lat.append((time.perf_counter() - t0) * 1000)
                if r.status_code == 200 and r.json()["mindrail"]["error"] is None:
                    ok += 1
                else:
                    errors += 1
                i += 1

    async def run() -> None:
        deadline = time.perf_counter() + seconds
        await asyncio.gather(*(client(n, deadline) for n in range(clients)))

    asyncio.run(run())
    server.should_exit = True
    thread.join(timeout=10)
    recorded = store.count("turns")
    report = store.verify_audit()
    return {
        "clients": clients,
        "seconds": seconds,
        "turns_ok": ok,
        "errors": errors,
        "turns_recorded": recorded,
        "lost_records": ok - recorded,
        "audit_events": report.events,
        "chain_ok": report.ok,
        "turns_per_s": ok / seconds,
        "p50_ms": statistics.median(lat) if lat else 0.0,
        "p99_ms": _pct(lat, 0.99) if lat else 0.0,
    }


def local_model(engine: RiskEngine, tmp: Path, runs: int = 5) -> dict[str, Any] | None:
    try:
        from mindrail.backends.local import LocalBackend
    except Exception:
        return None
    backend = LocalBackend()
    opts = GenerationOptions(max_tokens=100, temperature=0.0)
    policy = default_policy()
    store = Store(f"sqlite:///{tmp / 'local.db'}", KeyRing.generate())
    guard = Guard(engine, policy, backend, recorder=StoreRecorder(store), config=GuardConfig(options=opts))
    prompt = "Can you suggest three gentle ways to wind down in the evening?"

    async def direct() -> tuple[float, float, int]:
        msgs = [ChatMessage("system", policy.system_prompt), ChatMessage("user", prompt)]
        t0 = time.perf_counter()
        first = None
        n = 0
        async for _piece in backend.stream(msgs, opts):
            first = first or time.perf_counter()
            n += 1
        end = time.perf_counter()
        return (first or end) - t0, end - t0, n

    async def guarded() -> tuple[float, float, int]:
        cid = store.start_conversation("bench")
        s = guard.new_session(cid, "en-US")
        t0 = time.perf_counter()
        first = None
        result: TurnResult | None = None
        async for item in guard.stream_turn(s, prompt):
            if isinstance(item, TurnResult):
                result = item
            else:
                first = first or time.perf_counter()
        end = time.perf_counter()
        tokens = int((result.backend.get("completion_tokens") or 0) if result else 0)
        return (first or end) - t0, end - t0, tokens

    async def direct_rate() -> float:
        msgs = [ChatMessage("system", policy.system_prompt), ChatMessage("user", prompt)]
        t0 = time.perf_counter()
        c = await backend.complete(msgs, opts)
        return (c.completion_tokens or 0) / (time.perf_counter() - t0)

    async def guarded_rate() -> float:
        cid = store.start_conversation("bench")
        s = guard.new_session(cid, "en-US")
        t0 = time.perf_counter()
        r = await guard.turn(s, prompt)
        return float(r.backend.get("completion_tokens") or 0) / (time.perf_counter() - t0)

    async def run() -> dict[str, Any]:
        await backend.load()
        await direct()  # warm-up
        d_ttft, d_rate, g_ttft, g_rate = [], [], [], []
        for _ in range(runs):  # interleaved, so drift hits both sides alike
            d_ttft.append((await direct())[0] * 1000)
            g_ttft.append((await guarded())[0] * 1000)
            d_rate.append(await direct_rate())
            g_rate.append(await guarded_rate())
        await backend.aclose()
        return {
            "runs": runs,
            "direct_ttft_ms": statistics.median(d_ttft),
            "gateway_ttft_ms": statistics.median(g_ttft),
            "direct_tokens_per_s": statistics.median(d_rate),
            "gateway_tokens_per_s": statistics.median(g_rate),
        }

    return asyncio.run(run())


def render(r: dict[str, Any]) -> str:
    o, c, m = r["overhead"], r["concurrent"], r["local"]
    lines = [
        "# Gateway benchmarks",
        "",
        f"Generated by `make bench` on {r['date']} (2 cores). One run; medians where repeated.",
        "",
        "## Overhead per turn (everything but the model)",
        "",
        "Risk assessment, policy, reply checks, sealing and recording with its audit event, on SQLite with the "
        f"scripted backend, in-process, {o['turns']} turns:",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        f"| p50 | {o['p50_ms']:.2f} ms | ≤ 10 ms |",
        f"| p99 | {o['p99_ms']:.2f} ms | ≤ 30 ms |",
        "",
        f"## {c['clients']} concurrent conversations for {c['seconds']:.0f} s (HTTP on loopback)",
        "",
        "| measure | value |",
        "|---|---|",
        f"| turns answered | {c['turns_ok']} ({c['turns_per_s']:.1f}/s), errors {c['errors']} |",
        f"| turns recorded | {c['turns_recorded']}: **{c['lost_records']} lost** |",
        f"| audit chain | {c['audit_events']} events, verifies: **{c['chain_ok']}** |",
        f"| request latency p50 / p99 | {c['p50_ms']:.1f} / {c['p99_ms']:.1f} ms |",
        "",
    ]
    if m:
        lines += [
            "## Local model, direct vs through the gateway (same run, interleaved)",
            "",
            f"SmolLM2-135M-Instruct via llama-cpp-python, greedy replies of up to 100 tokens under the policy's "
            f"system prompt, medians of {m['runs']}. Tokens/s is completion tokens over the whole call (prompt "
            "evaluation included), from non-streamed calls:",
            "",
            "| measure | direct | through the gateway | ratio |",
            "|---|---|---|---|",
            f"| time to first streamed piece | {m['direct_ttft_ms']:.0f} ms | {m['gateway_ttft_ms']:.0f} ms | "
            f"{m['gateway_ttft_ms'] / m['direct_ttft_ms']:.2f} |",
            f"| tokens/s | {m['direct_tokens_per_s']:.1f} | {m['gateway_tokens_per_s']:.1f} | "
            f"{m['gateway_tokens_per_s'] / m['direct_tokens_per_s']:.2f} |",
            "",
            "The gateway releases text a sentence at a time, after the reply so far has passed the checks, so its "
            "first piece arrives when the model finishes its first sentence, not its first token.",
        ]
    else:
        lines.append("Local model not installed: tokens/s and time to first token not measured.")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks-gateway.md")
    ap.add_argument("--seconds", type=float, default=60.0)
    args = ap.parse_args()
    engine = RiskEngine.load()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        result = {
            "date": dt.date.today().isoformat(),
            "overhead": overhead(engine, tmp),
            "concurrent": concurrent(engine, tmp, seconds=args.seconds),
            "local": local_model(engine, tmp),
        }
    args.out.write_text(render(result), encoding="utf-8")
    print(render(result))


if __name__ == "__main__":
    main()
