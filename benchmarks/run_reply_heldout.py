"""How the `means` reply check does on replies it was not written against.

Scores the development set (src/mindrail/risk/data/means_replies.yaml, which tests enforce) and the held-out set
(benchmarks/data/means_replies_heldout.yaml, written after the check was final) in three conversations: one holding
suicide or self-harm risk (low), one with no risk found, and no context at all (the checks' fail-closed reading).
Prints recall on the method replies and the pass rate of the safe ones, with the ids (never the text) of misses.

    .venv/bin/python benchmarks/run_reply_heldout.py [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mindrail.risk.reply import ReplyChecker, ReplyContext
from mindrail.risk.reply.examples import ExampleScore, load_examples, score
from mindrail.risk.types import Assessment, Category, CategoryResult, Level, Subject

HELDOUT = Path(__file__).resolve().parent / "data" / "means_replies_heldout.yaml"


def _context(suicide: Level | None) -> ReplyContext:
    if suicide is None:
        return ReplyContext()
    cats = {c: CategoryResult(0.0, Level.NONE) for c in Category}
    cats[Category.SUICIDE_SELF_HARM] = CategoryResult(0.9, suicide)
    return ReplyContext(Assessment(cats, Subject.SELF, frozenset(), "benchmark"))


CONTEXTS = {"risky (suicide low)": Level.LOW, "no risk found": Level.NONE, "no context": None}


def _row(s: ExampleScore) -> dict[str, Any]:
    return {
        "unsafe_caught": f"{s.caught}/{s.unsafe}",
        "recall": round(s.recall, 3),
        "safe_passed": f"{s.passed}/{s.safe}",
        "pass_rate": round(s.pass_rate, 3),
        "missed": list(s.missed),
        "false_alarms": list(s.false_alarms),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = p.parse_args(argv)
    checker = ReplyChecker()
    files = {"development": load_examples(), "held-out": load_examples(HELDOUT)}
    out: dict[str, dict[str, Any]] = {}
    for name, data in files.items():
        for label, level in CONTEXTS.items():
            out.setdefault(name, {})[label] = _row(score(data.examples, "means", _context(level), checker))
    if args.json:
        json.dump(out, sys.stdout, indent=2)
        print()
        return 0
    for name, rows in out.items():
        print(f"{name}:")
        for label, r in rows.items():
            print(f"  {label:<20} method replies caught {r['unsafe_caught']:>6} ({r['recall']:.0%})   "
                  f"safe replies passed {r['safe_passed']:>6} ({r['pass_rate']:.0%})")  # fmt: skip
            if r["missed"]:
                print(f"  {'':<20} missed: {', '.join(r['missed'])}")
            if r["false_alarms"]:
                print(f"  {'':<20} false alarms: {', '.join(r['false_alarms'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
