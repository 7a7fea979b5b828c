"""Binary classification metrics in numpy (no scikit-learn at runtime): the figures `mindrail eval` and
`make bench` report."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt


def auroc(y: npt.NDArray[np.int_], score: npt.NDArray[np.float64]) -> float | None:
    """Rank-based AUROC (Mann-Whitney U), ties counted as half."""
    y = np.asarray(y)
    pos, neg = int(y.sum()), int(len(y) - y.sum())
    if pos == 0 or neg == 0:
        return None
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score), dtype=np.float64)
    s = np.asarray(score)[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return float((ranks[y == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


def recall_at_precision(y: npt.NDArray[np.int_], score: npt.NDArray[np.float64], min_precision: float) -> float:
    """Best recall over all thresholds whose precision is at least ``min_precision`` (O(n log n))."""
    y = np.asarray(y).astype(int)
    pos = int(y.sum())
    if pos == 0:
        return 0.0
    order = np.argsort(-np.asarray(score, dtype=np.float64), kind="mergesort")
    s, ys = np.asarray(score)[order], y[order]
    tp, fp = np.cumsum(ys), np.cumsum(1 - ys)
    last = np.r_[s[1:] != s[:-1], True]  # evaluate only at the end of a run of tied scores
    precision = tp[last] / (tp[last] + fp[last])
    ok = precision >= min_precision
    return float(tp[last][ok].max() / pos) if ok.any() else 0.0


def confusion(y: npt.NDArray[np.int_], pred: npt.NDArray[np.bool_]) -> dict[str, int]:
    y = np.asarray(y).astype(bool)
    return {
        "tp": int((pred & y).sum()),
        "fp": int((pred & ~y).sum()),
        "tn": int((~pred & ~y).sum()),
        "fn": int((~pred & y).sum()),
    }


def from_confusion(c: dict[str, int]) -> dict[str, float]:
    tp, fp, tn, fn = c["tp"], c["fp"], c["tn"], c["fn"]
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    specificity = tn / (tn + fp) if tn + fp else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "balanced_accuracy": (recall + specificity) / 2,
        "false_positive_rate": fp / (fp + tn) if fp + tn else 0.0,
    }


def binary_metrics(
    y: npt.NDArray[np.int_],
    score: npt.NDArray[np.float64],
    threshold: float,
    pred: npt.NDArray[np.bool_] | None = None,
) -> dict[str, Any]:
    """Threshold metrics use ``pred`` when given (e.g. the full detector's level decision), else score ≥ t."""
    y = np.asarray(y).astype(int)
    score = np.asarray(score, dtype=np.float64)
    pred = score >= threshold if pred is None else np.asarray(pred, dtype=bool)
    c = confusion(y, pred)
    out: dict[str, Any] = {"n": len(y), "positives": int(y.sum()), "auroc": auroc(y, score)}
    out.update(from_confusion(c))
    out["recall_at_precision_0.8"] = recall_at_precision(y, score, 0.8)
    out["recall_at_precision_0.9"] = recall_at_precision(y, score, 0.9)
    out["confusion"] = c
    return out


def bootstrap_ci(
    y: npt.NDArray[np.int_],
    score: npt.NDArray[np.float64],
    metric: Any,
    *,
    rounds: int = 200,
    seed: int = 13,
) -> tuple[float, float] | None:
    """A percentile 95% interval of ``metric(y, score)`` over seeded resamples (None when undefined)."""
    rng = np.random.default_rng(seed)
    y, score = np.asarray(y), np.asarray(score)
    vals = []
    for _ in range(rounds):
        idx = rng.integers(0, len(y), len(y))
        v = metric(y[idx], score[idx])
        if v is not None:
            vals.append(v)
    if not vals:
        return None
    lo, hi = np.percentile(vals, [2.5, 97.5])
    return float(lo), float(hi)
