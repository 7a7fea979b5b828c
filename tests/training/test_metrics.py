"""training.metrics: AUROC, recall at a fixed precision and the confusion counts the reports quote."""

from __future__ import annotations

import numpy as np
import pytest

from mindrail.training.metrics import auroc, binary_metrics, recall_at_precision


def test_auroc_and_recall_at_precision() -> None:
    y = np.array([0, 0, 1, 1])
    assert auroc(y, np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)
    assert auroc(y, np.array([0.5, 0.5, 0.5, 0.5])) == pytest.approx(0.5)
    assert auroc(np.array([1, 1]), np.array([0.1, 0.2])) is None
    assert recall_at_precision(y, np.array([0.1, 0.4, 0.35, 0.8]), 0.8) == pytest.approx(0.5)
    m = binary_metrics(y, np.array([0.1, 0.4, 0.35, 0.8]), 0.3)
    assert m["confusion"] == {"tp": 2, "fp": 1, "tn": 1, "fn": 0}
    assert m["balanced_accuracy"] == pytest.approx(0.75)
