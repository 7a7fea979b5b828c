"""Local model speed: SmolLM2-135M (the shipped GGUF) through ``LocalBackend``, on this machine as it is and with
two extra processes burning CPU, for short replies under the gateway's real safety system prompt.

Per reply it records the time to the first streamed piece (the prompt is evaluated first), the whole reply's time,
and tokens per second over the whole reply; then how many replies would have hit a given backend timeout. The
machine's load average is printed before each condition, so a busy machine (another job training a model, say) is
visible in the figures.

    .venv/bin/python benchmarks/run_local_speed.py [--replies 6] [--max-tokens 128] [--threads 2]
        [--burners 2] [--timeout 60] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import statistics
import sys
import time
from typing import Any

from mindrail.backends.base import ChatMessage, GenerationOptions, StreamInfo
from mindrail.backends.local import LocalBackend
from mindrail.policy.decide import default_policy

PROMPTS = (
    "I've had a really long week at work and I can't switch off in the evenings.",
    "My sister and I had a fight and now she won't answer my messages. What should I do?",
    "Can you suggest a few ways to wind down before bed?",
    "I feel a bit lonely since I moved to a new city.",
    "How do I tell my manager I'm struggling without sounding weak?",
    "I keep putting off my coursework and then panicking the night before.",
    "What are some small things I could do this weekend to feel better?",
    "My friend seems down lately. How can I check in on her?",
)


def _burn(stop: Any) -> None:
    """A Python busy loop: one core's worth of load until told to stop."""
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x += 1


async def _one(backend: LocalBackend, system: str, prompt: str, options: GenerationOptions) -> dict[str, Any]:
    messages = [ChatMessage("system", system), ChatMessage("user", prompt)]
    info = StreamInfo()
    t0 = time.perf_counter()
    first: float | None = None
    chars = 0
    async for piece in backend.stream(messages, options, info):
        if first is None:
            first = time.perf_counter() - t0
        chars += len(piece)
    total = time.perf_counter() - t0
    tokens = info.completion_tokens or 0
    return {
        "prompt_tokens": info.prompt_tokens,
        "completion_tokens": tokens,
        "finish_reason": info.finish_reason,
        "first_piece_s": round(first if first is not None else total, 3),
        "total_s": round(total, 3),
        "tokens_per_s": round(tokens / total, 2) if total > 0 else 0.0,
        "chars": chars,
    }


def _summary(rows: list[dict[str, Any]], timeout: float) -> dict[str, Any]:
    tps = [r["tokens_per_s"] for r in rows]
    totals = [r["total_s"] for r in rows]
    return {
        "replies": len(rows),
        "completion_tokens_median": statistics.median(r["completion_tokens"] for r in rows),
        "prompt_tokens_median": statistics.median(r["prompt_tokens"] or 0 for r in rows),
        "tokens_per_s_median": round(statistics.median(tps), 2),
        "tokens_per_s_min": round(min(tps), 2),
        "first_piece_s_median": round(statistics.median(r["first_piece_s"] for r in rows), 2),
        "total_s_median": round(statistics.median(totals), 2),
        "total_s_max": round(max(totals), 2),
        f"over_{timeout:g}s": sum(t > timeout for t in totals),
    }


async def _condition(
    backend: LocalBackend, system: str, options: GenerationOptions, replies: int
) -> list[dict[str, Any]]:
    return [await _one(backend, system, PROMPTS[i % len(PROMPTS)], options) for i in range(replies)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--replies", type=int, default=6, help="replies per condition")
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--threads", type=int, default=2, help="llama.cpp threads")
    p.add_argument("--burners", type=int, default=2, help="busy-loop processes in the loaded condition")
    p.add_argument("--timeout", type=float, default=60.0, help="count replies slower than this")
    p.add_argument("--conditions", default="as-is,loaded", help="comma-separated: as-is, loaded")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)

    backend = LocalBackend(threads=args.threads, max_tokens=args.max_tokens)
    asyncio.run(backend.load())
    system = default_policy().system_prompt
    options = GenerationOptions(max_tokens=args.max_tokens, temperature=0.3, seed=0)
    asyncio.run(_condition(backend, system, options, 1))  # warm-up, not counted
    report: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "threads": args.threads,
        "max_tokens": args.max_tokens,
        "load_seconds": round(backend.load_seconds or 0.0, 2),
        "conditions": {},
    }
    for name in [c.strip() for c in args.conditions.split(",") if c.strip()]:
        stop = mp.Event()
        burners = [mp.Process(target=_burn, args=(stop,), daemon=True) for _ in range(args.burners)]
        if name == "loaded":
            for b in burners:
                b.start()
            time.sleep(1.0)
        load_before = os.getloadavg()
        try:
            rows = asyncio.run(_condition(backend, system, options, args.replies))
        finally:
            stop.set()
            for b in burners:
                if b.is_alive() or b.pid is not None:
                    b.join(timeout=5)
        report["conditions"][name] = {
            "load_average_1_5_15_before": [round(x, 2) for x in load_before],
            "summary": _summary(rows, args.timeout),
            "replies": rows,
        }
    asyncio.run(backend.aclose())
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
        return 0
    print(f"cpus {report['cpus']}, llama threads {args.threads}, max_tokens {args.max_tokens}")
    for name, c in report["conditions"].items():
        s = c["summary"]
        print(
            f"{name:<7} load {c['load_average_1_5_15_before']}  {s['replies']} replies, median "
            f"{s['completion_tokens_median']} tokens after a {s['prompt_tokens_median']}-token prompt: "
            f"{s['tokens_per_s_median']} tokens/s (min {s['tokens_per_s_min']}), first piece "
            f"{s['first_piece_s_median']} s, reply {s['total_s_median']} s (max {s['total_s_max']} s), "
            f"over {args.timeout:g} s: {s[f'over_{args.timeout:g}s']}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
