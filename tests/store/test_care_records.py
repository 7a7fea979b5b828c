"""Care records: sealed at rest, opened per conversation, audited without their content, a review item when a
clinician must see one, and the same consent and tenant rules as turns."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from mindrail.store import ConsentRequired, KeyRing, NotFound, Store

NOTE = "the anniversary of my brother's accident is on friday"


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'care.db'}", KeyRing.generate())
    yield s
    s.close()


def test_payload_is_sealed_and_opens(store: Store) -> None:
    cid = store.start_conversation("consent-v1")
    rid = store.add_care_record(cid, "checkin", {"values": [1, 2, 0], "note": NOTE}, instrument="gad7")
    with store.engine.begin() as conn:
        raw = conn.execute(text("SELECT payload_enc FROM care_records WHERE id = :i"), {"i": rid}).scalar_one()
    assert b"anniversary" not in raw
    (entry,) = store.care_records(cid)
    assert entry.kind == "checkin" and entry.instrument == "gad7" and entry.payload["note"] == NOTE
    assert entry.at.tzinfo is not None


def test_audit_names_the_record_never_its_content(store: Store) -> None:
    cid = store.start_conversation("consent-v1")
    store.add_care_record(cid, "mood", {"rating": 2, "note": NOTE})
    events = store.audit_events(cid)
    assert any(e["kind"] == "care_recorded" for e in events)
    assert "anniversary" not in json.dumps(events)
    assert store.verify_audit().ok


def test_review_item_for_a_safety_event(store: Store) -> None:
    cid = store.start_conversation("consent-v1")
    store.add_care_record(cid, "checkin", {"values": [0] * 8 + [1]}, instrument="phq9", review=(2, "suicide_self_harm"))
    items = [r for r in store.review_items() if r.conversation_id == cid]
    assert [(r.kind, r.level, r.category) for r in items] == [("care", 2, "suicide_self_harm")]


def test_filter_by_kind_and_order(store: Store) -> None:
    cid = store.start_conversation("consent-v1")
    store.add_care_record(cid, "mood", {"rating": 2})
    store.add_care_record(cid, "safety_plan", {"sections": {}})
    store.add_care_record(cid, "mood", {"rating": 6})
    assert [r.payload["rating"] for r in store.care_records(cid, "mood")] == [2, 6]


def test_unknown_kind_withdrawn_consent_and_other_tenant(store: Store) -> None:
    cid = store.start_conversation("consent-v1")
    with pytest.raises(ValueError, match="kind"):
        store.add_care_record(cid, "diagnosis", {})
    with pytest.raises(NotFound):
        store.care_records(cid, tenant="someone-else")
    store.withdraw_consent(cid)
    with pytest.raises(ConsentRequired):
        store.add_care_record(cid, "mood", {"rating": 5})
