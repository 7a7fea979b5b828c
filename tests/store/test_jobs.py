"""Work done once across instances sharing one database (store.jobs, expire_holds, mark_overdue, migrations), on
SQLite and on a real PostgreSQL server where two "instances" are two Store objects with their own connection
pools, as separate processes would have."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator

import pytest

from mindrail.store import KeyRing, Store, TurnInput
from mindrail.store.errors import DuplicateTurn
from mindrail.store.models import ReviewItem

NOTICE = {"event": "escalation", "level": "high", "category": "suicide_self_harm", "actions": ["escalate"]}


@pytest.fixture()
def pair(db_url: str) -> Iterator[tuple[Store, Store]]:
    """Two instances' stores on one database, with one key ring."""
    keys = KeyRing.generate()
    a = Store(db_url, keys)
    b = Store(db_url, keys, migrate=False)
    yield a, b
    a.close()
    b.close()


def _escalate(store: Store, cid: str, channels: tuple[str, ...] = ("webhook", "email"), **kw: object) -> int:
    turn = TurnInput(
        "a message written for this test",
        "a reply",
        "crisis_protocol",
        level=3,
        category="suicide_self_harm",
        review=("escalation",),
        notify=channels,
        notice=NOTICE,
        **kw,  # type: ignore[arg-type]
    )
    return store.record_turn(cid, turn)


def test_an_escalation_enqueues_one_job_per_channel_in_its_turns_transaction(pair: tuple[Store, Store]) -> None:
    a, _ = pair
    cid = a.start_conversation("v1")
    _escalate(a, cid)
    jobs = a.jobs()
    item = a.review_items()[0].id
    assert sorted(j["key"] for j in jobs) == [f"escalation:{item}:email", f"escalation:{item}:webhook"]
    assert all(j["payload"]["turn"] == 1 and j["payload"]["item"] == item for j in jobs)
    assert all("message" not in str(j["payload"]) for j in jobs)  # facts only, never text
    a.enqueue_job("webhook", f"escalation:{item}:webhook", {"again": True})  # the same key: ignored
    assert len(a.jobs()) == 2 and a.jobs()[0]["payload"].get("again") is None


def test_two_instances_never_claim_the_same_job_and_a_lost_lease_records_nothing(pair: tuple[Store, Store]) -> None:
    a, b = pair
    for n in range(6):
        a.enqueue_job("webhook", f"k{n}", {"conversation_id": None, "turn": n})
    first = a.claim_jobs("A", ("webhook",), limit=4)
    second = b.claim_jobs("B", ("webhook",), limit=4)
    assert len(first) == 4 and len(second) == 2
    assert not {j.id for j in first} & {j.id for j in second}
    assert b.claim_jobs("B", ("webhook",)) == []  # A's leases have not run out
    # A dies holding its leases; once they run out B takes the jobs, and A's late outcome is not recorded.
    taken = b.claim_jobs("B", ("webhook",), lease=dt.timedelta(seconds=60))
    assert taken == []
    expired = a.claim_jobs("A2", ("email",))  # another kind: nothing
    assert expired == []
    with a.transaction() as s:
        from sqlalchemy import update

        from mindrail.store.models import Job

        s.execute(update(Job).where(Job.locked_by == "A").values(locked_until=dt.datetime(2000, 1, 1, tzinfo=dt.UTC)))
    retaken = b.claim_jobs("B", ("webhook",), limit=10)
    assert {j.id for j in retaken} == {j.id for j in first}
    assert not a.finish_job(first[0], "A", ok=True, facts={}, audit_kind="webhook_delivered")
    assert b.finish_job(retaken[0], "B", ok=True, facts={"status": 204}, audit_kind="webhook_delivered")
    delivered = [e for e in a.audit_events() if e["kind"] == "webhook_delivered"]
    assert len(delivered) == 1 and delivered[0]["actor"] == "webhook"
    assert a.verify_audit().ok


def test_a_failed_attempt_is_retried_then_given_up_with_one_audit_event(pair: tuple[Store, Store]) -> None:
    a, _ = pair
    a.enqueue_job("email", "e1", {"conversation_id": None})
    (job,) = a.claim_jobs("A", ("email",))
    soon = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    assert a.finish_job(job, "A", ok=False, facts={"error": "OSError"}, audit_kind="email_failed", retry_at=soon)
    (again,) = a.claim_jobs("A", ("email",))
    assert again.attempts == 1
    assert a.finish_job(again, "A", ok=False, facts={"error": "OSError"}, audit_kind="email_failed")
    assert a.claim_jobs("A", ("email",)) == []
    assert [j["status"] for j in a.jobs()] == ["failed"]
    failed = [e for e in a.audit_events() if e["kind"] == "email_failed"]
    assert len(failed) == 1 and failed[0]["payload"]["attempts"] == 2


def test_holds_time_out_once_when_every_instance_sweeps_at_once(pair: tuple[Store, Store]) -> None:
    a, b = pair
    cids = []
    for locale in ("en-GB", "fr-FR") * 5:
        cid = a.start_conversation("v1", locale=locale)
        a.record_turn(cid, TurnInput("text", "held", "held", review=("hold",), withheld="the model's reply"))
        cids.append(cid)
    with a.transaction() as s:
        for item in s.query(ReviewItem).all():
            item.created_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    counts: list[int] = []

    def sweep(store: Store) -> None:
        counts.append(store.expire_holds(dt.timedelta(minutes=5), lambda locale: f"safe reply ({locale})"))

    threads = [threading.Thread(target=sweep, args=(st,)) for st in (a, b, a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(counts) == 10
    events = [e for e in a.audit_events(limit=1000) if e["kind"] == "hold_timed_out"]
    assert len(events) == 10 and len({e["payload"]["item"] for e in events}) == 10
    released = a.take_released(cids[1])
    assert released == [{"turn": 1, "text": "safe reply (fr-FR)", "release": "timed_out"}]  # its own locale
    assert a.verify_audit().ok


def test_reviews_go_overdue_once_and_notify_each_channel_once(pair: tuple[Store, Store]) -> None:
    a, b = pair
    cid = a.start_conversation("v1")
    _escalate(a, cid, channels=("webhook",))
    sla = {3: dt.timedelta(0)}
    counts: list[int] = []
    threads = [
        threading.Thread(target=lambda st=st: counts.append(st.mark_overdue(sla, ("webhook",), {3: "high"})))
        for st in (a, b, a)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(counts) == 1
    item = a.review_items()[0].id
    keys = sorted(j["key"] for j in a.jobs())
    assert keys == [f"escalation:{item}:webhook", f"overdue:{item}:webhook"]
    overdue = next(j for j in a.jobs() if j["key"].startswith("overdue"))["payload"]
    assert overdue["level"] == "high" and overdue["sla_minutes"] == 0
    assert [e["kind"] for e in a.audit_events()].count("review_overdue") == 1


def test_a_request_key_is_recorded_once(pair: tuple[Store, Store]) -> None:
    a, b = pair
    cid = a.start_conversation("v1")
    a.record_turn(cid, TurnInput("hello there", "hi", "model", request_key="req-1"))
    with pytest.raises(DuplicateTurn) as info:
        b.record_turn(cid, TurnInput("hello there", "hi again", "model", request_key="req-1"))
    assert info.value.seq == 1
    assert b.turn_by_key(cid, "req-1")["reply"] == "hi"  # type: ignore[index]
    assert b.turn_by_key(cid, "req-2") is None and b.turn_count(cid) == 1


def test_instances_starting_together_migrate_once(pg_url: str) -> None:
    """Three stores migrate an empty PostgreSQL database at the same moment (the advisory lock queues them)."""
    keys = KeyRing.generate()
    errors: list[BaseException] = []
    stores: list[Store] = []
    barrier = threading.Barrier(3)

    def start() -> None:
        barrier.wait()
        try:
            stores.append(Store(pg_url, keys))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(stores) == 3
    cid = stores[0].start_conversation("v1")
    assert stores[2].has_consent(cid)
    for st in stores:
        st.close()


def test_two_clinicians_on_two_instances_cannot_both_claim_an_item(pair: tuple[Store, Store]) -> None:
    """The change is decided on the locked row: the second claim, made while the first is mid-transaction, sees it."""
    import time

    from mindrail.store.review import ReviewChange, ReviewRecord

    a, b = pair
    cid = a.start_conversation("v1")
    _escalate(a, cid, channels=())
    item = a.review_items()[0].id
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def claim(store: Store, who: str) -> None:
        def change(r: ReviewRecord) -> ReviewChange:
            if r.status != "open":
                raise ValueError("already claimed")
            time.sleep(0.3)  # hold the row while the other instance tries
            return ReviewChange(status="claimed", claimed_by=who)

        barrier.wait()
        try:
            store.change_review_item(item, change, event="review_claimed", actor=who, payload={})
            outcomes.append(who)
        except ValueError:
            outcomes.append("refused")

    threads = [threading.Thread(target=claim, args=(st, who)) for st, who in ((a, "staff:one"), (b, "staff:two"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes)[0] == "refused" and len(outcomes) == 2
    assert [e["kind"] for e in a.audit_events()].count("review_claimed") == 1
