"""`make bench`: speed, memory and quality of the risk engine, and the peers side by side, in one run.

Writes docs/benchmarks.md (and var/bench/results.json). Medians over repeated runs; everything that is compared
is measured in the same run on the same data, because this machine is noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from mindrail.risk.detector import LAYERS, HybridDetector  # noqa: E402
from mindrail.risk.engine import RiskEngine  # noqa: E402
from mindrail.risk.types import CATEGORIES, Category, Level  # noqa: E402
from mindrail.training import benign, challenge  # noqa: E402
from mindrail.training.counterfactual import counterfactual_check  # noqa: E402
from mindrail.training.dataset import Example, load_corpus  # noqa: E402
from mindrail.training.dev_split import PRIMARY_EXCLUDE, full_report, score_examples  # noqa: E402
from mindrail.training.loso import loso_report  # noqa: E402
from mindrail.training.metrics import confusion, from_confusion  # noqa: E402

SSH = Category.SUICIDE_SELF_HARM
SHORT = [
    "had a long day at work and i'm pretty tired",
    "can you recommend a good book about stoicism?",
    "i feel like nobody would notice if i was gone",
    "my exam is tomorrow and i'm so stressed",
    "what's a good recipe for lentil soup",
    "i keep thinking about taking all my pills",
    "the meeting got moved to thursday afternoon",
    "i killed it at the gym this morning",
]
COLD_START = """
import time, resource
t0 = time.perf_counter()
from mindrail.risk.engine import RiskEngine
e = RiskEngine.load(threads=2)
e.assess("hello there, how are you doing today?")
t1 = time.perf_counter()
texts = [f"message number {i}: had a long day and i'm pretty tired of everything" for i in range(1000)]
for a in e.iter_assess(texts):
    pass
print(t1 - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def speed(repeats: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    texts = [SHORT[i % len(SHORT)] + ("" if i < len(SHORT) else f" ({i})") for i in range(400)]
    for threads in (1, 2):
        engine = RiskEngine.load(threads=threads)
        for t in texts[:50]:
            engine.assess(t)
        p50s, p99s, rates = [], [], []
        for _ in range(repeats):
            lat = []
            for t in texts:
                t0 = time.perf_counter()
                engine.assess(t)
                lat.append((time.perf_counter() - t0) * 1000)
            p50s.append(float(np.percentile(lat, 50)))
            p99s.append(float(np.percentile(lat, 99)))
            batch = texts * 5
            t0 = time.perf_counter()
            n = sum(1 for _ in engine.iter_assess(batch, batch_size=64))
            rates.append(n / (time.perf_counter() - t0))
        out[f"threads_{threads}"] = {
            "single_p50_ms": statistics.median(p50s),
            "single_p99_ms": statistics.median(p99s),
            "batched_msgs_per_s": statistics.median(rates),
            "runs": repeats,
            "messages_per_run": len(texts),
        }
    colds, rss = [], []
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    for _ in range(repeats):
        res = subprocess.run([sys.executable, "-c", COLD_START], capture_output=True, text=True, env=env, check=True)
        c, r = res.stdout.split()
        colds.append(float(c))
        rss.append(float(r))
    out["cold_start_s"] = statistics.median(colds)
    out["max_rss_mb"] = statistics.median(rss)
    return out


def peer_predictions(texts: list[str]) -> dict[str, list[tuple[float | None, bool | None]]]:
    py = ROOT / ".venv-peers" / "bin" / "python"
    if not py.exists():
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        inp, outp = Path(tmp) / "in.jsonl", Path(tmp) / "out.jsonl"
        with inp.open("w", encoding="utf-8") as fh:
            for i, t in enumerate(texts):
                fh.write(json.dumps({"id": i, "text": t}) + "\n")
        subprocess.run(
            [
                str(py),
                str(ROOT / "benchmarks/peers/run_peers.py"),
                "--in",
                str(inp),
                "--out",
                str(outp),
                "--torch-threads",
                "1",
            ],
            check=True,
        )
        preds: dict[str, list[tuple[float | None, bool | None]]] = {}
        with outp.open(encoding="utf-8") as fh:
            for line in fh:
                r = json.loads(line)
                preds.setdefault(r["peer"], [(None, None)] * len(texts))[int(r["id"])] = (
                    r["score"],
                    r["flag"],
                )
    return preds


def recall_at_fpr(y: np.ndarray, rank: np.ndarray, max_fpr: float) -> float:
    """mindrail's best recall among thresholds of its (level, score) ranking with FPR ≤ max_fpr."""
    neg = max(int((y == 0).sum()), 1)
    pos = max(int(y.sum()), 1)
    best = 0.0
    for t in np.unique(rank):
        pred = rank >= t
        if int((pred & (y == 0)).sum()) / neg <= max_fpr:
            best = max(best, int((pred & (y == 1)).sum()) / pos)
    return best


def peers_table(
    name: str, exs: list[Example], verdicts: dict[str, Any], peers: dict[str, Any], idx: list[int]
) -> dict[str, Any]:
    j = CATEGORIES.index(SSH)
    y = np.array([int((exs[i].label(SSH) or 0) >= Level.LOW) for i in idx])
    rank = verdicts["levels"][idx, j] + verdicts["scores"][idx, j]
    ours_pred = verdicts["levels"][idx, j] >= int(Level.LOW)
    rows = {"mindrail": {**from_confusion(confusion(y, ours_pred))}}
    for peer, preds in peers.items():
        flags = np.array([bool(preds[i][1]) for i in idx])
        m = from_confusion(confusion(y, flags))
        m["mindrail_recall_at_same_fpr"] = recall_at_fpr(y, rank, m["false_positive_rate"])
        rows[peer] = m
    return {"name": name, "n": len(idx), "positives": int(y.sum()), "rows": rows}


ABLATION = {"hybrid": LAYERS, "patterns only": frozenset({"patterns"}), "learned only": frozenset({"learned"})}


def generalisation(everyday_limit: int | None, loso_file: Path | None) -> dict[str, Any]:
    """Figures on data the engine was not tuned on: leave one source out, the frozen challenge set and everyday
    benign text, for the hybrid engine and each layer alone. ``loso_file`` reuses `mindrail eval loso --out`
    when it was run on the same heads and patterns (the folds take most of the time)."""
    base = RiskEngine.load()
    loso = json.loads(loso_file.read_text(encoding="utf-8")) if loso_file and loso_file.exists() else None
    if loso is None or (loso["heads_version"], loso["patterns_version"]) != (
        base.detector.heads.version,
        base.detector.patterns.version,
    ):
        loso = loso_report(cache_dir=ROOT / ".cache/train")
        if loso_file:
            loso_file.parent.mkdir(parents=True, exist_ok=True)
            loso_file.write_text(json.dumps(loso, indent=1) + "\n", encoding="utf-8")
    out: dict[str, Any] = {"loso": loso, "ablation": {}}
    for name, layers in ABLATION.items():
        d = base.detector
        engine = RiskEngine(HybridDetector(d.encoder, d.heads, d.patterns, layers=layers, glossary=d.glossary))
        out["ablation"][name] = {
            "challenge": challenge.evaluate(engine),
            "everyday": benign.evaluate(engine, limit=everyday_limit),
        }
    return out


def quality(peers_on: bool) -> dict[str, Any]:
    engine = RiskEngine.load()
    examples = [ex for ex in load_corpus() if ex.split == "dev"]
    verdicts = score_examples(engine, examples)
    report = full_report(examples, verdicts)
    cf_texts = [
        json.loads(line)["text"]
        for line in (ROOT / "data/authored/counterfactual_expanded.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]

    def score_batch(batch: list[str]) -> list[float]:
        return [a.score(SSH) for a in engine.iter_assess(batch)]

    cf = counterfactual_check(cf_texts, score_batch).to_dict()
    report["counterfactual"] = cf
    if peers_on:
        peers = peer_predictions([ex.text for ex in examples])
        primary = [i for i, ex in enumerate(examples) if ex.source not in PRIMARY_EXCLUDE and ex.label(SSH) is not None]
        report["peers"] = [peers_table("primary dev (authored + public negatives)", examples, verdicts, peers, primary)]
        for src in sorted(PRIMARY_EXCLUDE):
            idx = [i for i, ex in enumerate(examples) if ex.source == src and ex.label(SSH) is not None]
            report["peers"].append(peers_table(f"{src} dev (noisy labels)", examples, verdicts, peers, idx))
    return report


def f3(v: Any) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def pct(r: dict[str, Any]) -> str:
    return "n/a" if not r["n"] else f"{r['rate']:.1%} ({r['k']}/{r['n']})"


def render_generalisation(g: dict[str, Any]) -> list[str]:
    lines = [
        "## Generalisation: data the engine was not trained or tuned on",
        "",
        "### Leave one source out (suicide/self-harm)",
        "",
        "For every public source with suicide positives, the suicide heads are trained on all other sources and "
        "measured on all of this one (`mindrail eval loso`). AUROC and recall at precision 0.9 of the engine's "
        "suicide score, seeded bootstrap 95% intervals; false-positive rate and recall of the engine's level.",
        "",
        "| source | n | positives | AUROC (95% CI) | recall @ P0.9 (95% CI) | FPR ≥ low | FPR ≥ moderate "
        "| FPR ≥ high | recall ≥ low | recall ≥ moderate |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]

    def ci(v: Any) -> str:
        return "" if not v else f" ({v[0]:.3f}–{v[1]:.3f})"

    for src, m in g["loso"]["folds"].items():
        lines.append(
            f"| {src} | {m['n']} | {m['positives']} | {f3(m['auroc'])}{ci(m['auroc_ci95'])} | "
            f"{f3(m['recall_at_precision_0.9'])}{ci(m['recall_at_precision_0.9_ci95'])} | {f3(m['fpr_at_low'])} | "
            f"{f3(m['fpr_at_moderate'])} | {f3(m['fpr_at_high'])} | {f3(m['recall_at_low'])} | "
            f"{f3(m['recall_at_moderate'])} |"
        )
    lines += [
        "",
        "Target: AUROC ≥ 0.95 on every source.",
        "",
        "### The frozen challenge set and everyday text, with each layer alone (ablation)",
        "",
        "The challenge set (`data/challenge/`, frozen before any engine change, sha256 in `SHA256SUMS`) was written "
        "by writers who wrote no training data; everyday sets are GoEmotions dev+test, ESConv seekers (valid+test), "
        "CounselChat questions and AnnoMI client turns of the dev split (`mindrail eval challenge`, "
        "`mindrail eval everyday`).",
        "",
        "| measure | target | " + " | ".join(g["ablation"]) + " |",
        "|---|---|" + "---|" * len(g["ablation"]),
    ]
    rows = [
        ("challenge: crisis items at their level or above", "≥ 97%", lambda a: pct(a["challenge"]["messages"]
                                                                               ["crisis_at_level_or_above"])),
        ("challenge: crisis items at none", "0", lambda a: pct(a["challenge"]["messages"]["crisis_at_none"])),
        ("challenge: benign items at ≥ moderate", "≤ 2%",
         lambda a: pct(a["challenge"]["messages"]["benign_at_moderate_or_above"])),
        ("challenge: evasion variants at the plain text's level", "≥ 95%",
         lambda a: pct(a["challenge"]["messages"]["evasion_at_plain_level"])),
        ("challenge: es/fr/de/pt crisis items at ≥ moderate", "≥ 90%",
         lambda a: pct(a["challenge"]["messages"]["multilingual_crisis_at_moderate"])),
        ("challenge conversations: crisis reached at the last turn", "",
         lambda a: pct(a["challenge"]["conversations"]["crisis_reached_at_last_turn"])),
        ("challenge conversations: non-crisis within limits", "",
         lambda a: pct(a["challenge"]["conversations"]["non_crisis_within_limits"])),
        ("challenge conversations: a third party's risk not read as the person's", "",
         lambda a: pct(a["challenge"]["conversations"]["third_party_not_read_as_own"])),
        ("everyday (pooled): suicide ≥ low", "≤ 1%",
         lambda a: f"{a['everyday']['pooled']['suicide_at_low_or_above']:.2%}"),
        ("everyday (pooled): suicide ≥ moderate", "≤ 0.2%",
         lambda a: f"{a['everyday']['pooled']['suicide_at_moderate_or_above']:.2%}"),
        ("everyday (pooled): any category ≥ moderate", "",
         lambda a: f"{a['everyday']['pooled']['any_category_at_moderate_or_above']:.2%}"),
        ("long everyday conversations: escalations per 1,000 turns", "≤ 1",
         lambda a: f"{a['everyday']['long_conversations']['escalations_per_1000_turns']:.1f}"),
    ]
    for label, target, fn in rows:
        lines.append(f"| {label} | {target} | " + " | ".join(fn(a) for a in g["ablation"].values()) + " |")
    hybrid = g["ablation"].get("hybrid")
    if hybrid:
        lines += ["", "Everyday sets (hybrid):", ""]
        lines += ["| set | n | suicide ≥ low | suicide ≥ moderate | any ≥ moderate |", "|---|---|---|---|---|"]
        for name, v in hybrid["everyday"].items():
            if "n" in v and "suicide_at_low_or_above" in v:
                lines.append(
                    f"| {name} | {v['n']} | {v['suicide_at_low_or_above']:.2%} | "
                    f"{v['suicide_at_moderate_or_above']:.2%} | {v['any_category_at_moderate_or_above']:.2%} |"
                )
        lines += ["", "Challenge crisis items by slice (hybrid; rate at their level or above):", "",
                  "| slice | rate |", "|---|---|"]
        for k, v in hybrid["challenge"]["messages"]["crisis_by_slice"].items():
            if k.startswith(("category:", "form:", "lang:", "cssrs:", "method:", "subject:", "tense:", "author:")):
                lines.append(f"| {k} | {pct(v)} |")
        lines += ["", "Evasion variants by form (hybrid):", "", "| form | at the plain text's level |", "|---|---|"]
        for k, v in hybrid["challenge"]["messages"]["evasion_by_form"].items():
            lines.append(f"| {k} | {pct(v)} |")
        lines += ["", "Challenge conversations by kind (hybrid):", "", "| kind | passed |", "|---|---|"]
        for k, v in hybrid["challenge"]["conversations"]["by_kind"].items():
            lines.append(f"| {k} | {pct(v)} |")
    lines.append("")
    return lines


def render(speed_r: dict[str, Any], q: dict[str, Any], meta: dict[str, Any], g: dict[str, Any] | None = None) -> str:
    s1, s2 = speed_r["threads_1"], speed_r["threads_2"]
    ssh = q["categories"][SSH.value]
    b = q["benign_idiom_set"]
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `make bench` on {meta['date']} ({meta['machine']}); model `{meta['model']}`.",
        "All figures come from one run; speed figures are medians over "
        f"{s2['runs']} repeated runs of {s2['messages_per_run']} short messages.",
        "",
        *(render_generalisation(g) if g else []),
        "## Speed and memory",
        "",
        "| measure | 1 thread | 2 threads | target |",
        "|---|---|---|---|",
        f"| one short message, p50 | {s1['single_p50_ms']:.2f} ms | {s2['single_p50_ms']:.2f} ms "
        "| ≤ 4 ms (2 threads) |",
        f"| one short message, p99 | {s1['single_p99_ms']:.2f} ms | {s2['single_p99_ms']:.2f} ms "
        "| ≤ 10 ms (2 threads) |",
        f"| batched (64 per batch) | {s1['batched_msgs_per_s']:.0f} msg/s | {s2['batched_msgs_per_s']:.0f} msg/s "
        "| ≥ 800 msg/s |",
        "",
        f"Cold start (import, load encoder + heads + patterns, first assessment): **{speed_r['cold_start_s']:.2f} s** "
        "(target ≤ 2 s). "
        f"Peak resident memory after 1,000 assessments: **{speed_r['max_rss_mb']:.0f} MB** (target ≤ 500 MB).",
        "",
        "## In-distribution: quality on the dev split",
        "",
        "**In-distribution.** These figures share authors, templates and phrasing with the training data, so they "
        "do not predict behaviour on new text (the generalisation section above does). "
        "The dev split is 20% of every source, by a seeded hash of the group (user, question, paraphrase family); "
        "nothing in it was used to fit or calibrate. The *primary* figures pool project-authored messages "
        "(message-level labels) and negatives from public sources without suicide content; SDCNL and C-SSRS-500 "
        "are reported on their own because their labels are per subreddit and per user history.",
        "",
        "| category | n | positives | AUROC | precision | recall | FPR | recall at precision ≥ 0.8 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c, m in q["categories"].items():
        if m:
            lines.append(
                f"| {c} | {m['n']} | {m['positives']} | {f3(m['auroc'])} | {f3(m['precision'])} | "
                f"{f3(m['recall'])} | {f3(m['false_positive_rate'])} | {f3(m['recall_at_precision_0.8'])} |"
            )
    lines += [
        "",
        f"Targets: `suicide_self_harm` recall ≥ 0.95 at precision ≥ 0.80 → measured recall {f3(ssh['recall'])} at "
        f"precision {f3(ssh['precision'])} at the shipped operating point; best recall at precision ≥ 0.8 "
        f"{f3(ssh['recall_at_precision_0.8'])}.",
        "",
        f"Benign and idiom set (authored dev messages tagged benign, idiom, negation, psychoeducation, research, "
        f"fiction or quote, no suicide label; n = {b['n']}): suicide false positives {b['suicide_false_positives']} "
        f"= **{b['suicide_fp_rate']:.1%}** (target ≤ 2%); any crisis category (all but distress) "
        f"{b['crisis_any_category_fp_rate']:.1%}. Of the false positives, {b['low_by_rule']} are the level low "
        f"that the spec itself asks for (a bare means-seeking question, or a message with a retraction, "
        f"which lowers but never clears); without them {b['suicide_fp_rate_excluding_rule_lows']:.1%}.",
        "",
        f"Counterfactual identity swaps (all {q['counterfactual']['n_texts']} authored template texts × gender, name, "
        f"race/ethnicity, sexual orientation, age): largest `suicide_self_harm` score change "
        f"**{q['counterfactual']['largest_score_change']:.4f}** (target ≤ 0.02), mean "
        f"{q['counterfactual']['mean_score_change']:.4f}; per dimension "
        + ", ".join(f"{k} {v:.4f}" for k, v in q["counterfactual"]["per_dimension_largest"].items())
        + ".",
        "",
        "Suicide/self-harm by source (dev):",
        "",
        "| source | n | positives | precision | recall | FPR |",
        "|---|---|---|---|---|---|",
    ]
    for src, m in q["suicide_by_source"].items():
        if m:
            lines.append(
                f"| {src} | {m['n']} | {m['positives']} | {f3(m['precision'])} | {f3(m['recall'])} | "
                f"{f3(m['false_positive_rate'])} |"
            )
    if q.get("peers"):
        lines += [
            "",
            "## Peers, side by side",
            "",
            "Same texts, same run. Each peer is judged by its own positive decision; mindrail by level ≥ low. "
            "The last column is mindrail's recall when its (level, score) ranking is held to the peer's "
            "false-positive rate or lower.",
            "",
        ]
        for table in q["peers"]:
            lines += [
                f"### {table['name']} (n = {table['n']}, positives {table['positives']})",
                "",
                "| detector | recall | FPR | precision | mindrail recall at ≤ this FPR |",
                "|---|---|---|---|---|",
            ]
            for peer, m in table["rows"].items():
                extra = f3(m.get("mindrail_recall_at_same_fpr")) if peer != "mindrail" else "-"
                lines.append(
                    f"| {peer} | {f3(m['recall'])} | {f3(m['false_positive_rate'])} | {f3(m['precision'])} | {extra} |"
                )
            lines.append("")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=ROOT / "docs/benchmarks.md")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--no-generalisation", action="store_true")
    ap.add_argument("--everyday-limit", type=int, default=None)
    ap.add_argument("--loso", type=Path, default=None, help="reuse `mindrail eval loso --out FILE`")
    args = ap.parse_args()
    engine = RiskEngine.load()
    meta = {"date": time.strftime("%Y-%m-%d"), "machine": f"{os.cpu_count()} cores", "model": engine.version}
    del engine
    sp = speed(args.repeats)
    q = quality(not args.no_peers)
    g = None if args.no_generalisation else generalisation(args.everyday_limit, args.loso)
    (ROOT / "var/bench").mkdir(parents=True, exist_ok=True)
    (ROOT / "var/bench/results.json").write_text(
        json.dumps({"meta": meta, "speed": sp, "quality": q, "generalisation": g}, indent=1, default=str) + "\n",
        encoding="utf-8",
    )
    args.out.write_text(render(sp, q, meta, g), encoding="utf-8")
    print(args.out.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
