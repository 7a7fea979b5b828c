"""risk.engine: batch assessment in parallel keeps order and matches one-at-a-time assessment."""

from __future__ import annotations

import pytest

from mindrail.risk.engine import RiskEngine
from mindrail.risk.types import Category


def test_iter_assess_in_parallel_keeps_order_and_matches_single(engine: RiskEngine) -> None:
    texts = [f"message {i}: " + t for i, t in enumerate(["the bus was late", "i want to die", "", "lovely day"] * 9)]
    many = list(engine.iter_assess(texts, batch_size=4))
    assert len(many) == len(texts)
    for text, a in zip(texts, many, strict=True):
        single = engine.assess(text)
        assert a.level(Category.SUICIDE_SELF_HARM) == single.level(Category.SUICIDE_SELF_HARM)
        assert a.score(Category.SUICIDE_SELF_HARM) == pytest.approx(single.score(Category.SUICIDE_SELF_HARM), abs=1e-5)
    with pytest.raises(ValueError, match="batch_size"):
        next(engine.iter_assess(texts, batch_size=0))
