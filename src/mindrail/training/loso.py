"""Leave one source out: for every public source with suicide/self-harm positives, train the suicide heads on
every other source and measure the engine on the one left out.

The dev split shares authors, templates and phrasing with the training data, so it cannot say whether the
judgement generalises; a source the heads never saw can. Per fold this reports the suicide score's AUROC and
recall at precision 0.9 (with seeded bootstrap 95% intervals), and the false-positive rate of the engine's
level at low, moderate and high. The other categories' heads are the full-corpus heads of the same run (the
folds only replace the suicide heads), and the pattern layer is the shipped one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from mindrail.risk.detector import HybridDetector
from mindrail.risk.encoder import Encoder
from mindrail.risk.engine import RiskEngine
from mindrail.risk.heads import HeadSet
from mindrail.risk.patterns import PatternDetector
from mindrail.risk.types import Category, Level
from mindrail.training.dataset import LOSO_SOURCES, Example
from mindrail.training.metrics import auroc, bootstrap_ci, recall_at_precision
from mindrail.training.train import HEAD_SPECS, Embedded, Progress, train_heads

SSH = Category.SUICIDE_SELF_HARM
SSH_SPECS = tuple(s for s in HEAD_SPECS if s[0] == SSH)


def _fold_heads(full: HeadSet, fold: HeadSet) -> HeadSet:
    """The full heads with the suicide heads replaced by the fold's."""
    by_spec = {(h.category, h.min_level): h for h in fold.heads}
    heads = tuple(by_spec.get((h.category, h.min_level), h) for h in full.heads)
    return replace(full, heads=heads, version=f"{full.version}-loso")


def evaluate_fold(engine: RiskEngine, test: Sequence[Example]) -> dict[str, Any]:
    y = np.array([int((ex.label(SSH) or Level.NONE) >= Level.LOW) for ex in test])
    score = np.zeros(len(test))
    level = np.zeros(len(test), dtype=int)
    for i, a in enumerate(engine.iter_assess([ex.text for ex in test])):
        score[i] = a.score(SSH)
        level[i] = int(a.level(SSH))
    neg = y == 0
    out: dict[str, Any] = {
        "n": len(test),
        "positives": int(y.sum()),
        "auroc": auroc(y, score),
        "auroc_ci95": bootstrap_ci(y, score, auroc),
        "recall_at_precision_0.9": recall_at_precision(y, score, 0.9),
        "recall_at_precision_0.9_ci95": bootstrap_ci(y, score, lambda a, b: recall_at_precision(a, b, 0.9)),
    }
    for lv in (Level.LOW, Level.MODERATE, Level.HIGH):
        out[f"fpr_at_{lv.label}"] = float((level[neg] >= lv).mean()) if neg.any() else None
        out[f"recall_at_{lv.label}"] = float((level[~neg] >= lv).mean()) if (~neg).any() else None
    return out


def run_loso(
    examples: Sequence[Example],
    emb: Embedded,
    full: HeadSet,
    encoder: Encoder,
    patterns: PatternDetector,
    *,
    seed: int = 13,
    sources: Sequence[str] = LOSO_SOURCES,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """One fold per source in ``sources``: suicide heads trained without it, measured on all of it."""
    out: dict[str, Any] = {}
    for k, source in enumerate(sources):
        keep = np.array([i for i, ex in enumerate(examples) if ex.source != source], dtype=np.intp)
        test = [ex for ex in examples if ex.source == source and ex.label(SSH) is not None and "~cf" not in ex.id]
        if not test:
            continue
        train_ex = [examples[int(i)] for i in keep]
        fold, _ = train_heads(train_ex, emb.subset(keep), full.encoder_version, seed=seed, specs=SSH_SPECS)
        engine = RiskEngine(HybridDetector(encoder, _fold_heads(full, fold), patterns))
        out[source] = evaluate_fold(engine, test)
        if progress:
            progress("loso", k + 1, len(sources))
    return out


def loso_report(
    *,
    seed: int = 13,
    heads: HeadSet | None = None,
    cache_dir: Any = None,
    sources: Sequence[str] = LOSO_SOURCES,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The whole leave-one-source-out evaluation against the shipped heads (``mindrail train`` builds them from
    the same corpus, so only the suicide heads differ per fold)."""
    from mindrail.training.dataset import identity_augmented, load_corpus
    from mindrail.training.train import embed_corpus

    encoder = Encoder(threads=2)
    patterns = PatternDetector()
    full = heads or HeadSet.load()
    examples = load_corpus(seed=seed)
    examples += identity_augmented(examples, seed=seed)
    emb = embed_corpus(examples, encoder, patterns, cache_dir, progress)
    return run_loso(examples, emb, full, encoder, patterns, seed=seed, sources=sources, progress=progress)
