"""Console benchmark (issue 4): dashboard render time with 10,000 conversations in the store (target p50 ≤ 300 ms),
appended to docs/benchmarks-gateway.md by `make bench`."""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from mindrail.backends.scripted import ScriptedBackend  # noqa: E402
from mindrail.console.accounts import Accounts  # noqa: E402
from mindrail.console.app import add_console_routes  # noqa: E402
from mindrail.gateway.app import create_app  # noqa: E402
from mindrail.gateway.pipeline import Guard  # noqa: E402
from mindrail.gateway.service import Gateway  # noqa: E402
from mindrail.policy.decide import default_policy  # noqa: E402
from mindrail.risk.engine import RiskEngine  # noqa: E402
from mindrail.store import KeyRing, Store  # noqa: E402
from mindrail.store.models import Conversation, ReviewItem, Turn, utcnow  # noqa: E402


def seed(store: Store, n: int) -> None:
    now = utcnow()
    keys = store.keys
    with store.transaction() as s:
        for i in range(n):
            cid = f"c{i:06d}"
            at = now - dt.timedelta(minutes=4 * i)
            s.add(Conversation(id=cid, created_at=at, top_level=(i * 7) % 5, turns=1))
            s.add(
                Turn(
                    conversation_id=cid,
                    seq=1,
                    at=at,
                    level=(i * 7) % 5,
                    actions=["respond"],
                    source="crisis_protocol" if i % 50 == 0 else "model",
                    user_enc=keys.seal_text("x", f"turns/{cid}/1/user"),
                    reply_enc=keys.seal_text("y", f"turns/{cid}/1/reply"),
                )
            )
            if i % 25 == 0:
                s.add(
                    ReviewItem(
                        conversation_id=cid,
                        turn_seq=1,
                        kind="escalation",
                        level=3,
                        status="resolved" if i % 50 else "open",
                        created_at=at,
                        acknowledged_at=at + dt.timedelta(minutes=3 + i % 20),
                        resolved_at=(at + dt.timedelta(hours=1)) if i % 50 else None,
                        outcome=("false_alarm" if i % 100 else "referred") if i % 50 else None,
                    )
                )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks-gateway.md")
    ap.add_argument("--conversations", type=int, default=10_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        store = Store(f"sqlite:///{d}/console.db", KeyRing.generate())
        seed(store, args.conversations)
        gw = Gateway(Guard(RiskEngine.load(), default_policy(), ScriptedBackend()), store)
        Accounts(store).add_user("bench", "clinician", "benchmark-password", tenants=["*"])
        app = create_app(gw, extra_routes=lambda a: add_console_routes(a, gw))
        with TestClient(app) as c:
            page = c.get("/console/login").text
            token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            c.post(
                "/console/login",
                data={"username": "bench", "password": "benchmark-password", "csrf_token": token},
            )
            times = []
            for _ in range(25):
                t0 = time.perf_counter()
                r = c.get("/console/dashboard?days=30")
                times.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200
            times = times[5:]
            queue_t = []
            for _ in range(10):
                t0 = time.perf_counter()
                c.get("/console/queue")
                queue_t.append((time.perf_counter() - t0) * 1000)
    times.sort()
    p90 = times[int(0.9 * (len(times) - 1))]
    text = (
        f"\n## Console pages with {args.conversations:,} conversations in the store\n\n"
        "SQLite, in-process requests (TestClient), after 5 warm-up requests; dashboard over the last 30 days.\n\n"
        "| page | p50 | p90 | target |\n|---|---|---|---|\n"
        f"| dashboard | {statistics.median(times):.0f} ms | {p90:.0f} ms | p50 ≤ 300 ms |\n"
        f"| review queue | {statistics.median(queue_t):.0f} ms | - | - |\n"
    )
    with args.out.open("a", encoding="utf-8") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
