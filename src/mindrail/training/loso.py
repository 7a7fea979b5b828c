"""Leave one source out: for every public source with suicide/self-harm positives, train the suicide heads on
every other source and measure the engine on the one left out.

The dev split shares authors, templates and phrasing with the training data, so it cannot say whether the
judgement generalises; a source the heads never saw can. Per fold this reports the suicide score's AUROC and
recall at precision 0.9 (with seeded bootstrap 95% intervals), and the false-positive rate of the engine's
level at low, moderate and high. A fold refits the suicide >= low head without the source and switches the
suicide severity heads off; the other categories' heads are the shipped ones (they never set a suicide level),
and the pattern layer is the shipped one.
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
from mindrail.training.dataset import LOSO_SOURCES, Example, eval_ssh_label
from mindrail.training.metrics import auroc, bootstrap_ci, recall_at_precision
from mindrail.training.train import DISABLED, Embedded, Progress, build_bank, train_heads

SSH = Category.SUICIDE_SELF_HARM
# The folds refit the suicide >= low head only (the slow part of a fold is the fit); the suicide severity heads
# are off in the fold's engine, so its levels come from the patterns, the rules and the fold's own head.
SSH_SPECS = ((SSH, Level.LOW),)
MAX_TEST = 3000


def _fold_heads(full: HeadSet, fold: HeadSet) -> HeadSet:
    """The full heads with the suicide heads replaced by the fold's; a suicide head the fold did not train is
    switched off, so nothing measured on the held-out source was fitted on it."""
    by_spec = {(h.category, h.min_level): h for h in fold.heads}
    heads = tuple(
        by_spec.get((h.category, h.min_level))
        or (replace(h, threshold=DISABLED, strict_threshold=DISABLED) if h.category == SSH else h)
        for h in full.heads
    )
    return replace(full, heads=heads, version=f"{full.version}-loso")


def evaluate_fold(engine: RiskEngine, test: Sequence[Example]) -> dict[str, Any]:
    y = np.array([int((eval_ssh_label(ex) or Level.NONE) >= Level.LOW) for ex in test])
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
    max_test: int = MAX_TEST,
) -> dict[str, Any]:
    """One fold per source in ``sources``: suicide heads trained without it, measured on it (a seeded sample of
    ``max_test`` examples where the source is larger: screening is the slow part, and the intervals say how
    much the sample costs)."""
    rng = np.random.default_rng(seed)
    bank, bank_features = build_bank(examples, emb)
    out: dict[str, Any] = {}
    for k, source in enumerate(sources):
        keep = np.array([i for i, ex in enumerate(examples) if ex.source != source], dtype=np.intp)
        test = [ex for ex in examples if ex.source == source and eval_ssh_label(ex) is not None and "~cf" not in ex.id]
        if not test:
            continue
        if len(test) > max_test:
            test = [test[int(i)] for i in sorted(rng.choice(len(test), max_test, replace=False))]
        train_ex = [examples[int(i)] for i in keep]
        sub, windows = emb.subset(keep)
        fold_bank = (bank, {c: f[windows] for c, f in bank_features.items()})
        fold, _ = train_heads(train_ex, sub, full.encoder_version, seed=seed, specs=SSH_SPECS, bank=fold_bank)
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
    folds = run_loso(examples, emb, full, encoder, patterns, seed=seed, sources=sources, progress=progress)
    return {"heads_version": full.version, "patterns_version": patterns.version, "folds": folds}
