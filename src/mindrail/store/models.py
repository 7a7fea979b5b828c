"""Tables. Anything a person wrote or a model replied, and every assessment (health information), is stored
sealed (``*_enc`` columns, AES-GCM, see crypto.py). Plain columns hold only what operations need to query:
ids, times, levels, actions, statuses.

The schema is created and changed only by Alembic migrations (store/migrations); tests check the models and
the migrations agree.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, overload

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@overload
def as_utc(ts: dt.datetime) -> dt.datetime: ...
@overload
def as_utc(ts: None) -> None: ...
def as_utc(ts: dt.datetime | None) -> dt.datetime | None:
    """A stored timestamp as an aware UTC datetime: SQLite hands back naive ones for timezone-aware columns."""
    return ts if ts is None or ts.tzinfo else ts.replace(tzinfo=dt.UTC)


class Base(DeclarativeBase):
    pass


class Conversation(Base):
    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    locale: Mapped[str | None] = mapped_column(String(16))
    client: Mapped[str | None] = mapped_column(String(64))
    """API key id or "chat-page": who started it (no personal data)."""
    tenant: Mapped[str] = mapped_column(String(64), index=True, default="default")
    """Whose conversation it is (store.tenancy): the starting key's tenant, "chat-page" or "default" (a row added
    without one, as code and benchmarks do). Callers of another tenant get 404; staff see it only with a grant."""
    top_level: Mapped[int] = mapped_column(Integer, default=0)
    """Highest risk level seen so far (Level int), for queues and dashboards."""
    turns: Mapped[int] = mapped_column(Integer, default=0)
    """Turns recorded so far (the person's messages; docs/architecture.md, "Turns"): the last ``Turn.seq``."""
    vault_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    """The privacy vault (placeholder → identifier), sealed."""
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    thread_head: Mapped[str | None] = mapped_column(String(64), index=True)
    """For conversations an app reaches without naming them ("drop-in" mode): a keyed digest of the transcript as
    the app will resend it, so its next request finds this conversation. Never text; see gateway.threads."""


class Consent(Base):
    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    text_version: Mapped[str] = mapped_column(String(64))
    given_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Turn(Base):
    """One user message and what happened: assessment, decision, reply shown, reply withheld, checks."""

    __tablename__ = "turns"
    __table_args__ = (
        UniqueConstraint("conversation_id", "seq"),
        Index("ux_turns_request_key", "conversation_id", "request_key", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    """The turn number: the person's messages as recorded in this conversation, from 1 (docs/architecture.md,
    "Turns"). The console, review items, audit events and notifications all show this number."""
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    level: Mapped[int] = mapped_column(Integer, default=0)
    category: Mapped[str | None] = mapped_column(String(32))
    actions: Mapped[list[str]] = mapped_column(JSON, default=list)
    source: Mapped[str] = mapped_column(String(32))
    user_enc: Mapped[bytes] = mapped_column(LargeBinary)
    reply_enc: Mapped[bytes] = mapped_column(LargeBinary)
    withheld_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    assessment_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    detail_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    """Decision, reply-check verdict and backend metadata, sealed (levels are health information)."""
    request_key: Mapped[str | None] = mapped_column(String(64))
    """The client's ``Idempotency-Key`` for the request that made this turn: a retry of that request (its
    response lost to a dead instance or a dropped connection) gets this turn back instead of a second one. Unique
    per conversation (index ``ux_turns_request_key``)."""


class ReviewItem(Base):
    """An escalation or a held reply waiting for a clinician (the console works the queue)."""

    __tablename__ = "review_items"
    __table_args__ = (Index("ix_review_open", "status", "level"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    turn_seq: Mapped[int] = mapped_column(Integer)
    """The turn (``Turn.seq``) it is about."""
    kind: Mapped[str] = mapped_column(String(16))
    """"escalation" or "hold"."""
    level: Mapped[int] = mapped_column(Integer)
    category: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(String(32))
    note_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    release_kind: Mapped[str | None] = mapped_column(String(16))
    """For held replies: approved, edited, rejected or timed_out."""
    release_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    """The text released to the person, sealed."""
    released_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    overdue_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    """When the item passed its level's review SLA still open or claimed (set once, by whichever instance's
    sweep saw it first: gateway.jobs)."""


class Job(Base):
    """Background work that must happen once across every gateway instance (an escalation's webhook or e-mail):
    written in the transaction that makes it due, claimed with ``FOR UPDATE SKIP LOCKED`` under a lease, and
    finished by the instance that holds the lease (store.jobs). Payloads hold facts and ids, never text."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_due", "status", "run_after"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    """Which handler runs it: a notifier's name ("webhook", "email")."""
    key: Mapped[str] = mapped_column(String(128), unique=True)
    """What makes it once: e.g. ``escalation:<item>:webhook``; a second enqueue of the same key is ignored."""
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    """pending, done or failed (gave up after its attempts)."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    run_after: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    locked_by: Mapped[str | None] = mapped_column(String(96))
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    done_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(String(64))
    """The last failed attempt's error type (never a message: it could quote a response)."""


class ClientLoginAttempt(Base):
    """A console login attempt from one client, kept for the per-client rate limit's window: in the database so
    every instance counts the same attempts. The client address is stored only as a keyed hash."""

    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_client_at", "client_hash", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CareRecord(Base):
    """A care tool's record (docs/care.md): a check-in, a mood rating, a safety plan version or a risk inquiry's
    answer. What the person gave is sealed in ``payload_enc``; plain columns hold only what listing needs."""

    __tablename__ = "care_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    """"checkin" (a finished check-in), "checkin_progress" (one taken by chat, so far), "mood", "safety_plan" or
    "inquiry"."""
    instrument: Mapped[str | None] = mapped_column(String(16))
    """For check-ins: "phq9" or "gad7"."""
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    payload_enc: Mapped[bytes] = mapped_column(LargeBinary)


class AuditEvent(Base):
    """Append-only, hash-chained. ``payload`` holds references and non-sensitive facts only, never text."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(48), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    conversation_id: Mapped[str | None] = mapped_column(String(40), index=True)
    tenant: Mapped[str | None] = mapped_column(String(64), index=True)
    """The tenant the event concerns (its conversation's, or an API key's); None for install-wide events and for
    every event written before tenancy existed. Hashed only when set, so older events verify unchanged."""
    payload: Mapped[dict[str, object]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHead(Base):
    """One row: the chain's last seq and hash. Appends lock it, which serialises writers across processes, and
    verification compares it with the last event so a truncated tail is detected."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    hash: Mapped[str] = mapped_column(String(64))


class ApiKey(Base):
    """API keys for apps calling the gateway. Only a hash of the secret is kept; the key is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    consent_version: Mapped[str | None] = mapped_column(String(64))
    """The consent text version the key's owner attests every person using the app accepted: requests on this key
    without a conversation start (or continue) consented conversations on their own."""
    consent_attested_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    """The tenant whose conversations the key reaches: its own id unless created with ``--tenant``."""


class StaffUser(Base):
    """Clinicians, auditors and admins of the console. Passwords are argon2id hashes; nothing else is kept."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class StaffGrant(Base):
    """A tenant a staff member may see in the console; tenant "*" grants every tenant."""

    __tablename__ = "staff_grants"

    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    granted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class StaffSession(Base):
    """Server-side sessions: the cookie holds a random token; only its SHA-256 is stored."""

    __tablename__ = "staff_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class Setting(Base):
    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class PracticeSessionRow(Base):
    """A trainee's practice session (docs/practice.md). The simulated person is rebuilt from the card, the seed
    and the trainee's turns (the state machine is deterministic), so any instance can serve the next turn. What
    the trainee typed and the finished report are sealed; plain columns hold only what listing needs."""

    __tablename__ = "practice_sessions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    trainee: Mapped[str] = mapped_column(String(64), index=True)
    card_id: Mapped[str] = mapped_column(String(64))
    seed: Mapped[int] = mapped_column(Integer, default=0)
    feedback_on: Mapped[bool] = mapped_column(Boolean, default=True)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    rating: Mapped[str | None] = mapped_column(String(16))
    turns: Mapped[int] = mapped_column(Integer, default=0)
    turns_enc: Mapped[bytes] = mapped_column(LargeBinary)
    report_enc: Mapped[bytes | None] = mapped_column(LargeBinary)


class PracticeComment(Base):
    """A trainer's comment on a practice session (sealed)."""

    __tablename__ = "practice_comments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("practice_sessions.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    text_enc: Mapped[bytes] = mapped_column(LargeBinary)
