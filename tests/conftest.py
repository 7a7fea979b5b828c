"""Shared fixtures. The engine is the real one: int8 ONNX encoder (built by `make model`), shipped heads,
pattern library. Nothing is mocked."""

from __future__ import annotations

import pytest

from mindrail.risk.engine import RiskEngine


@pytest.fixture(scope="session")
def engine() -> RiskEngine:
    return RiskEngine.load()
