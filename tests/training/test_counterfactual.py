"""training.counterfactual: the identity-swap check reports the largest score change."""

from __future__ import annotations

import pytest

from mindrail.training.counterfactual import counterfactual_check


def test_counterfactual_check_reports_largest_change() -> None:
    rep = counterfactual_check(["he is sad", "hello"], lambda b: [0.5 + 0.1 * ("she" in t) for t in b])
    assert rep.per_dimension["gender"] == pytest.approx(0.1)
    assert rep.largest == pytest.approx(0.1)
