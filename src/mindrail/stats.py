"""Agreement statistics shared by the offline evaluations (care readers, the practice coder, training): small,
dependency-free, so a runtime package's evaluation never imports ``training``."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt


def icc_a1(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """ICC(A,1): two-way, absolute agreement, single measures (McGraw and Wong 1996), of two raters."""
    x = np.stack([np.asarray(a, dtype=float), np.asarray(b, dtype=float)], axis=1)
    n, k = x.shape
    grand = x.mean()
    msr = k * ((x.mean(axis=1) - grand) ** 2).sum() / (n - 1)
    msc = n * ((x.mean(axis=0) - grand) ** 2).sum() / (k - 1)
    sse = ((x - x.mean(axis=1, keepdims=True) - x.mean(axis=0, keepdims=True) + grand) ** 2).sum()
    mse = sse / ((n - 1) * (k - 1))
    denom = msr + (k - 1) * mse + k * (msc - mse) / n
    return float((msr - mse) / denom) if denom else math.nan


def macro_f1(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> tuple[float, dict[str, float]]:
    """Mean of the per-label F1 (0 for a label never predicted correctly), and each label's F1."""
    per: dict[str, float] = {}
    for lab in labels:
        tp = sum(g == lab and p == lab for g, p in zip(gold, pred, strict=True))
        fp = sum(g != lab and p == lab for g, p in zip(gold, pred, strict=True))
        fn = sum(g == lab and p != lab for g, p in zip(gold, pred, strict=True))
        per[lab] = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return sum(per.values()) / len(per), per
