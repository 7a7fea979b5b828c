"""Three gateway processes on one PostgreSQL, fifty conversations spread across them for 60 s, one instance killed
with SIGKILL and restarted mid-run (tests/multi_instance.py runs it): nothing lost, nothing doubled, one audit
chain, every notification and every hold timeout exactly once. benchmarks/run_scale.py repeats it three times."""

from __future__ import annotations

from pathlib import Path

from tests.multi_instance import run_scenario


def test_three_instances_one_killed_lose_nothing_and_notify_once(pg_url: str, tmp_path: Path) -> None:
    r = run_scenario(pg_url, tmp_path / "run", instances=3, conversations=50, seconds=60.0, kill_at=20.0)
    assert r["settled"], r
    assert r["restarts"] == 1 and r["client_retries"] > 0, r  # the kill happened and clients noticed it
    assert r["turns_answered"] > 0 and r["turns_stored"] == r["turns_answered"], r
    assert r["turns_lost"] == r["turns_duplicated"] == r["conversations_out_of_order"] == 0, r
    assert r["chain_ok"] and not r["chain_problems"], r
    # Every notice arrived; a repeat only ever came from the killed instance (sent, not yet recorded), and carries
    # the same Idempotency-Key / Message-ID, so a receiver keeping keys sees each notice once.
    assert r["escalations"] > 0 and r["webhook_exactly_once"] and r["emails_exactly_once"], r
    assert r["webhook_lost"] == r["emails_lost"] == 0, r
    assert r["overdue_items"] > 0 and r["overdue_events_max"] == 1, r
    assert r["holds"] > 0 and r["holds_exactly_once"] and r["holds_timed_out"] == r["holds"], r
    assert r["jobs"] == {"done": 2 * (r["escalations"] + r["overdue_items"])}, r
