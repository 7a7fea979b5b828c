"""Quality of the whole engine (patterns + heads + rules) on the held-out dev split, per source.

The primary figures pool the sources whose labels describe the message itself: the project-authored set and
negatives from public sources without suicide content. Two public sets are reported on their own, because
their labels are not message-level annotations: SDCNL (subreddit membership, r/SuicideWatch vs r/depression)
and C-SSRS-500 (one C-SSRS-based label for a user's whole posting history).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mindrail.risk.engine import RiskEngine
from mindrail.risk.types import CATEGORIES, Category, Level
from mindrail.training.dataset import Example
from mindrail.training.metrics import binary_metrics

PRIMARY_EXCLUDE = frozenset({"sdcnl", "cssrs500"})
BENIGN_TAGS = frozenset({"benign", "idiom", "negation", "psychoeducation", "research", "fiction", "quote"})


def dev_examples(examples: Sequence[Example], split: str = "dev") -> list[Example]:
    return [ex for ex in examples if ex.split == split]


def score_examples(
    engine: RiskEngine, examples: Sequence[Example], progress: Callable[[int, int], None] | None = None
) -> dict[str, Any]:
    """Engine verdicts for each example: scores and levels per category."""
    scores = np.zeros((len(examples), len(CATEGORIES)))
    levels = np.zeros((len(examples), len(CATEGORIES)), dtype=int)
    ssh_reasons: list[tuple[str, ...]] = []
    for i, a in enumerate(engine.iter_assess([ex.text for ex in examples], batch_size=32)):
        ssh_reasons.append(a.categories[Category.SUICIDE_SELF_HARM].reasons)
        for j, c in enumerate(CATEGORIES):
            scores[i, j] = a.score(c)
            levels[i, j] = int(a.level(c))
        if progress and (i + 1) % 128 == 0:
            progress(i + 1, len(examples))
    return {"scores": scores, "levels": levels, "ssh_reasons": ssh_reasons}


def category_report(
    examples: Sequence[Example],
    verdicts: dict[str, Any],
    category: Category,
    min_level: Level = Level.LOW,
    include: Callable[[Example], bool] = lambda ex: True,
) -> dict[str, Any] | None:
    j = CATEGORIES.index(category)
    idx = [i for i, ex in enumerate(examples) if ex.label(category) is not None and include(ex)]
    if not idx:
        return None
    y = np.array([int(examples[i].label(category) >= min_level) for i in idx])  # type: ignore[operator]
    s = verdicts["scores"][idx, j]
    pred = verdicts["levels"][idx, j] >= int(min_level)
    return binary_metrics(y, s, 0.5, pred=pred)


def full_report(examples: Sequence[Example], verdicts: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"categories": {}, "suicide_by_source": {}}
    for c in CATEGORIES:
        out["categories"][c.value] = category_report(
            examples, verdicts, c, include=lambda ex: ex.source not in PRIMARY_EXCLUDE
        )
    ssh = Category.SUICIDE_SELF_HARM
    for src in sorted({ex.source for ex in examples}):

        def from_source(ex: Example, s: str = src) -> bool:
            return ex.source == s

        out["suicide_by_source"][src] = category_report(examples, verdicts, ssh, include=from_source)
    j = CATEGORIES.index(ssh)
    benign = [
        i
        for i, ex in enumerate(examples)
        if ex.source == "authored" and not ex.labels.get(ssh) and BENIGN_TAGS & set(ex.tags)
    ]
    fp_rows = [i for i in benign if verdicts["levels"][i, j] >= int(Level.LOW)]
    fp = len(fp_rows)
    # Low is the specified verdict for a bare means-seeking question and after a retraction ("never resets to
    # zero"); counted apart so the rest is what the detector gets wrong.
    by_rule = [
        i
        for i in fp_rows
        if verdicts["levels"][i, j] == int(Level.LOW)
        and any(r.startswith(("means_seeking:", "retraction")) for r in verdicts.get("ssh_reasons", [()] * (i + 1))[i])
    ]
    crisis_cols = [k for k, c in enumerate(CATEGORIES) if c != Category.DISTRESS]
    any_fp = int((verdicts["levels"][benign][:, crisis_cols].max(axis=1) >= int(Level.LOW)).sum()) if benign else 0
    out["benign_idiom_set"] = {
        "n": len(benign),
        "suicide_false_positives": fp,
        "suicide_fp_rate": fp / len(benign) if benign else 0.0,
        "low_by_rule": len(by_rule),
        "suicide_fp_rate_excluding_rule_lows": (fp - len(by_rule)) / len(benign) if benign else 0.0,
        "crisis_any_category_fp_rate": any_fp / len(benign) if benign else 0.0,
    }
    return out
