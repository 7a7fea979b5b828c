"""Shared fixtures. The engine is the real one: int8 ONNX encoder (built by `make model`), shipped heads,
pattern library. Nothing is mocked."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mindrail.risk.engine import RiskEngine

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def engine() -> RiskEngine:
    return RiskEngine.load()


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium (installed by the project's script if missing); Playwright drives it, no download."""
    res = subprocess.run(
        ["bash", str(ROOT / "scripts" / "ensure_chromium.sh")], capture_output=True, text=True, timeout=900
    )
    if res.returncode != 0:
        pytest.fail(f"Debian's chromium is not available: {res.stderr[-1500:]}")
    return res.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def axe_js() -> Path:
    """axe-core vendored from npm by the project's script."""
    res = subprocess.run(["bash", str(ROOT / "scripts" / "vendor_axe.sh")], capture_output=True, text=True, timeout=900)
    if res.returncode != 0:
        pytest.fail(f"axe-core could not be vendored: {res.stderr[-1500:]}")
    return Path(res.stdout.strip().splitlines()[-1])
