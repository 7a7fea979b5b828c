"""risk.exemplars: the fast all-categories path gives the per-category reference features."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.parametrize("n_bank", [40, 2000])
def test_exemplar_features_all_matches_per_category_reference(n_bank: int) -> None:
    """The fast candidate path must give the exact per-category features, including rows whose nearest
    candidates hold too few of one side (the fallback) and tiny sides (the direct path)."""
    from mindrail.risk.exemplars import ExemplarBank
    from mindrail.risk.types import CATEGORIES

    rng = np.random.default_rng(7)
    vecs = rng.standard_normal((n_bank, 16)).astype(np.float32)
    vecs[: n_bank // 2, 0] += 8.0  # positives of category 0 cluster, so near windows see no negatives nearby
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    labels = rng.choice(np.array([-1, 0, 1], dtype=np.int8), size=(n_bank, len(CATEGORIES)), p=[0.1, 0.8, 0.1])
    labels[:, 0] = np.where(np.arange(n_bank) < n_bank // 2, 1, 0)  # a large positive side
    bank = ExemplarBank(vecs, labels)
    windows = np.concatenate([vecs[:30] + 0.01, rng.standard_normal((30, 16)).astype(np.float32)])
    windows /= np.linalg.norm(windows, axis=1, keepdims=True)
    sims = bank.similarities(windows)
    fast = bank.features_all(sims)
    for c in CATEGORIES:
        np.testing.assert_allclose(fast[c], bank.features(sims, c), atol=1e-5)
    assert bank.features_all(sims[:0])[CATEGORIES[0]].shape == (0, 5)
