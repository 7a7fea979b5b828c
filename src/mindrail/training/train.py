"""``mindrail train``: reproduce the shipped heads (``artifacts/heads.json``) from source data, seeded.

Steps: load the corpus (dataset.py) → normalise and run the pattern layer → embed every window with the
int8 encoder → per head, fit a logistic model on the train split (multiple-instance for long texts: a
positive long post contributes its most suspicious window, found by a first pass on short texts) →
Platt calibration and an operating threshold on the calib split → metrics on the dev split.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mindrail.risk.encoder import Encoder
from mindrail.risk.exemplars import N_FEATURES as N_EXEMPLAR_FEATURES
from mindrail.risk.exemplars import ExemplarBank
from mindrail.risk.features import FEATURE_NAMES, pattern_features
from mindrail.risk.heads import Head, HeadSet
from mindrail.risk.identity import mask_identity
from mindrail.risk.normalise import normalise
from mindrail.risk.patterns import PatternDetector
from mindrail.risk.types import CATEGORIES, Category, Level
from mindrail.training.dataset import Example, identity_augmented, load_corpus
from mindrail.training.metrics import binary_metrics

HEAD_SPECS: tuple[tuple[Category, Level], ...] = (
    *((c, Level.LOW) for c in CATEGORIES),
    (Category.SUICIDE_SELF_HARM, Level.MODERATE),
    (Category.SUICIDE_SELF_HARM, Level.HIGH),
    (Category.SUICIDE_SELF_HARM, Level.IMMINENT),
    (Category.HARM_TO_OTHERS, Level.HIGH),
    (Category.PSYCHOSIS, Level.HIGH),
    (Category.MANIA, Level.HIGH),
    (Category.ABUSE, Level.HIGH),
    (Category.EATING_DISORDER, Level.HIGH),
    # Imminent: an attack, a command hallucination being obeyed, violence under way. Measured with patterns v9:
    # challenge crisis items at their level 48.1% -> 49.5%, everyday and benign rates unchanged. Eating
    # disorders have one imminent authored dev message, too few to calibrate a head.
    (Category.HARM_TO_OTHERS, Level.IMMINENT),
    (Category.PSYCHOSIS, Level.IMMINENT),
    (Category.ABUSE, Level.IMMINENT),
    (Category.DISTRESS, Level.MODERATE),
)
# Everyday text (comments, help-seekers' turns, counselling clients): the suicide head's threshold keeps its
# false-positive rate here at or below EVERYDAY_FPR, whatever recall-first would choose.
EVERYDAY = frozenset({"goemotions", "esconv", "annomi"})
EVERYDAY_FPR = 0.005
# A severity head raises a level to moderate or above, which escalates to a clinician; on everyday text that
# must be rare (issue 10: <= 0.2% of everyday messages at >= moderate, <= 1 escalation per 1,000 turns). Its
# threshold is at least the score this share of everyday calib messages reach. Compared on the frozen challenge
# set and everyday text (docs/risk-model.md, "Severity heads"): 0.001 / 0.003 / none gave challenge crisis
# items at their level 46.1% / 47.9% / 50.5% and everyday suicide >= moderate 0.29% / 0.36% / 0.69%.
EVERYDAY_SEVERE_FPR = 0.003
# Severity heads are conditional: they answer "given this category, is it at this level?", trained and
# calibrated on the messages of the category whose level a writer gave message by message (LEVELLED_SOURCES),
# with everyday messages as extra negatives. Rule 5 (risk/rules.py) reads them only once the category has a
# level, which is the population they were calibrated on. A head fires once its level is more likely than not.
# Trained unconditionally (every message, public posts whose severity nobody labelled counted as "not high"),
# the calibrated probability of "high" for a message that is high stayed near the base rate: median 0.04 on the
# in-distribution dev split, and its crisis items reached their level 41% of the time; conditional, 44%
# (frozen challenge set 43.9% -> 48.0%).
LEVELLED_SOURCES = frozenset({"authored"})
# Distress is not a crisis category: its ≥ moderate head stays unconditional (every message with a distress
# label), held to 0.1% of everyday calib text. Made conditional too, everyday text at distress ≥ moderate rose
# 0.59% -> 0.83% for 0.4 points more of the challenge set's crisis items at their level.
DISTRESS_EVERYDAY_FPR = 0.001
SEVERE_PROBABILITY = 0.5
# Recall-first for suicide and self-harm: the threshold keeps this recall on the calib split.
SSH_TARGET_RECALL = 0.96
# Thresholds are chosen on calib examples whose labels describe the message itself; SDCNL (subreddit labels)
# and C-SSRS-500 (one label for a user's whole posting history) still train and calibrate the heads.
THRESHOLD_EXCLUDE = frozenset({"sdcnl", "cssrs500"})
MAX_FPR = 0.05
STRICT_FPR = 0.02
DISABLED = 1.01  # a threshold no calibrated score reaches
MAX_NEG_WINDOWS = 6

Progress = Callable[[str, int, int], None]


@dataclass
class Embedded:
    vectors: npt.NDArray[np.float32]
    owner: npt.NDArray[np.intp]
    features: npt.NDArray[np.float32]  # per example

    def subset(self, idx: npt.NDArray[np.intp]) -> tuple[Embedded, npt.NDArray[np.bool_]]:
        """The windows and features of examples ``idx``, renumbered 0..len(idx)-1 in that order, and which of
        this set's windows they are."""
        new = np.full(len(self.features), -1, dtype=np.intp)
        new[idx] = np.arange(len(idx))
        keep = new[self.owner] >= 0
        return Embedded(self.vectors[keep], new[self.owner[keep]], self.features[idx]), keep


def default_artifact_path() -> Path:
    return Path(__file__).resolve().parent.parent / "risk" / "artifacts" / "heads.json"


def embed_corpus(
    examples: Sequence[Example],
    encoder: Encoder,
    patterns: PatternDetector,
    cache_dir: Path | None,
    progress: Progress | None = None,
) -> Embedded:
    """Every window of every example, embedded as the detector would (normalised, identity-masked).

    The cache is content-addressed per source (``embedded-<source>.npz``: the windows of each text under the
    sha256 of encoder version + what the encoder reads), so a change to the data or to normalisation re-embeds
    only the texts it changed."""
    norms = [normalise(ex.text).text for ex in examples]
    feats = np.stack([pattern_features(patterns.detect(t)) for t in norms])
    norms = [mask_identity(t).text for t in norms]  # what the encoder reads, as in detector.py
    by_source: dict[str, list[int]] = {}
    for i, ex in enumerate(examples):
        by_source.setdefault(ex.source, []).append(i)
    vecs: list[npt.NDArray[np.float32]] = []
    owners: list[npt.NDArray[np.intp]] = []
    done = 0
    for source, idx in by_source.items():
        keys = [text_key(encoder.version, norms[i]) for i in idx]
        cache = cache_dir / f"embedded-{source}.npz" if cache_dir else None
        known = _load_cache(cache)
        todo = sorted({k: None for k, i in zip(keys, idx, strict=True) if k not in known})
        text_of = {k: norms[i] for k, i in zip(keys, idx, strict=True)}
        step = 256
        for start in range(0, len(todo), step):
            batch = todo[start : start + step]
            w = encoder.embed_windows([text_of[k] for k in batch])
            for j, k in enumerate(batch):
                known[k] = w.vectors[w.owner == j]
            if progress:
                progress("embed", done + min(start + step, len(todo)), len(examples))
        if cache and todo:
            _save_cache(cache, {k: known[k] for k in dict.fromkeys(keys)})
        for i, k in zip(idx, keys, strict=True):
            vecs.append(known[k])
            owners.append(np.full(len(known[k]), i, dtype=np.intp))
        done += len(idx)
        if progress:
            progress("embed", done, len(examples))
    return Embedded(np.concatenate(vecs), np.concatenate(owners).astype(np.intp), feats)


def text_key(encoder_version: str, text: str) -> str:
    return hashlib.sha256(f"{encoder_version}\x00{text}".encode()).hexdigest()


def _load_cache(path: Path | None) -> dict[str, npt.NDArray[np.float32]]:
    if path is None or not path.exists():
        return {}
    z = np.load(path)
    vectors, owner, keys = z["vectors"], z["owner"], z["keys"]
    order = np.argsort(owner, kind="stable")
    bounds = np.searchsorted(owner[order], np.arange(len(keys) + 1))
    return {str(k): vectors[order[bounds[j] : bounds[j + 1]]] for j, k in enumerate(keys)}


def _save_cache(path: Path, windows: dict[str, npt.NDArray[np.float32]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = list(windows)
    owner = np.concatenate([np.full(len(windows[k]), j, dtype=np.intp) for j, k in enumerate(keys)])
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, vectors=np.concatenate([windows[k] for k in keys]), owner=owner, keys=np.array(keys))
    tmp.replace(path)


def _fit_lr(x: npt.NDArray[np.float32], y: npt.NDArray[np.int_], w: npt.NDArray[np.float64], seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=2.0, class_weight="balanced", max_iter=3000, random_state=seed)
    model.fit(x, y, sample_weight=w)
    return model


def _bank_member(ex: Example, identity_swaps: bool) -> bool:
    """Authored TRAIN examples, with or without their identity-swapped copies (a third of the bank each)."""
    if not identity_swaps and "identity_augmented" in ex.tags:
        return False
    return ex.source == "authored" and ex.split == "train"


def build_bank(
    examples: Sequence[Example], emb: Embedded, *, identity_swaps: bool = True
) -> tuple[ExemplarBank, dict[Category, npt.NDArray[np.float32]]]:
    """The exemplar bank (windows of authored TRAIN examples) and every window's exemplar features per
    category. A window never sees exemplars of its own group (itself, its paraphrases, its identity swaps).

    ``identity_swaps=False`` leaves the swapped copies out: measured, the bank shrinks 14,204 -> 4,723 windows
    and the similarity product from 2.0 to 0.7 ms a message, but the challenge set's crisis items at none rise
    27.8% -> 30.0% and its benign items at >= moderate 2.2% -> 2.7% (docs/model-card.md), so the shipped recipe
    keeps them; the encoder comparison (``training/compare.py``) uses the smaller bank to fit in a session."""
    groups = {g: k for k, g in enumerate(sorted({ex.group for ex in examples}))}
    row_group = np.array([groups[examples[int(o)].group] for o in emb.owner])
    in_bank = np.array([_bank_member(examples[int(o)], identity_swaps) for o in emb.owner])
    labels = np.full((int(in_bank.sum()), len(CATEGORIES)), -1, dtype=np.int8)
    for r, o in enumerate(emb.owner[in_bank]):
        for j, c in enumerate(CATEGORIES):
            lv = examples[int(o)].label(c)
            if lv is not None:
                labels[r, j] = int(lv >= Level.LOW)
    # Train on what inference will read: the bank is stored as float16.
    bank = ExemplarBank(emb.vectors[in_bank].astype(np.float16).astype(np.float32), labels)
    bank_group = row_group[in_bank]
    feats = {c: np.zeros((len(emb.owner), N_EXEMPLAR_FEATURES), dtype=np.float32) for c in CATEGORIES}
    for start in range(0, len(emb.owner), 2048):
        sl = slice(start, start + 2048)
        sims = bank.similarities(emb.vectors[sl])
        sims[row_group[sl, None] == bank_group[None, :]] = -1.0
        for c in CATEGORIES:
            feats[c][sl] = bank.features(sims, c)
    return bank, feats


def _window_x(emb: Embedded, exf: npt.NDArray[np.float32], i: int, rows: npt.NDArray[np.intp]) -> Any:
    """What a head reads for example i's windows: [embedding, pattern features, exemplar features]."""
    return np.concatenate([emb.vectors[rows], np.repeat(emb.features[i][None, :], len(rows), 0), exf[rows]], 1)


def _example_logits(
    model: Any,
    emb: Embedded,
    exf: npt.NDArray[np.float32],
    idx: npt.NDArray[np.intp],
    win_rows: dict[int, npt.NDArray[np.intp]],
) -> npt.NDArray[np.float64]:
    """Max over an example's windows, as at inference."""
    coef = model.coef_[0].astype(np.float32)
    out = np.empty(len(idx), dtype=np.float64)
    for k, i in enumerate(idx):
        out[k] = float((_window_x(emb, exf, int(i), win_rows[int(i)]) @ coef).max() + model.intercept_[0])
    return out


def train_heads(
    examples: Sequence[Example],
    emb: Embedded,
    encoder_version: str,
    seed: int = 13,
    progress: Progress | None = None,
    specs: Sequence[tuple[Category, Level]] = HEAD_SPECS,
    bank: tuple[ExemplarBank, dict[Category, npt.NDArray[np.float32]]] | None = None,
    bank_identity_swaps: bool = True,
) -> tuple[HeadSet, dict[str, Any]]:
    """One head per spec. ``bank``: the exemplar bank and its per-window features when the caller has them
    already (leave-one-source-out folds share the full corpus's: the bank is authored data, never held out)."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    win_rows: dict[int, npt.NDArray[np.intp]] = {}
    order = np.argsort(emb.owner, kind="stable")
    bounds = np.searchsorted(emb.owner[order], np.arange(len(examples) + 1))
    for i in range(len(examples)):
        win_rows[i] = order[bounds[i] : bounds[i + 1]]
    split = np.array([ex.split for ex in examples])
    source = np.array([ex.source for ex in examples])
    weight = np.array([ex.weight for ex in examples], dtype=np.float64)
    bank_, exemplar_features = bank or build_bank(examples, emb, identity_swaps=bank_identity_swaps)
    heads: list[Head] = []
    report: dict[str, Any] = {}
    for n, (cat, min_level) in enumerate(specs):
        name = f"{cat.value}>={min_level.label}"
        labels = [ex.label(cat) for ex in examples]
        known = np.array([lv is not None for lv in labels])
        y_all = np.array([1 if (lv is not None and lv >= min_level) else 0 for lv in labels])
        everyday = known & np.isin(source, list(EVERYDAY)) & (y_all == 0)
        conditional = min_level > Level.LOW and cat != Category.DISTRESS
        if conditional:
            # Conditional (LEVELLED_SOURCES above): the category's levelled messages, and everyday negatives.
            population = (
                known
                & np.isin(source, list(LEVELLED_SOURCES))
                & np.array([lv is not None and lv >= Level.LOW for lv in labels])
            )
            tr = np.flatnonzero((population | everyday) & (split == "train"))
            cal = np.flatnonzero(population & (split == "calib"))
            dev = np.flatnonzero(population & (split == "dev"))
        else:
            tr = np.flatnonzero(known & (split == "train"))
            cal = np.flatnonzero(known & (split == "calib"))
            dev = np.flatnonzero(known & (split == "dev"))
        if len(set(y_all[tr].tolist())) < 2:
            raise ValueError(f"head {name}: the train split needs positive and negative examples")
        single = [int(i) for i in tr if len(win_rows[int(i)]) == 1]
        exf = exemplar_features[cat]

        def design(
            ids: Sequence[int],
            pick: dict[int, npt.NDArray[np.intp]],
            y_all: npt.NDArray[np.int_] = y_all,
            exf: npt.NDArray[np.float32] = exf,
        ) -> tuple[Any, Any, Any]:
            xs, ys, ws = [], [], []
            for i in ids:
                rows = pick[int(i)]
                xs.append(_window_x(emb, exf, int(i), rows))
                ys.append(np.full(len(rows), y_all[i]))
                ws.append(np.full(len(rows), weight[i] / len(rows) ** 0.5))
            return np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)

        first = _fit_lr(*design(single, win_rows), seed=seed)
        coef = first.coef_[0].astype(np.float32)
        pick: dict[int, npt.NDArray[np.intp]] = {}
        for i in map(int, tr):
            rows = win_rows[i]
            if len(rows) == 1:
                pick[int(i)] = rows
            elif y_all[i]:
                pick[int(i)] = rows[[int(np.argmax(_window_x(emb, exf, i, rows) @ coef))]]
            else:
                pick[int(i)] = rng.choice(rows, size=min(len(rows), MAX_NEG_WINDOWS), replace=False)
        model = _fit_lr(*design(list(tr), pick), seed=seed)

        cal_logit = _example_logits(model, emb, exf, cal, win_rows)
        platt = LogisticRegression(C=1e4, max_iter=1000)
        platt.fit(cal_logit[:, None], y_all[cal], sample_weight=weight[cal])
        cal_a, cal_b = float(platt.coef_[0, 0]), float(platt.intercept_[0])

        def calibrated(logits: npt.NDArray[np.float64], a: float = cal_a, b: float = cal_b) -> Any:
            return 1.0 / (1.0 + np.exp(-(a * logits + b)))

        cal_score = calibrated(cal_logit)
        sel = np.array([examples[int(i)].source not in THRESHOLD_EXCLUDE for i in cal])
        pattern_pos = _pattern_positive(emb.features[cal], cat)
        threshold = _choose_threshold(cal_score[sel], y_all[cal][sel], cat, min_level, pattern_pos[sel])
        every_cal = np.flatnonzero(everyday & (split == "calib"))
        fpr = _everyday_fpr(cat, min_level, conditional)
        if len(every_cal) and fpr is not None:
            every_score = calibrated(_example_logits(model, emb, exf, every_cal, win_rows))
            threshold = max(threshold, _fpr_threshold(every_score, fpr))
        strict = max(threshold, _strict_threshold(cal_score[sel], y_all[cal][sel]))
        head = Head(
            name,
            cat,
            min_level,
            model.coef_[0].astype(np.float32),
            float(model.intercept_[0]),
            cal_a,
            cal_b,
            threshold,
            strict,
        )
        heads.append(head)
        dev_score = head.calibrate(_example_logits(model, emb, exf, dev, win_rows))
        report[name] = {
            "train": len(tr),
            "calib": len(cal),
            "dev_n": len(dev),
            "dev_positives": int(y_all[dev].sum()),
            "threshold": threshold,
            "strict_threshold": strict,
            "dev": binary_metrics(y_all[dev], dev_score, threshold),
        }
        if progress:
            progress("heads", n + 1, len(specs))
    version = (
        "heads-" + hashlib.sha256(json.dumps([h.to_dict() for h in heads], sort_keys=True).encode()).hexdigest()[:12]
    )
    meta = {
        "seed": seed,
        "sources": sorted({ex.source for ex in examples}),
        "n_examples": len(examples),
        "n_exemplars": len(bank_.vectors),
    }
    return HeadSet(tuple(heads), version, encoder_version, FEATURE_NAMES, meta, bank_), report


def _pattern_positive(feats: npt.NDArray[np.float32], cat: Category) -> npt.NDArray[np.bool_]:
    """Whether the pattern layer alone already asserts the category (self or other, or lethal means)."""
    cols = [
        FEATURE_NAMES.index(f"pattern_level:{cat.value}"),
        FEATURE_NAMES.index(f"pattern_other:{cat.value}"),
    ]
    pos = feats[:, cols].max(axis=1) > 0
    if cat == Category.SUICIDE_SELF_HARM:
        pos |= feats[:, FEATURE_NAMES.index("means_lethal")] > 0
    return np.asarray(pos)


def _choose_threshold(
    score: npt.NDArray[np.float64],
    y: npt.NDArray[np.int_],
    cat: Category,
    min_level: Level,
    pattern_positive: npt.NDArray[np.bool_],
) -> float:
    """The operating threshold of a head, on calib examples with message-level labels.

    * suicide (any level), recall-first: the highest threshold at which the detector's decision, pattern layer
      OR head, keeps SSH_TARGET_RECALL. Thresholding the system rather than the head alone lets the head stay
      precise where the pattern layer already finds the explicit cases.
    * severity heads (conditional on the category): SEVERE_PROBABILITY, the level more likely than not.
    * other heads: the best F1 among thresholds with a false-positive rate ≤ MAX_FPR.
    """
    cands = np.unique(score)[::-1]
    pos = max(int(y.sum()), 1)
    neg = max(int((y == 0).sum()), 1)
    if cat == Category.SUICIDE_SELF_HARM and min_level == Level.LOW:
        for t in cands:
            recall = int(((pattern_positive | (score >= t)) & (y == 1)).sum()) / pos
            if recall >= SSH_TARGET_RECALL:
                return float(t)
        return float(cands[-1])
    if min_level > Level.LOW:
        return SEVERE_PROBABILITY
    best_t, best_f1 = DISABLED, -1.0
    for t in cands:
        pred = score >= t
        tp = int((pred & (y == 1)).sum())
        if int((pred & (y == 0)).sum()) / neg > MAX_FPR:
            break
        recall, precision = tp / pos, tp / max(int(pred.sum()), 1)
        f1 = 2 * precision * recall / max(precision + recall, 1e-9)
        if f1 > best_f1:
            best_t, best_f1 = float(t), f1
    return best_t


def _everyday_fpr(cat: Category, min_level: Level, conditional: bool) -> float | None:
    """The share of everyday calib text a head's threshold lets through, or None for no cap (the ≥ low heads of
    categories other than suicide)."""
    if min_level == Level.LOW:
        return EVERYDAY_FPR if cat == Category.SUICIDE_SELF_HARM else None
    return EVERYDAY_SEVERE_FPR if conditional else DISTRESS_EVERYDAY_FPR


def _fpr_threshold(negatives: npt.NDArray[np.float64], fpr: float) -> float:
    """The lowest threshold that at most ``fpr`` of these negatives reach."""
    neg = np.sort(negatives)
    k = int(np.floor(len(neg) * (1 - fpr)))
    return float(neg[min(k, len(neg) - 1)]) + 1e-6


def _strict_threshold(score: npt.NDArray[np.float64], y: npt.NDArray[np.int_]) -> float:
    """Lowest threshold with a false-positive rate ≤ STRICT_FPR: evidence strong enough to combine with other
    signals (e.g. distress before means-seeking)."""
    neg = np.sort(score[y == 0])
    if len(neg) == 0:
        return float(score.min()) if len(score) else DISABLED
    k = int(np.floor(len(neg) * (1 - STRICT_FPR)))
    return float(neg[min(k, len(neg) - 1)]) + 1e-6


def run_training(
    out: Path | None = None,
    *,
    seed: int = 13,
    shared: Path | None = None,
    project_data: Path | None = None,
    sources: tuple[str, ...] | None = None,
    extra: tuple[Path, ...] = (),
    cache_dir: Path | None = Path(".cache/train"),
    progress: Progress | None = None,
    encoder: Encoder | None = None,
    bank_identity_swaps: bool = True,
) -> tuple[Path, dict[str, Any]]:
    out = out or default_artifact_path()
    encoder = encoder or Encoder(threads=2)
    patterns = PatternDetector()
    examples = load_corpus(shared, project_data, seed=seed, sources=sources, extra=extra)
    examples += identity_augmented(examples, seed=seed)
    emb = embed_corpus(examples, encoder, patterns, cache_dir, progress)
    heads, report = train_heads(
        examples, emb, encoder.version, seed=seed, progress=progress, bank_identity_swaps=bank_identity_swaps
    )
    heads.save(out)
    counts: dict[str, dict[str, int]] = {}
    for ex in examples:
        counts.setdefault(ex.source, {}).setdefault(ex.split, 0)
        counts[ex.source][ex.split] += 1
    full = {
        "heads_version": heads.version,
        "encoder_version": encoder.version,
        "seed": seed,
        "corpus": counts,
        "heads": report,
    }
    out.with_name("training-report.json").write_text(json.dumps(full, indent=1, sort_keys=True) + "\n", "utf-8")
    return out, full
