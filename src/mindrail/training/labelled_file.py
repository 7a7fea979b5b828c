"""``mindrail eval detector``: measure the detector on any labelled CSV/JSONL file.

Reports AUROC, precision, recall, F1, balanced accuracy, recall at precision 0.8/0.9, the confusion matrix,
single-message latency p50/p99, and a counterfactual identity-swap check.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mindrail.risk.engine import RiskEngine
from mindrail.risk.io import InputError, SkipCounter, iter_table
from mindrail.risk.types import Category, Level
from mindrail.training.counterfactual import counterfactual_check
from mindrail.training.metrics import binary_metrics


@dataclass(frozen=True)
class EvalConfig:
    data: Path
    text_col: str
    label_col: str
    positive: str
    category: Category = Category.SUICIDE_SELF_HARM
    min_level: Level = Level.LOW
    latency_samples: int = 300
    counterfactual_samples: int = 200
    skip_bad: bool = False
    limit: int | None = None


def _load(cfg: EvalConfig) -> tuple[list[str], list[int], SkipCounter]:
    counter = SkipCounter()
    texts: list[str] = []
    labels: list[int] = []
    for rec in iter_table(cfg.data, skip_bad=cfg.skip_bad, counter=counter):
        try:
            if cfg.text_col not in rec.value:
                raise InputError(str(cfg.data), rec.line, f"missing text column {cfg.text_col!r}")
            if cfg.label_col not in rec.value:
                raise InputError(str(cfg.data), rec.line, f"missing label column {cfg.label_col!r}")
        except InputError:
            if not cfg.skip_bad:
                raise
            counter.skipped += 1
            continue
        texts.append(str(rec.value[cfg.text_col] or ""))
        labels.append(1 if str(rec.value[cfg.label_col]).strip() == cfg.positive else 0)
        if cfg.limit and len(texts) >= cfg.limit:
            break
    return texts, labels, counter


def evaluate(engine: RiskEngine, cfg: EvalConfig, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    texts, labels, counter = _load(cfg)
    if not texts:
        raise InputError(str(cfg.data), 0, "no rows to evaluate")
    scores: list[float] = []
    preds: list[bool] = []
    for i, a in enumerate(engine.iter_assess(texts)):
        scores.append(a.score(cfg.category))
        preds.append(a.level(cfg.category) >= cfg.min_level)
        if progress and (i + 1) % 64 == 0:
            progress(i + 1, len(texts))
    y = np.asarray(labels)
    s = np.asarray(scores)
    metrics = binary_metrics(y, s, threshold=0.5, pred=np.asarray(preds))

    lat = []
    for t in texts[: cfg.latency_samples]:
        t0 = time.perf_counter()
        engine.assess(t)
        lat.append((time.perf_counter() - t0) * 1000)
    latency = {
        "n": len(lat),
        "p50_ms": float(np.percentile(lat, 50)),
        "p99_ms": float(np.percentile(lat, 99)),
    }

    def score_batch(batch: list[str]) -> list[float]:
        return [a.score(cfg.category) for a in engine.iter_assess(batch)]

    cf = counterfactual_check(texts[: cfg.counterfactual_samples], score_batch)
    return {
        "data": str(cfg.data),
        "category": cfg.category.value,
        "decision": f"level >= {cfg.min_level.label}",
        "model_version": engine.version,
        "rows": {"used": len(texts), "skipped": counter.skipped},
        "metrics": metrics,
        "latency": latency,
        "counterfactual": cf.to_dict(),
    }


def markdown_summary(report: dict[str, Any]) -> str:
    m = report["metrics"]
    c = m["confusion"]
    cf = report["counterfactual"]
    lat = report["latency"]

    def f(v: Any) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    lines = [
        f"# Detector evaluation: `{report['data']}`",
        "",
        f"Category `{report['category']}`, positive when {report['decision']}. Model `{report['model_version']}`.",
        f"Rows used {report['rows']['used']}, skipped {report['rows']['skipped']}; positives {m['positives']}.",
        "",
        "| metric | value |",
        "|---|---|",
        f"| AUROC | {f(m['auroc'])} |",
        f"| precision | {f(m['precision'])} |",
        f"| recall | {f(m['recall'])} |",
        f"| F1 | {f(m['f1'])} |",
        f"| balanced accuracy | {f(m['balanced_accuracy'])} |",
        f"| recall at precision ≥ 0.8 | {f(m['recall_at_precision_0.8'])} |",
        f"| recall at precision ≥ 0.9 | {f(m['recall_at_precision_0.9'])} |",
        f"| latency p50 / p99 (ms, one message) | {lat['p50_ms']:.2f} / {lat['p99_ms']:.2f} |",
        f"| counterfactual largest score change | {cf['largest_score_change']:.4f} |",
        "",
        "Confusion matrix:",
        "",
        "| | predicted positive | predicted negative |",
        "|---|---|---|",
        f"| actual positive | {c['tp']} | {c['fn']} |",
        f"| actual negative | {c['fp']} | {c['tn']} |",
        "",
        "Counterfactual largest change per dimension: "
        + ", ".join(f"{k} {v:.4f}" for k, v in cf["per_dimension_largest"].items()),
        "",
    ]
    return "\n".join(lines)


def write_report(report: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    j = out_dir / "eval.json"
    md = out_dir / "eval.md"
    j.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    md.write_text(markdown_summary(report), encoding="utf-8")
    return j, md
