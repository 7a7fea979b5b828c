"""risk.types: spans and levels validate what they are given."""

from __future__ import annotations

import pytest

from mindrail.risk.types import Level, Span


def test_span_validation() -> None:
    with pytest.raises(ValueError):
        Span(5, 2)
    assert Level.parse("Moderate") == Level.MODERATE
    with pytest.raises(ValueError, match="expected one of"):
        Level.parse("severe")
