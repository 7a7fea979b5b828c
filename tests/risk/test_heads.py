"""risk.heads: the shipped heads load, cover every category and match the feature width."""

from __future__ import annotations

from mindrail.risk.heads import HeadSet
from mindrail.risk.types import Category


def test_shipped_heads_load_and_are_consistent() -> None:
    heads = HeadSet.load()
    assert {h.category for h in heads.heads} == set(Category)
    for h in heads.heads:
        n_exemplar = 5 if heads.bank is not None else 0
        assert h.weights.shape == (384 + len(heads.feature_names) + n_exemplar,)
        assert 0.0 <= h.threshold <= 1.01
