"""Store on SQLite (WAL) and on a real PostgreSQL server (Debian's, started by scripts/pg_test_server.sh):
migrations, consent, sealed turns, data rights, audit chain tamper detection, key rotation, concurrent writers."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from mindrail.store import ConsentRequired, DecryptError, KeyRing, NotFound, Store, TurnInput
from mindrail.store.crypto import KeyError_

SECRET = "my neighbour Hazel keeps asking about the fire escape"


ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def store(db_url: str) -> Iterator[Store]:
    s = Store(db_url, KeyRing.generate())
    yield s
    s.close()


def _turn(text: str = SECRET, **kw: object) -> TurnInput:
    base: dict[str, object] = {
        "user_text": text,
        "reply": "Thank you for telling me.",
        "source": "model",
        "level": 1,
        "category": "distress",
        "actions": ("respond",),
        "assessment": {"top_level": "low", "model_version": "test"},
        "decision": {"rules": ["x"], "policy": "p@1"},
        "verdict": {"passed": True, "failed_checks": []},
    }
    base.update(kw)
    return TurnInput(**base)  # type: ignore[arg-type]


def test_no_turn_without_consent_and_after_withdrawal(store: Store) -> None:
    cid = store.start_conversation("consent-v1", locale="en-GB")
    assert store.has_consent(cid)
    store.record_turn(cid, _turn())
    store.withdraw_consent(cid)
    assert not store.has_consent(cid)
    with pytest.raises(ConsentRequired):
        store.record_turn(cid, _turn())
    with pytest.raises(ValueError):
        store.start_conversation("")


def test_text_and_assessments_are_sealed_at_rest(store: Store, tmp_path: Path) -> None:
    cid = store.start_conversation("consent-v1")
    store.record_turn(cid, _turn(withheld="the model's unsafe draft", assessment={"reasons": ["zq-assessment-marker"]}))
    with store.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT user_enc, reply_enc, withheld_enc, assessment_enc, detail_enc FROM turns")
        ).all()
        audit_rows = conn.execute(text("SELECT payload FROM audit_events")).all()
    raw = b"".join(bytes(v) for row in rows for v in row if v is not None)
    raw += json.dumps([str(r[0]) for r in audit_rows]).encode()
    if store.is_sqlite:
        raw += (tmp_path / "var" / "mindrail.db").read_bytes()
        for wal in (tmp_path / "var").glob("*-wal"):
            raw += wal.read_bytes()
    assert b"Hazel" not in raw and b"unsafe draft" not in raw and b"zq-assessment-marker" not in raw
    t = store.transcript(cid, include_withheld=True)
    assert t[0]["user"] == SECRET and t[0]["withheld"] == "the model's unsafe draft"
    assert "withheld" not in store.transcript(cid)[0]


def test_sealed_value_moved_to_another_row_does_not_open(store: Store) -> None:
    cid = store.start_conversation("consent-v1")
    store.record_turn(cid, _turn("first"))
    store.record_turn(cid, _turn("second"))
    with store.engine.begin() as conn:
        first = conn.execute(text("SELECT user_enc FROM turns WHERE seq = 1")).scalar_one()
        conn.execute(text("UPDATE turns SET user_enc = :v WHERE seq = 2"), {"v": first})
    with pytest.raises(DecryptError):
        store.transcript(cid)


def test_export_and_real_deletion(store: Store, tmp_path: Path) -> None:
    cid = store.start_conversation("consent-v1", locale="en-US")
    store.record_turn(cid, _turn(review=("escalation",)))
    store.add_care_record(cid, "mood", {"rating": 3, "note": SECRET})
    data = store.export(cid)
    assert json.loads(json.dumps(data))["turns"][0]["user"] == SECRET
    assert data["consent"][0]["text_version"] == "consent-v1"
    assert data["care"][0]["note"] == SECRET and data["care"][0]["kind"] == "mood"
    counts = store.delete_conversation(cid)
    assert counts == {"turns": 1, "review_items": 1, "consents": 1, "care_records": 1}
    with pytest.raises(NotFound):
        store.export(cid)
    assert store.transcript(cid) == []
    kinds = [e["kind"] for e in store.audit_events(cid)]
    assert kinds[0] == "conversation_deleted"
    assert SECRET not in json.dumps(store.audit_events(limit=1000))
    assert store.verify_audit().ok


def test_audit_chain_verifies_and_detects_edit_delete_reorder_truncate(store: Store) -> None:
    cid = store.start_conversation("consent-v1")
    for _ in range(4):
        store.record_turn(cid, _turn())
    assert store.verify_audit().ok and store.verify_audit().events == 5

    def tamper(sql: str) -> list[str]:
        with store.engine.begin() as conn:
            conn.execute(text(sql))
        return store.verify_audit().problems

    with store.engine.begin() as conn:
        original = conn.execute(text("SELECT payload FROM audit_events WHERE seq = 3")).scalar_one()
    problems = tamper('UPDATE audit_events SET payload = \'{"seq": 2, "level": 0}\' WHERE seq = 3')
    assert any("seq 3" in p and "edited" in p for p in problems)
    with store.engine.begin() as conn:
        value = original if isinstance(original, str) else json.dumps(original)
        cast = ":p" if store.is_sqlite else "CAST(:p AS JSON)"
        conn.execute(text(f"UPDATE audit_events SET payload = {cast} WHERE seq = 3"), {"p": value})
    assert store.verify_audit().ok

    problems = tamper("DELETE FROM audit_events WHERE seq = 2")
    assert any("deleted or reordered" in p for p in problems)


def test_audit_detects_truncated_tail_and_edited_turn(store: Store) -> None:
    cid = store.start_conversation("consent-v1")
    store.record_turn(cid, _turn())
    store.record_turn(cid, _turn())
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE turns SET level = 0 WHERE seq = 2"))
    assert any("differs from its audit record" in p for p in store.verify_audit().problems)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE turns SET level = 1 WHERE seq = 2"))
        conn.execute(text("DELETE FROM audit_events WHERE seq = (SELECT MAX(seq) FROM audit_events)"))
    problems = store.verify_audit().problems
    assert any("removed at the end" in p for p in problems)


def test_audit_reordering_is_detected(store: Store) -> None:
    cid = store.start_conversation("consent-v1")
    store.record_turn(cid, _turn())
    store.record_turn(cid, _turn())
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET seq = seq + 100 WHERE seq IN (2, 3)"))
        conn.execute(text("UPDATE audit_events SET seq = 2 WHERE seq = 103"))
        conn.execute(text("UPDATE audit_events SET seq = 3 WHERE seq = 102"))
    assert not store.verify_audit().ok


def test_concurrent_writers_keep_one_chain(store: Store) -> None:
    cids = [store.start_conversation("consent-v1") for _ in range(4)]

    def work(cid: str) -> None:
        for _ in range(15):
            store.record_turn(cid, _turn())

    threads = [threading.Thread(target=work, args=(c,)) for c in cids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report = store.verify_audit()
    assert report.ok, report.problems
    assert report.events == 4 + 60 and store.count("turns") == 60


def test_second_process_style_store_on_same_database_continues_the_chain(db_url: str) -> None:
    keys = KeyRing.generate()
    a, b = Store(db_url, keys), Store(db_url, keys)
    cid = a.start_conversation("consent-v1")
    a.record_turn(cid, _turn())
    b.record_turn(cid, _turn())
    assert a.verify_audit().ok and a.verify_audit().events == 3


def test_key_rotation_reseals_and_old_key_can_be_retired(store: Store) -> None:
    cid = store.start_conversation("consent-v1")
    store.record_turn(cid, _turn(withheld="draft"))
    store.save_vault(cid, {"<PERSON_1>": "Hazel"})
    store.add_care_record(cid, "mood", {"rating": 4, "note": SECRET})
    old_key = store.keys.active
    rotated = store.keys.rotated()
    n = store.rotate_keys(rotated)
    assert n >= 6
    retired = rotated.without_retired(keep=set())
    assert old_key not in retired.keys
    store.keys = retired
    assert store.transcript(cid, include_withheld=True)[0]["user"] == SECRET
    assert store.load_vault(cid) == {"<PERSON_1>": "Hazel"}
    assert store.care_records(cid)[0].payload["note"] == SECRET
    assert store.verify_audit().ok


def test_wrong_key_fails_clearly(db_url: str) -> None:
    url = db_url
    s = Store(url, KeyRing.generate())
    cid = s.start_conversation("consent-v1")
    s.record_turn(cid, _turn())
    other = Store(url, KeyRing.generate())
    with pytest.raises(KeyError_, match="not in the key ring"):
        other.transcript(cid)


def test_keyring_file_and_env(tmp_path: Path) -> None:
    ring = KeyRing.generate()
    path = tmp_path / "keys.json"
    ring.save(path)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert KeyRing.from_env({"MINDRAIL_KEY_FILE": str(path)}).active == ring.active
    with pytest.raises(KeyError_, match="no encryption key"):
        KeyRing.from_env({})
    with pytest.raises(KeyError_, match="32 bytes"):
        KeyRing.from_env({"MINDRAIL_KEY": "c2hvcnQ="})
    path.write_text("{nope", encoding="utf-8")
    with pytest.raises(KeyError_, match="not a key-ring file"):
        KeyRing.load(path)


def test_migrations_match_the_models(store: Store) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from mindrail.store.models import Base

    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
