"""The store: conversations, consent, turns (sealed), review items and the audit chain, on SQLite (WAL, the
embedded default) or PostgreSQL, through SQLAlchemy 2 with Alembic migrations.

Every write that changes what happened in a conversation appends an audit event in the same transaction, so the
record and its audit entry land together or not at all.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, delete, event, func, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from mindrail.store import audit as chain
from mindrail.store import tenancy
from mindrail.store.care import CareRecords, care_aad
from mindrail.store.crypto import KeyRing
from mindrail.store.errors import ConsentRequired, DuplicateTurn, NotFound
from mindrail.store.jobs import JobQueue, enqueue
from mindrail.store.models import ApiKey, AuditEvent, CareRecord, Consent, Conversation, ReviewItem, Turn, utcnow
from mindrail.store.practice import PracticeRecords
from mindrail.store.reports import Reports
from mindrail.store.review import ReviewItems, review_aad, turn_aad
from mindrail.store.staff import StaffAccounts
from mindrail.store.tenancy import Grants

__all__ = ["ApiKeyInfo", "ConsentRequired", "NotFound", "Store", "TurnInput"]


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """A valid, unrevoked API key as the gateway needs it. ``digest_key`` keys the thread digests of drop-in
    conversations (the stored hash of the key's secret: never sent anywhere, differs per key); ``tenant``: whose
    conversations the key reaches."""

    id: str
    name: str
    consent_version: str | None
    digest_key: bytes
    tenant: str


@dataclass(frozen=True, slots=True)
class TurnInput:
    """What the gateway hands the store for one turn. Text fields are sealed; dicts are sealed as JSON."""

    user_text: str
    reply: str
    source: str
    level: int = 0
    category: str | None = None
    actions: tuple[str, ...] = ()
    assessment: dict[str, Any] | None = None
    decision: dict[str, Any] | None = None
    verdict: dict[str, Any] | None = None
    withheld: str | None = None
    backend: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    review: tuple[str, ...] = ()
    """Review items to open: "escalation", "hold"."""
    notify: tuple[str, ...] = ()
    """Notifier channels ("webhook", "email") told about the escalation item: one job each (store.jobs), in this
    turn's transaction, so a notification exists exactly when its escalation does."""
    notice: dict[str, Any] = field(default_factory=dict)
    """The notification's facts (level name, category, actions, time; never text); the store adds the turn and
    the review item."""
    request_key: str | None = None
    """The client's idempotency key (``Turn.request_key``)."""


log = logging.getLogger("mindrail.store")

MIGRATION_LOCK = 0x6D696E6472
"""The PostgreSQL advisory lock key migrations run under ("mindr" in ASCII)."""


def _private_sqlite_file(url: str) -> None:
    """Create the SQLite database file owner-only (0600) before SQLite opens it, and tighten an existing one and
    its -wal, -shm and -journal files: beyond the sealed text it holds conversation metadata, API key hashes and
    the audit log. SQLite gives the files it creates next to the database the database file's mode."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for p in (path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal"))):
        try:
            if p.exists() and p.stat().st_mode & 0o077:
                p.chmod(0o600)
        except PermissionError:
            log.warning("cannot make %s owner-only (it belongs to another user)", p)


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _rec: Any) -> None:
        dbapi_conn.isolation_level = None  # let SQLAlchemy's "begin" below issue the BEGIN
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front: two writers cannot both read the audit head and fork the chain.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class Store(ReviewItems, Reports, StaffAccounts, CareRecords, PracticeRecords, JobQueue):
    def __init__(self, url: str, keys: KeyRing, *, migrate: bool = True, echo: bool = False) -> None:
        self.url = url
        self.keys = keys
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            _private_sqlite_file(url)
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        if not self.is_sqlite:
            kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        self.engine = create_engine(url, **kwargs)
        if self.is_sqlite:
            _sqlite_setup(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_lock = threading.Lock() if self.is_sqlite else None
        if migrate:
            self.migrate()

    # ------------------------------------------------------------------ plumbing
    def migrate(self) -> None:
        """Upgrade the schema to head. On PostgreSQL the migration runs under a transaction-scoped advisory lock,
        so instances starting together migrate one at a time: the first upgrades, the others wait, then find the
        schema at head and do nothing. (PostgreSQL's DDL is transactional, so a killed migration leaves nothing.)"""
        cfg = Config()
        cfg.set_main_option("script_location", str(resources.files("mindrail.store").joinpath("migrations")))
        with self.engine.begin() as conn:
            if not self.is_sqlite:
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        lock = self._write_lock
        if lock is not None:
            lock.acquire()
        try:
            with self._sessions() as s, s.begin():
                yield s
        finally:
            if lock is not None:
                lock.release()

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with self._sessions() as s:
            yield s

    def close(self) -> None:
        self.engine.dispose()

    def transaction(self) -> Any:
        """A write transaction (serialised on SQLite), for tests and benchmarks that set up rows directly."""
        return self._tx()

    def reading(self) -> Any:
        return self._read()

    # ------------------------------------------------------------------ conversations and consent
    def start_conversation(
        self,
        consent_version: str,
        *,
        locale: str | None = None,
        client: str | None = None,
        conversation_id: str | None = None,
        actor: str = "person",
        attested_by: str | None = None,
        thread_head: str | None = None,
        tenant: str | None = None,
    ) -> str:
        """A conversation exists only with a consent record: its text's version and the time. ``attested_by``: the
        API key whose owner attested the consent (drop-in mode), recorded in the audit event. ``tenant``: whose
        conversation it is, for good (store.tenancy); by default, as migration 0006 assigned existing ones: the
        tenant of the API key ``client`` names, the chat page's, or "default"."""
        if not consent_version:
            raise ValueError("consent_version is required")
        cid = conversation_id or uuid.uuid4().hex
        payload: dict[str, Any] = {"text_version": consent_version, "locale": locale}
        if attested_by is not None:
            payload["attested_by_key"] = attested_by
        with self._tx() as s:
            if tenant is None:
                key = s.get(ApiKey, client) if client is not None else None
                tenant = key.tenant if key is not None else (client if client == tenancy.CHAT_PAGE else tenancy.DEFAULT)
            s.add(Conversation(id=cid, locale=locale, client=client, thread_head=thread_head, tenant=tenant))
            s.flush()
            s.add(Consent(conversation_id=cid, text_version=consent_version))
            chain.append(s, "consent_given", actor, cid, payload, tenant=tenant)
        return cid

    def claim_thread(self, client: str, head: str, marker: str) -> str | None:
        """The consented conversation of ``client`` whose thread head is ``head``, marked ``marker`` in the same
        transaction (compare-and-set), or None. Two requests resending the same transcript never both get it."""
        with self._tx() as s:
            q = (
                select(Conversation.id)
                .where(
                    Conversation.client == client,
                    Conversation.thread_head == head,
                    Conversation.deleted_at.is_(None),
                )
                .order_by(Conversation.created_at.desc())
            )
            for cid in s.execute(q).scalars().all():
                if not _consented(s, cid):
                    continue
                stmt = (
                    update(Conversation)
                    .where(Conversation.id == cid, Conversation.thread_head == head)
                    .values(thread_head=marker)
                )
                if _rowcount(s, stmt) == 1:
                    return str(cid)
        return None

    def set_thread_head(self, cid: str, head: str | None, *, expected: str | None = None) -> None:
        """Move a conversation's thread head (only from ``expected`` when given, so a stale writer changes
        nothing)."""
        with self._tx() as s:
            stmt = update(Conversation).where(Conversation.id == cid)
            if expected is not None:
                stmt = stmt.where(Conversation.thread_head == expected)
            s.execute(stmt.values(thread_head=head))

    def has_consent(self, cid: str) -> bool:
        with self._read() as s:
            conv = s.get(Conversation, cid)
            if conv is None or conv.deleted_at is not None:
                return False
            return _consented(s, cid)

    def conversation_info(self, cid: str, *, tenant: str | None = None) -> dict[str, Any]:
        """The conversation's plain facts; NotFound when it does not exist or (``tenant`` given) is another's."""
        with self._read() as s:
            conv = _visible(s, cid, tenant)
            return {
                "id": cid,
                "locale": conv.locale,
                "created_at": conv.created_at.isoformat(timespec="seconds"),
                "turns": conv.turns,
                "top_level": conv.top_level,
                "client": conv.client,
                "tenant": conv.tenant,
            }

    def consents(self, cid: str) -> list[dict[str, Any]]:
        with self._read() as s:
            rows = s.execute(select(Consent).where(Consent.conversation_id == cid).order_by(Consent.id)).scalars()
            return [
                {
                    "text_version": c.text_version,
                    "given_at": c.given_at.isoformat(timespec="seconds"),
                    "withdrawn_at": c.withdrawn_at.isoformat(timespec="seconds") if c.withdrawn_at else None,
                }
                for c in rows
            ]

    def withdraw_consent(self, cid: str, actor: str = "person", *, tenant: str | None = None) -> None:
        """``tenant``: when given, another tenant's conversation is NotFound and nothing changes."""
        with self._tx() as s:
            if tenant is not None:
                _visible(s, cid, tenant)
            rows = s.execute(
                select(Consent).where(Consent.conversation_id == cid, Consent.withdrawn_at.is_(None))
            ).scalars()
            n = 0
            for c in rows:
                c.withdrawn_at = utcnow()
                n += 1
            if n == 0:
                raise NotFound(f"conversation {cid} has no active consent to withdraw")
            chain.append(s, "consent_withdrawn", actor, cid, {})

    # ------------------------------------------------------------------ turns
    def record_turn(self, cid: str, t: TurnInput, *, actor: str = "gateway") -> int:
        """Seal and store one turn, open review items, and append its audit event, in one transaction."""
        with self._tx() as s:
            conv = s.get(Conversation, cid, with_for_update=not self.is_sqlite)
            if conv is None or conv.deleted_at is not None:
                raise NotFound(f"conversation {cid} does not exist")
            if not _consented(s, cid):
                raise ConsentRequired(f"conversation {cid} has no active consent")
            if t.request_key is not None:
                # The conversation row is locked: no other instance can record this key between here and commit.
                done = s.execute(
                    select(Turn.seq).where(Turn.conversation_id == cid, Turn.request_key == t.request_key)
                ).scalar_one_or_none()
                if done is not None:
                    raise DuplicateTurn(int(done))
            seq = conv.turns + 1
            k, a = self.keys, turn_aad
            detail = {"decision": t.decision, "verdict": t.verdict, "backend": t.backend, "error": t.error}
            row = Turn(
                conversation_id=cid,
                seq=seq,
                level=t.level,
                category=t.category,
                actions=list(t.actions),
                source=t.source,
                user_enc=k.seal_text(t.user_text, a(cid, seq, "user")),
                reply_enc=k.seal_text(t.reply, a(cid, seq, "reply")),
                withheld_enc=k.seal_text(t.withheld, a(cid, seq, "withheld")) if t.withheld is not None else None,
                assessment_enc=k.seal_json(t.assessment, a(cid, seq, "assessment")) if t.assessment else None,
                detail_enc=k.seal_json(detail, a(cid, seq, "detail")),
                request_key=t.request_key,
            )
            s.add(row)
            conv.turns = seq
            conv.top_level = max(conv.top_level, t.level)
            s.flush()
            payload: dict[str, Any] = {
                "seq": seq,
                "level": t.level,
                "category": t.category,
                "actions": sorted(t.actions),
                "source": t.source,
                "rules": (t.decision or {}).get("rules", []),
                "policy": (t.decision or {}).get("policy"),
                "model_version": (t.assessment or {}).get("model_version"),
                "failed_checks": (t.verdict or {}).get("failed_checks", []),
                "replaced": t.withheld is not None,
                "backend": {k2: v for k2, v in t.backend.items() if k2 != "text"},
                "error": t.error,
                "turn_digest": turn_digest(row),
            }
            chain.append(s, "turn", actor, cid, payload)
            for kind in t.review:
                item = ReviewItem(conversation_id=cid, turn_seq=seq, kind=kind, level=t.level, category=t.category)
                s.add(item)
                s.flush()
                chain.append(
                    s, "review_opened", actor, cid, {"item": item.id, "kind": kind, "seq": seq, "level": t.level}
                )
                if kind == "escalation":
                    for channel in t.notify:
                        notice = {**t.notice, "conversation_id": cid, "turn": seq, "item": item.id}
                        enqueue(s, channel, f"escalation:{item.id}:{channel}", notice)
            return seq

    def turn_by_key(self, cid: str, request_key: str) -> dict[str, Any] | None:
        """The stored turn a request with this idempotency key made, opened as :meth:`transcript` gives it."""
        with self._read() as s:
            row = s.execute(
                select(Turn).where(Turn.conversation_id == cid, Turn.request_key == request_key)
            ).scalar_one_or_none()
            return self._turn_dict(row, False) if row is not None else None

    def turn_count(self, cid: str) -> int:
        """How many turns the conversation has recorded (every instance's): a cached session that counts fewer
        is stale, because another instance answered the conversation since."""
        with self._read() as s:
            n = s.execute(select(Conversation.turns).where(Conversation.id == cid)).scalar_one_or_none()
            return int(n or 0)

    def transcript(self, cid: str, *, include_withheld: bool = False) -> list[dict[str, Any]]:
        with self._read() as s:
            rows = s.execute(select(Turn).where(Turn.conversation_id == cid).order_by(Turn.seq)).scalars().all()
            return [self._turn_dict(r, include_withheld) for r in rows]

    def _turn_dict(self, r: Turn, include_withheld: bool) -> dict[str, Any]:
        k, a, cid = self.keys, turn_aad, r.conversation_id
        out: dict[str, Any] = {
            "seq": r.seq,
            "at": r.at.isoformat() if r.at else None,
            "user": k.open_text(r.user_enc, a(cid, r.seq, "user")),
            "reply": k.open_text(r.reply_enc, a(cid, r.seq, "reply")),
            "source": r.source,
            "level": r.level,
            "category": r.category,
            "actions": r.actions,
            "assessment": k.open_json(r.assessment_enc, a(cid, r.seq, "assessment")) if r.assessment_enc else None,
            "detail": k.open_json(r.detail_enc, a(cid, r.seq, "detail")) if r.detail_enc else None,
        }
        if include_withheld and r.withheld_enc is not None:
            out["withheld"] = k.open_text(r.withheld_enc, a(cid, r.seq, "withheld"))
        return out

    # ------------------------------------------------------------------ privacy vault
    def save_vault(self, cid: str, vault: dict[str, Any]) -> None:
        with self._tx() as s:
            conv = s.get(Conversation, cid)
            if conv is None:
                raise NotFound(f"conversation {cid} does not exist")
            conv.vault_enc = self.keys.seal_json(vault, f"conversations/{cid}/vault")

    def load_vault(self, cid: str) -> dict[str, Any] | None:
        with self._read() as s:
            conv = s.get(Conversation, cid)
            if conv is None or conv.vault_enc is None:
                return None
            value = self.keys.open_json(conv.vault_enc, f"conversations/{cid}/vault")
            return value if isinstance(value, dict) else None

    # ------------------------------------------------------------------ data rights
    def export(self, cid: str, actor: str = "person", *, tenant: str | None = None) -> dict[str, Any]:
        """Everything held about a conversation, decrypted, as JSON-ready data (the person's right of access).
        Withheld model replies are included: they are data about the person too. ``tenant``: when given, another
        tenant's conversation is NotFound."""
        with self._read() as s:
            conv = _visible(s, cid, tenant)
            consents = s.execute(select(Consent).where(Consent.conversation_id == cid).order_by(Consent.id)).scalars()
            consent_list = [
                {
                    "text_version": c.text_version,
                    "given_at": c.given_at.isoformat(),
                    "withdrawn_at": c.withdrawn_at.isoformat() if c.withdrawn_at else None,
                }
                for c in consents
            ]
            created, locale, owner = conv.created_at.isoformat(), conv.locale, conv.tenant
        turns = self.transcript(cid, include_withheld=True)
        care = [
            {"kind": r.kind, "instrument": r.instrument, "at": r.at.isoformat(), **r.payload}
            for r in self.care_records(cid)
        ]
        data: dict[str, Any] = {
            "conversation_id": cid,
            "created_at": created,
            "locale": locale,
            "consent": consent_list,
            "turns": turns,
            "care": care,
            "exported_at": utcnow().isoformat(),
        }
        with self._tx() as s:
            chain.append(s, "data_exported", actor, cid, {"turns": len(turns), "care": len(care)}, tenant=owner)
        return data

    def delete_conversation(self, cid: str, actor: str = "person", *, tenant: str | None = None) -> dict[str, int]:
        """Real deletion: turns, consent records, review items and the conversation row are removed. The audit
        log records that it happened, who did it and how much was removed, never what. ``tenant``: when given,
        another tenant's conversation is NotFound and nothing is removed."""
        with self._tx() as s:
            conv = s.get(Conversation, cid)
            if conv is None or (tenant is not None and conv.tenant != tenant):
                raise NotFound(f"conversation {cid} does not exist")
            owner = conv.tenant
            counts = {
                "turns": _deleted(s, delete(Turn).where(Turn.conversation_id == cid)),
                "review_items": _deleted(s, delete(ReviewItem).where(ReviewItem.conversation_id == cid)),
                "consents": _deleted(s, delete(Consent).where(Consent.conversation_id == cid)),
                "care_records": _deleted(s, delete(CareRecord).where(CareRecord.conversation_id == cid)),
            }
            s.delete(conv)
            chain.append(s, "conversation_deleted", actor, cid, counts, tenant=owner)
            return counts

    # ------------------------------------------------------------------ audit
    def audit(
        self,
        kind: str,
        actor: str,
        cid: str | None = None,
        payload: dict[str, Any] | None = None,
        *,
        tenant: str | None = None,
    ) -> int:
        with self._tx() as s:
            return chain.append(s, kind, actor, cid, payload or {}, tenant=tenant).seq

    def verify_audit(self) -> chain.VerifyReport:
        with self._read() as s:
            report = chain.verify(s)
        # Stored turns must match the digest their audit event recorded.
        with self._read() as s:
            events = s.execute(
                select(AuditEvent.conversation_id, AuditEvent.payload)
                .where(AuditEvent.kind.in_(("turn", "turn_resealed")))
                .order_by(AuditEvent.seq)
            )
            # A re-sealed turn's latest event carries its current digest.
            # A tampered payload may not even be an object; the chain walk above has already reported it.
            expected = {
                (cid, p["seq"]): p.get("turn_digest")
                for cid, p in events
                if cid is not None and isinstance(p, dict) and isinstance(p.get("seq"), int)
            }
            for row in s.execute(select(Turn)).scalars():
                want = expected.get((row.conversation_id, row.seq))
                if want is None:
                    report.add(f"turn {row.conversation_id}/{row.seq}: no audit event records it")
                elif want != turn_digest(row):
                    report.add(f"turn {row.conversation_id}/{row.seq}: stored turn differs from its audit record")
        return report

    def audit_events(
        self, cid: str | None = None, limit: int = 100, *, grants: Grants | None = None
    ) -> list[dict[str, Any]]:
        """The latest events, newest first. ``grants``: only events of those tenants, plus install-wide events
        (no tenant, no conversation); events written before tenancy existed carry no tenant and are shown only
        with a grant to every tenant."""
        with self._read() as s:
            q = select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(limit)
            if cid is not None:
                q = q.where(AuditEvent.conversation_id == cid)
            if grants is not None and not grants.everything:
                install_wide = AuditEvent.tenant.is_(None) & AuditEvent.conversation_id.is_(None)
                q = q.where(grants.clause(AuditEvent.tenant) | install_wide)
            return [
                {
                    "seq": e.seq,
                    "at": e.at.isoformat(),
                    "kind": e.kind,
                    "actor": e.actor,
                    "conversation_id": e.conversation_id,
                    "tenant": e.tenant,
                    "payload": e.payload,
                }
                for e in s.execute(q).scalars()
            ]

    # ------------------------------------------------------------------ keys
    def rotate_keys(self, new: KeyRing, batch: int = 500) -> int:
        """Re-seal every sealed value with ``new``'s active key (``new`` must still hold the old keys). Returns the
        number of values re-sealed. Turn digests change, so each re-sealed turn gets a ``turn_resealed`` event with
        its new digest; the old chain stays intact."""
        old, n = self.keys, 0
        cols = ("user_enc", "reply_enc", "withheld_enc", "assessment_enc", "detail_enc")
        names = {
            "user_enc": "user",
            "reply_enc": "reply",
            "withheld_enc": "withheld",
            "assessment_enc": "assessment",
            "detail_enc": "detail",
        }
        last = 0
        while True:
            with self._tx() as s:
                rows = s.execute(select(Turn).where(Turn.id > last).order_by(Turn.id).limit(batch)).scalars().all()
                if not rows:
                    break
                for r in rows:
                    for col in cols:
                        val = getattr(r, col)
                        if val is not None and new.key_of(val) != new.active:
                            aad = turn_aad(r.conversation_id, r.seq, names[col]).encode()
                            setattr(r, col, new.seal(old.open(val, aad), aad))
                            n += 1
                    s.flush()
                    chain.append(
                        s, "turn_resealed", "keys", r.conversation_id, {"seq": r.seq, "turn_digest": turn_digest(r)}
                    )
                last = rows[-1].id
        with self._tx() as s:
            for conv in s.execute(select(Conversation).where(Conversation.vault_enc.is_not(None))).scalars():
                aad = f"conversations/{conv.id}/vault".encode()
                assert conv.vault_enc is not None
                if new.key_of(conv.vault_enc) != new.active:
                    conv.vault_enc = new.seal(old.open(conv.vault_enc, aad), aad)
                    n += 1
            for rec in s.execute(select(CareRecord)).scalars():
                fresh = new.reseal(rec.payload_enc, care_aad(rec.conversation_id, rec.id), old)
                if fresh is not None:
                    rec.payload_enc = fresh
                    n += 1
            for item in s.execute(select(ReviewItem)).scalars():
                for col, name in (("note_enc", "note"), ("release_enc", "release")):
                    val = getattr(item, col)
                    fresh = None if val is None else new.reseal(val, review_aad(item.id, name), old)
                    if fresh is not None:
                        setattr(item, col, fresh)
                        n += 1
            n += self._rotate_practice(s, new)
            chain.append(s, "keys_rotated", "keys", None, {"active_key": new.active, "values_resealed": n})
        self.keys = new
        return n

    # ------------------------------------------------------------------ API keys
    def create_api_key(
        self, name: str, actor: str = "admin", *, consent_version: str | None = None, tenant: str | None = None
    ) -> str:
        """A new key ``mr_<id>_<secret>``; only the secret's hash is stored, so this is the one time it is seen.
        ``consent_version``: the owner attests that every person using the app accepted that consent text.
        ``tenant``: the tenant whose conversations the key reaches (default: a new one, named after the key's id;
        another key's id puts the new key in that key's tenant)."""
        if not name or len(name) > 64:
            raise ValueError("name must be 1-64 characters")
        if consent_version is not None and not 1 <= len(consent_version) <= 64:
            raise ValueError("consent_version must be 1-64 characters")
        if tenant is not None:
            tenancy.check_tenant_name(tenant)
        kid, secret = secrets.token_hex(6), secrets.token_urlsafe(24)
        tenant = tenant or kid
        payload: dict[str, Any] = {"key_id": kid, "name": name, "tenant": tenant}
        if consent_version is not None:
            payload["consent_attested"] = consent_version
        with self._tx() as s:
            s.add(
                ApiKey(
                    id=kid,
                    name=name,
                    secret_hash=hashlib.sha256(secret.encode()).hexdigest(),
                    consent_version=consent_version,
                    consent_attested_at=utcnow() if consent_version is not None else None,
                    tenant=tenant,
                )
            )
            chain.append(s, "api_key_created", actor, None, payload, tenant=tenant)
        return f"mr_{kid}_{secret}"

    def attest_api_key_consent(self, kid: str, consent_version: str | None, actor: str = "admin") -> None:
        """Set (or with None, clear) the consent version a key's owner attests; audited."""
        if consent_version is not None and not 1 <= len(consent_version) <= 64:
            raise ValueError("consent_version must be 1-64 characters")
        with self._tx() as s:
            row = s.get(ApiKey, kid)
            if row is None:
                raise NotFound(f"API key {kid} does not exist")
            row.consent_version = consent_version
            row.consent_attested_at = utcnow() if consent_version is not None else None
            chain.append(
                s,
                "api_key_consent_attested",
                actor,
                None,
                {"key_id": kid, "version": consent_version},
                tenant=row.tenant,
            )

    def authenticate_api_key(self, key: str) -> ApiKeyInfo | None:
        """The key when it is valid and not revoked, else None (constant-time comparison)."""
        parts = key.split("_", 2)
        if len(parts) != 3 or parts[0] != "mr":
            return None
        with self._read() as s:
            row = s.get(ApiKey, parts[1])
            if row is None or row.revoked_at is not None:
                return None
            if not hmac.compare_digest(row.secret_hash, hashlib.sha256(parts[2].encode()).hexdigest()):
                return None
            return ApiKeyInfo(row.id, row.name, row.consent_version, bytes.fromhex(row.secret_hash), row.tenant)

    def verify_api_key(self, key: str) -> str | None:
        """The key's id when it is valid and not revoked, else None (constant-time comparison)."""
        info = self.authenticate_api_key(key)
        return info.id if info is not None else None

    def revoke_api_key(self, kid: str, actor: str = "admin") -> None:
        with self._tx() as s:
            row = s.get(ApiKey, kid)
            if row is None:
                raise NotFound(f"API key {kid} does not exist")
            row.revoked_at = utcnow()
            chain.append(s, "api_key_revoked", actor, None, {"key_id": kid}, tenant=row.tenant)

    def api_keys(self) -> list[dict[str, Any]]:
        """Every key's id, name, tenant and state (never a secret or its hash)."""
        with self._read() as s:
            rows = s.execute(select(ApiKey).order_by(ApiKey.tenant, ApiKey.created_at)).scalars().all()
            return [
                {
                    "id": r.id,
                    "name": r.name,
                    "tenant": r.tenant,
                    "consent_version": r.consent_version,
                    "revoked": r.revoked_at is not None,
                }
                for r in rows
            ]

    def tenants(self) -> list[str]:
        """Every tenant that has an API key or a conversation."""
        with self._read() as s:
            keys = s.execute(select(ApiKey.tenant).distinct()).scalars().all()
            convs = s.execute(select(Conversation.tenant).distinct()).scalars().all()
            return sorted({*keys, *convs})

    # ------------------------------------------------------------------ settings and counts
    def count(self, what: str) -> int:
        model = {"conversations": Conversation, "turns": Turn, "audit_events": AuditEvent, "review_items": ReviewItem}[
            what
        ]
        with self._read() as s:
            return int(s.execute(select(func.count()).select_from(model)).scalar_one())


def _visible(s: Session, cid: str, tenant: str | None) -> Conversation:
    """The live conversation, when ``tenant`` (if given) owns it; else NotFound, the same for a conversation that
    does not exist and one of another tenant."""
    conv = s.get(Conversation, cid)
    if conv is None or conv.deleted_at is not None or (tenant is not None and conv.tenant != tenant):
        raise NotFound(f"conversation {cid} does not exist")
    return conv


def _consented(s: Session, cid: str) -> bool:
    """Whether the conversation has a consent record that was not withdrawn."""
    q = select(func.count()).select_from(Consent).where(Consent.conversation_id == cid, Consent.withdrawn_at.is_(None))
    return bool(s.execute(q).scalar_one())


def _deleted(s: Session, stmt: Any) -> int:
    return int(getattr(s.execute(stmt), "rowcount", 0) or 0)


_rowcount = _deleted
"""Rows an UPDATE changed (the same DB-API rowcount)."""


def turn_digest(row: Turn) -> str:
    """SHA-256 over a turn's sealed columns and plain facts, as its audit event records them."""
    h = hashlib.sha256()
    for part in (
        row.conversation_id,
        str(row.seq),
        str(row.level),
        str(row.category),
        ",".join(row.actions or []),
        row.source,
    ):
        h.update(part.encode() + b"\x00")
    for blob in (row.user_enc, row.reply_enc, row.withheld_enc, row.assessment_enc, row.detail_enc):
        h.update(hashlib.sha256(blob or b"").digest())
    return h.hexdigest()
