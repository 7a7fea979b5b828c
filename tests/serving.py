"""A real uvicorn server on a free loopback port, in a thread, for tests that need one (browsers, real HTTP
clients, chunked bodies), a fresh database on the PostgreSQL test server, and the axe-core check browser tests run
on each page: one helper instead of a copy in each test file."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import uvicorn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fresh_pg_database(server_url: str) -> str:
    """A new, empty database on the PostgreSQL server at ``server_url`` (scripts/pg_test_server.sh): its URL."""
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    name = f"t_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return server_url.rsplit("/", 1)[0] + "/" + name


@contextmanager
def uvicorn_running(app: Any) -> Iterator[str]:
    """``app`` served on 127.0.0.1 until the block ends; yields its base URL once the server has started."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def assert_no_serious_axe_violations(page: Any, axe_js: Path) -> None:
    """Run axe-core (from npm) on a Playwright page; serious and critical violations fail the test."""
    page.add_script_tag(path=str(axe_js))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    serious = [v["id"] for v in result["violations"] if v["impact"] in ("serious", "critical")]
    assert not serious, f"{page.url}: {serious}"
