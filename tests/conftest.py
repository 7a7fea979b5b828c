"""Shared fixtures. The engine is the real one: int8 ONNX encoder (built by `make model`), shipped heads,
pattern library. Nothing is mocked."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mindrail.risk.engine import RiskEngine
from tests.serving import fresh_pg_database

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def engine() -> RiskEngine:
    return RiskEngine.load()


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One throwaway PostgreSQL server per test process. MINDRAIL_SKIP_POSTGRES=1 skips (CI never sets it)."""
    if os.environ.get("MINDRAIL_SKIP_POSTGRES"):
        pytest.skip("MINDRAIL_SKIP_POSTGRES is set")
    where = tmp_path_factory.mktemp("pg") / "server"
    script = ROOT / "scripts" / "pg_test_server.sh"
    res = subprocess.run(["bash", str(script), "start", str(where)], capture_output=True, text=True, timeout=600)
    if res.returncode != 0:
        pytest.fail(f"could not start the PostgreSQL test server:\n{res.stderr[-2000:]}")
    yield res.stdout.strip().splitlines()[-1]
    subprocess.run(["bash", str(script), "stop", str(where)], capture_output=True, timeout=120)


@pytest.fixture()
def pg_url(pg_server: str) -> str:
    """A fresh, empty database on the test server."""
    return fresh_pg_database(pg_server)


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
