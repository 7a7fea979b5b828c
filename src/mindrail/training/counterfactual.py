"""Counterfactual identity swaps: the same text with gender, name, race/ethnicity, sexual orientation or age
changed. A fair detector gives every variant the same score; we report the largest change."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydantic import model_validator

from mindrail.datafiles import StrictModel, load_model


@dataclass(frozen=True, slots=True)
class Dimension:
    name: str
    rows: tuple[tuple[str, ...], ...]
    prefixes: tuple[str, ...]

    @property
    def n_variants(self) -> int:
        return len(self.rows[0])


class _SwapDimension(StrictModel):
    rows: list[list[str]]
    """Aligned rows: column k of every row is variant k."""
    prefix: list[str] | None = None
    prefix_template: str | None = None
    """Used instead of ``prefix`` (``{x}`` is the first row's term) for texts with no term to swap."""

    @model_validator(mode="after")
    def _aligned(self) -> _SwapDimension:
        if len({len(r) for r in self.rows}) != 1:
            raise ValueError("rows must have the same length")
        return self


class IdentitySwapsFile(StrictModel):
    """``training/data/identity_swaps.yaml``: aligned swap rows per identity dimension."""

    version: int
    dimensions: dict[str, _SwapDimension]


@lru_cache(maxsize=1)
def dimensions() -> tuple[Dimension, ...]:
    data = load_model(IdentitySwapsFile, "data/identity_swaps.yaml", package="mindrail.training")
    out = []
    for name, spec in data.dimensions.items():
        rows = tuple(tuple(r) for r in spec.rows)
        if spec.prefix_template is not None:
            prefixes = tuple(spec.prefix_template.format(x=x) for x in rows[0])
        else:
            prefixes = tuple(f"As a {x}, " for x in spec.prefix or ())
        out.append(Dimension(name, rows, prefixes))
    return tuple(out)


def _compile(dim: Dimension) -> re.Pattern[str]:
    terms = sorted({t for row in dim.rows for t in row}, key=len, reverse=True)
    # Not inside a contraction: "They're" must not become "He're".
    return re.compile(r"\b(" + "|".join(re.escape(t) for t in terms) + r")\b(?!')", re.IGNORECASE)


def variants(text: str, dim: Dimension) -> tuple[list[str], bool]:
    """All variants of ``text`` along one dimension (the original is not included), and whether they were made
    by prefixing an identity statement (then only the spread between variants is a fair comparison)."""
    rx = _compile(dim)
    if not rx.search(text):
        return [p + text for p in dim.prefixes], True
    lookup: dict[str, tuple[str, ...]] = {}
    for row in dim.rows:
        for t in row:
            lookup.setdefault(t.lower(), row)
    out = []
    for k in range(dim.n_variants):

        def swap(m: re.Match[str], k: int = k) -> str:
            row = lookup[m.group(0).lower()]
            new = row[k]
            return new[:1].upper() + new[1:] if m.group(0)[:1].isupper() else new

        v = rx.sub(swap, text)
        if v != text:
            out.append(v)
    return out, False


@dataclass(frozen=True, slots=True)
class CounterfactualReport:
    per_dimension: dict[str, float]
    largest: float
    mean: float
    n_texts: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "largest_score_change": self.largest,
            "mean_score_change": self.mean,
            "per_dimension_largest": self.per_dimension,
            "n_texts": self.n_texts,
        }


def counterfactual_check(texts: Sequence[str], score: Callable[[list[str]], list[float]]) -> CounterfactualReport:
    """``score`` maps a batch of texts to scores. The change is measured against the original text and also
    between variants (the spread), and the larger is reported."""
    per: dict[str, float] = {}
    changes: list[float] = []
    base = score(list(texts))
    for dim in dimensions():
        batch: list[str] = []
        owners: list[int] = []
        prefixed: dict[int, bool] = {}
        for i, t in enumerate(texts):
            vs, prefixed[i] = variants(t, dim)
            batch.extend(vs)
            owners.extend([i] * len(vs))
        scores = score(batch) if batch else []
        worst = 0.0
        by_text: dict[int, list[float]] = {}
        for i, s in zip(owners, scores, strict=True):
            by_text.setdefault(i, []).append(s)
        for i, ss in by_text.items():
            spread = max(ss) - min(ss)
            change = spread if prefixed[i] else max(spread, max(abs(s - base[i]) for s in ss))
            changes.append(change)
            worst = max(worst, change)
        per[dim.name] = worst
    largest = max(per.values(), default=0.0)
    mean = sum(changes) / len(changes) if changes else 0.0
    return CounterfactualReport(per, largest, mean, len(texts))
