"""Train the practice simulator's learned behaviour heads (``practice/artifacts/behaviour_heads.json``): one
logistic head per safety behaviour and misstep, on the MI encoder's sentence vector and TF-IDF word uni- and
bigrams. At run time a behaviour is read when its patterns match OR its head is confident (``THRESHOLD``): the
patterns alone found 65% of the behaviours of a writer they were not written from (test2, pe-e), because people
ask about method or minimise in more ways than a word list holds.

* **Data:** the coded trainee-turn files whose writers' figures have been measured (dev pe-d, test pe-c, test2
  pe-e), and the reply banks' lines as positives of the act they were written for (pr-b). Never
  ``trainee_turns.test3.jsonl``.
* **Chosen by leave-one-writer-out** over the three files (train on two writers and the banks, read the third;
  ``--lowo`` reproduces it). Sentence vector + TF-IDF at threshold 0.7, OR the patterns, on pe-e's file (the one
  writer the patterns were not written from): precision 0.93, recall 0.81, against 0.96 and 0.65 for the patterns
  alone and 0.95 and 0.75 for the heads alone (heads for asking about method, intent or plan and for means
  safety count only where suicide is in the conversation and the words refer to it). Adding the risk engine's
  encoder's vector gained about 0.03 recall on that fold in an experiment, for a second model to load; not taken.

Usage: ``python -m mindrail.training.behaviours [--out FILE]`` (seconds; after ``mi_coder heads``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mindrail.datafiles import read_jsonl
from mindrail.practice.behaviours import BEHAVIOURS, BehaviourReader, word_features
from mindrail.practice.coder import SkillCoder, artifacts_dir
from mindrail.practice.evaluation import TraineeTurn, default_eval_dir
from mindrail.practice.replies import good_replies, poor_replies

TRAIN_FILES = ("trainee_turns.dev.jsonl", "trainee_turns.test.jsonl", "trainee_turns.test2.jsonl")
THRESHOLD = 0.7
C = 4.0
MIN_DF = 2
SEED = 13


Row = tuple[str, set[str], str | None, str, str]
"""(text, behaviours, the act a bank line is a positive of, writer, what the person had just said)."""


def _rows(folder: Path) -> list[Row]:
    """Every training line: the coded files first, then the banks' lines of behaviours (positives only)."""
    rows: list[Row] = []
    for name in TRAIN_FILES:
        rows += [
            (x.text, {b.value for b in x.behaviours}, None, x.writer, x.context)
            for x in read_jsonl(folder / name, TraineeTurn)
        ]
    behaviours = {b.value for b in BEHAVIOURS}
    bank: list[tuple[str, str, str]] = [(r.text, r.act.value, r.context) for r in good_replies()]
    bank += [(r.text, r.act.value, "") for r in poor_replies()]
    for text, act, context in bank:
        if act in behaviours:
            rows.append((text.replace("{crisis_line}", "the crisis line"), {act}, act, "pr-b", context))
    return rows


def vocabulary(texts: Sequence[str], min_df: int = MIN_DF) -> tuple[list[str], list[float]]:
    """Terms seen in at least ``min_df`` texts, and their smoothed idf (as scikit-learn's TfidfVectorizer)."""
    df: Counter[str] = Counter()
    for t in texts:
        df.update(set(word_features(t)))
    terms = sorted(k for k, v in df.items() if v >= min_df)
    n = len(texts)
    return terms, [math.log((1 + n) / (1 + df[k])) + 1.0 for k in terms]


def train(coder: SkillCoder, rows: Sequence[Row]) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression

    texts = [r[0] for r in rows]
    terms, idf = vocabulary(texts)
    reader = BehaviourReader.load()
    reader.set_heads({"terms": terms, "idf": idf, "heads": {}, "threshold": THRESHOLD})
    x = np.hstack([coder.embed(texts), reader.word_matrix(texts)])
    heads: dict[str, Any] = {}
    for b in BEHAVIOURS:
        keep = [i for i, r in enumerate(rows) if r[2] is None or r[2] == b.value]
        y = np.asarray([int(b.value in rows[i][1]) for i in keep])
        m = LogisticRegression(C=C, max_iter=5000, class_weight="balanced", random_state=SEED).fit(x[keep], y)
        heads[b.value] = {
            "coef": np.round(m.coef_[0], 6).tolist(),
            "intercept": round(float(m.intercept_[0]), 6),
            "positives": int(y.sum()),
            "examples": len(y),
        }
    return {
        "version": f"behaviour-heads-{coder.version}",
        "encoder": coder.encoder.version,
        "threshold": THRESHOLD,
        "terms": terms,
        "idf": [round(v, 6) for v in idf],
        "heads": heads,
        "trained_on": {
            "files": list(TRAIN_FILES),
            "writers": ["pe-d", "pe-c", "pe-e"],
            "banks": "pr-b (positives)",
            "lines": len(rows),
            "held_out": "trainee_turns.test3.jsonl (pe-f)",
        },
    }


def leave_one_writer_out(coder: SkillCoder, rows: Sequence[Row]) -> dict[str, Any]:
    """For each writer of a coded file: heads trained on the other writers and the banks, read on this one.
    Pooled precision and recall over all behaviours of heads alone, patterns alone and either (the patterns were
    written from pe-d's and pe-c's files, so only pe-e's pattern figures are out of sample)."""
    out: dict[str, Any] = {}
    for writer in ("pe-d", "pe-c", "pe-e"):
        held = [r for r in rows if r[3] == writer]
        reader = BehaviourReader.load()
        reader.set_heads(train(coder, [r for r in rows if r[3] != writer]))
        texts = [r[0] for r in held]
        counts = {k: [0, 0, 0] for k in ("heads", "patterns", "either")}
        vectors = coder.embed(texts)
        for i, (text, gold, _, _, context) in enumerate(held):
            pat = {a.value for a in reader.patterns(text)}
            heads = {a.value for a in reader.learned_acts(text, vectors[i], context=context)}
            for name, got in (("heads", heads), ("patterns", pat), ("either", heads | pat)):
                counts[name][0] += len(got & gold)
                counts[name][1] += len(got - gold)
                counts[name][2] += len(gold - got)
        out[writer] = {
            k: {"precision": round(tp / max(tp + fp, 1), 4), "recall": round(tp / max(tp + fn, 1), 4)}
            for k, (tp, fp, fn) in counts.items()
        }
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mindrail.training.behaviours")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--lowo", action="store_true", help="print the leave-one-writer-out figures too")
    args = ap.parse_args(argv)
    out = args.out or artifacts_dir() / "behaviour_heads.json"
    coder = SkillCoder.load()
    rows = _rows(default_eval_dir())
    heads = train(coder, rows)
    if args.lowo:
        heads["leave_one_writer_out"] = leave_one_writer_out(coder, rows)
        print(json.dumps(heads["leave_one_writer_out"], indent=2))
    out.write_text(json.dumps(heads, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {out} ({len(heads['terms'])} terms, {heads['trained_on']['lines']} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
