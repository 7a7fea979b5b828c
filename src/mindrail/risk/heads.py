"""Learned heads: one logistic model per (category, minimum level) over [embedding, pattern features],
with Platt calibration fitted on held-out data and an operating threshold chosen on that same split.
Platt scaling (a sigmoid of the logit) rather than isotonic steps: a smooth map keeps small input changes
(an identity swap, a typo) from jumping across a step.

Inference is plain numpy (a dot product and an interpolation), so the runtime needs neither torch nor
scikit-learn. The artifact is a small JSON file, reviewable in a diff.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mindrail.risk.exemplars import ExemplarBank
from mindrail.risk.types import Category, Level

FloatArray = npt.NDArray[np.float32]
DEFAULT_HEADS = "heads.json"


class HeadsError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Head:
    name: str
    category: Category
    min_level: Level
    weights: FloatArray
    bias: float
    cal_a: float
    cal_b: float
    threshold: float
    """Calibrated score at or above which the head asserts ``min_level``."""
    strict_threshold: float
    """A stricter score (false-positive rate ≤ 2% on calib) for evidence that combines with other signals."""

    def calibrate(self, logits: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return 1.0 / (1.0 + np.exp(-(self.cal_a * logits + self.cal_b)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "category": self.category.value,
            "min_level": self.min_level.label,
            "weights": [round(float(w), 6) for w in self.weights],
            "bias": round(self.bias, 6),
            "calibration": {"method": "platt", "a": round(self.cal_a, 6), "b": round(self.cal_b, 6)},
            "threshold": round(self.threshold, 5),
            "strict_threshold": round(self.strict_threshold, 5),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Head:
        return cls(
            name=d["name"],
            category=Category(d["category"]),
            min_level=Level.parse(d["min_level"]),
            weights=np.asarray(d["weights"], dtype=np.float32),
            bias=float(d["bias"]),
            cal_a=float(d["calibration"]["a"]),
            cal_b=float(d["calibration"]["b"]),
            threshold=float(d["threshold"]),
            strict_threshold=float(d["strict_threshold"]),
        )


@dataclass(frozen=True, slots=True)
class HeadSet:
    heads: tuple[Head, ...]
    version: str
    encoder_version: str
    feature_names: tuple[str, ...]
    meta: dict[str, Any]
    bank: ExemplarBank | None = None
    """Authored exemplars; when present each head also reads exemplar-similarity features of its category."""

    def __post_init__(self) -> None:
        if not self.heads:
            raise HeadsError("a head set needs at least one head")

    def predict(self, x: FloatArray, windows: FloatArray | None = None) -> npt.NDArray[np.float64]:
        """Calibrated scores, shape (n, n_heads). ``x`` is [embedding, pattern features] per window; ``windows``
        (the embeddings alone) feed the exemplar features when the set has a bank."""
        n_shared = x.shape[1]
        w = np.stack([h.weights[:n_shared] for h in self.heads], axis=1)
        b = np.asarray([h.bias for h in self.heads], dtype=np.float64)
        logits = (x @ w + b).astype(np.float64)
        if self.bank is not None:
            sims = self.bank.similarities(windows if windows is not None else x[:, : self.bank.vectors.shape[1]])
            feats = self.bank.features_all(sims)
            for j, h in enumerate(self.heads):
                logits[:, j] += feats[h.category] @ h.weights[n_shared:]
        out = np.empty_like(logits)
        for j, h in enumerate(self.heads):
            out[:, j] = h.calibrate(logits[:, j])
        return out

    def save(self, path: Path) -> None:
        """Write the heads as JSON and, beside them, the exemplar bank as ``<stem>.exemplars.npz``."""
        meta = dict(self.meta)
        path.parent.mkdir(parents=True, exist_ok=True)
        if self.bank is not None:
            meta["exemplars"] = f"{path.stem}.exemplars.npz"
            self.bank.save(path.with_name(meta["exemplars"]))
        payload = {
            "version": self.version,
            "encoder_version": self.encoder_version,
            "feature_names": list(self.feature_names),
            "meta": meta,
            "heads": [h.to_dict() for h in self.heads],
        }
        path.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path | None = None) -> HeadSet:
        if path is None:
            path = Path(str(resources.files("mindrail.risk").joinpath("artifacts").joinpath(DEFAULT_HEADS)))
        try:
            d = json.loads(Path(path).read_text(encoding="utf-8"))
            heads = tuple(Head.from_dict(h) for h in d["heads"])
            meta = d.get("meta", {})
            bank = ExemplarBank.load(Path(path).parent / meta["exemplars"]) if meta.get("exemplars") else None
            return cls(heads, d["version"], d["encoder_version"], tuple(d["feature_names"]), meta, bank)
        except (KeyError, ValueError, TypeError, OSError) as exc:
            raise HeadsError(f"{path}: not a valid head set: {exc}") from None
