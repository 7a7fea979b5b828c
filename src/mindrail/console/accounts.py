"""Staff accounts and server-side sessions for the console.

Passwords are hashed with argon2id (argon2-cffi's defaults). Logins are rate limited per account: after
``MAX_FAILURES`` wrong passwords in a row the account is locked for ``LOCKOUT``; per client address a sliding
window limits attempts too, so guessing across many usernames is slowed as well. A session is a random token in a
cookie; only its SHA-256 is stored, with a per-session CSRF token. Logging in always creates a new session (no
session fixation).

Staff see only the tenants they are granted (``staff_grants``, store.tenancy); "*" grants every tenant. A new
account has no grant unless one is given, so adding a tenant never shows its conversations to staff by accident.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import secrets
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from mindrail.store import NotFound, Store
from mindrail.store.models import StaffGrant, StaffSession, StaffUser, utcnow
from mindrail.store.tenancy import Grants, check_grant_name, staff_actor

MAX_FAILURES = 5
LOCKOUT = dt.timedelta(minutes=15)
SESSION_TTL = dt.timedelta(hours=8)
IDLE_TTL = dt.timedelta(minutes=30)
IP_WINDOW_S = 60.0
IP_MAX_ATTEMPTS = 20
MIN_PASSWORD = 12


class Role(StrEnum):
    ADMIN = "admin"
    CLINICIAN = "clinician"
    AUDITOR = "auditor"


class LoginError(Exception):
    """A failed login. The message is safe to show: it never says whether the username exists."""


class RateLimited(LoginError):
    pass


@dataclass(frozen=True, slots=True)
class Staff:
    id: int
    username: str
    role: Role
    csrf: str
    session_token_hash: str
    grants: Grants = field(default_factory=lambda: Grants(frozenset()))
    """The tenants this member of staff sees (read at every request, so a grant or revocation applies at once)."""

    @property
    def actor(self) -> str:
        """How the audit log names them."""
        return staff_actor(self.username)


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _utc(ts: dt.datetime | None) -> dt.datetime | None:
    return ts if ts is None or ts.tzinfo else ts.replace(tzinfo=dt.UTC)


class Accounts:
    def __init__(self, store: Store, hasher: PasswordHasher | None = None) -> None:
        self.store = store
        self.hasher = hasher or PasswordHasher()
        self._ip_attempts: dict[str, deque[float]] = defaultdict(deque)
        self._ip_lock = threading.Lock()
        # A hash to verify against for unknown usernames, so timing does not reveal which names exist.
        self._dummy = self.hasher.hash(secrets.token_urlsafe(16))

    # ------------------------------------------------------------------ users
    def add_user(
        self, username: str, role: Role | str, password: str, actor: str = "cli", *, tenants: Iterable[str] = ()
    ) -> int:
        """A new account, granted ``tenants`` ("*" for every tenant; none: it sees no conversation until granted)."""
        role = Role(role)
        granted = sorted({check_grant_name(t) for t in tenants})
        if (
            not username
            or len(username) > 64
            or not username.replace("-", "").replace("_", "").replace(".", "").isalnum()
        ):
            raise ValueError("username: 1-64 letters, digits, '.', '-' or '_'")
        if len(password) < MIN_PASSWORD:
            raise ValueError(f"password: at least {MIN_PASSWORD} characters")
        with self.store.transaction() as s:
            if s.execute(select(StaffUser).where(StaffUser.username == username)).scalar_one_or_none():
                raise ValueError(f"username {username!r} is taken")
            user = StaffUser(username=username, role=role.value, password_hash=self.hasher.hash(password))
            s.add(user)
            s.flush()
            for tenant in granted:
                s.add(StaffGrant(user_id=user.id, tenant=tenant))
            payload = {"user": username, "role": role.value, "tenants": granted}
            self.store.append_audit(s, "staff_user_added", actor, None, payload)
            return int(user.id)

    # ------------------------------------------------------------------ tenant grants
    def _user(self, s: Session, username: str) -> StaffUser:
        user = s.execute(select(StaffUser).where(StaffUser.username == username)).scalar_one_or_none()
        if user is None:
            raise NotFound(f"no staff user {username!r}")
        return user

    def grant(self, username: str, tenant: str, actor: str = "cli") -> bool:
        """Let ``username`` see ``tenant`` ("*": every tenant). False when it already could; audited."""
        check_grant_name(tenant)
        with self.store.transaction() as s:
            user = self._user(s, username)
            if s.get(StaffGrant, (user.id, tenant)) is not None:
                return False
            s.add(StaffGrant(user_id=user.id, tenant=tenant))
            self.store.append_audit(s, "staff_grant_added", actor, None, {"user": username}, tenant=tenant)
            return True

    def revoke(self, username: str, tenant: str, actor: str = "cli") -> bool:
        """Stop ``username`` seeing ``tenant``. False when it had no such grant; audited. Takes effect on the
        user's next request (grants are read per request)."""
        with self.store.transaction() as s:
            user = self._user(s, username)
            row = s.get(StaffGrant, (user.id, tenant))
            if row is None:
                return False
            s.delete(row)
            self.store.append_audit(s, "staff_grant_revoked", actor, None, {"user": username}, tenant=tenant)
            return True

    def grants(self, username: str) -> Grants:
        with self.store.reading() as s:
            return _grants(s, self._user(s, username).id)

    def list_users(self) -> list[dict[str, Any]]:
        now = utcnow()
        with self.store.reading() as s:
            rows = s.execute(select(StaffUser).order_by(StaffUser.username)).scalars().all()
            return [
                {
                    "username": u.username,
                    "role": u.role,
                    "tenants": sorted(_grants(s, u.id).tenants),
                    "created_at": u.created_at.isoformat(timespec="minutes"),
                    "locked": (lk := _utc(u.locked_until)) is not None and lk > now,
                    "disabled": u.disabled_at is not None,
                }
                for u in rows
            ]

    def count_users(self) -> int:
        with self.store.reading() as s:
            return len(s.execute(select(StaffUser.id)).all())

    # ------------------------------------------------------------------ login
    def _throttle(self, client: str) -> None:
        now = time.monotonic()
        with self._ip_lock:
            q = self._ip_attempts[client]
            while q and now - q[0] > IP_WINDOW_S:
                q.popleft()
            if len(q) >= IP_MAX_ATTEMPTS:
                raise RateLimited("too many login attempts; wait a minute and try again")
            q.append(now)

    def login(self, username: str, password: str, client: str = "unknown") -> tuple[str, Staff]:
        """A new session token (for the cookie) and who logged in. Raises LoginError.

        Failures are committed (counter, lockout, audit event) before the error is raised."""
        self._throttle(client)
        now = utcnow()
        failure: str | None = None
        with self.store.transaction() as s:
            user = s.execute(select(StaffUser).where(StaffUser.username == username)).scalar_one_or_none()
            if user is None or user.disabled_at is not None:
                with contextlib.suppress(VerificationError):
                    self.hasher.verify(self._dummy, password)
                self.store.append_audit(s, "staff_login_failed", "console", None, {"reason": "unknown_user"})
                failure = "wrong username or password"
            elif (locked := _utc(user.locked_until)) is not None and locked > now:
                self.store.append_audit(s, "staff_login_failed", staff_actor(user.username), None, {"reason": "locked"})
                failure = "this account is locked after too many failed attempts; try again later"
            else:
                try:
                    self.hasher.verify(user.password_hash, password)
                except (VerifyMismatchError, VerificationError, InvalidHashError):
                    user.failed_logins += 1
                    reason = "wrong_password"
                    if user.failed_logins >= MAX_FAILURES:
                        user.locked_until = now + LOCKOUT
                        user.failed_logins = 0
                        reason = "locked_now"
                    self.store.append_audit(
                        s, "staff_login_failed", staff_actor(user.username), None, {"reason": reason}
                    )
                    failure = "wrong username or password"
            if failure is None:
                assert user is not None
                if self.hasher.check_needs_rehash(user.password_hash):
                    user.password_hash = self.hasher.hash(password)
                user.failed_logins, user.locked_until = 0, None
                token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
                s.add(
                    StaffSession(
                        token_hash=_hash_token(token), user_id=user.id, csrf_token=csrf, expires_at=now + SESSION_TTL
                    )
                )
                self.store.append_audit(s, "staff_login", staff_actor(user.username), None, {"role": user.role})
                staff = Staff(user.id, user.username, Role(user.role), csrf, _hash_token(token), _grants(s, user.id))
        if failure is not None:
            raise LoginError(failure)
        return token, staff

    def session(self, token: str | None) -> Staff | None:
        """Who holds this session token, if it is valid; sliding idle timeout."""
        if not token:
            return None
        now = utcnow()
        with self.store.transaction() as s:
            row = s.get(StaffSession, _hash_token(token))
            if row is None:
                return None
            expires, last = _utc(row.expires_at), _utc(row.last_seen)
            assert expires is not None and last is not None
            if expires <= now or now - last > IDLE_TTL:
                s.delete(row)
                return None
            user = s.get(StaffUser, row.user_id)
            if user is None or user.disabled_at is not None:
                s.delete(row)
                return None
            row.last_seen = now
            return Staff(user.id, user.username, Role(user.role), row.csrf_token, row.token_hash, _grants(s, user.id))

    def logout(self, staff: Staff) -> None:
        with self.store.transaction() as s:
            s.execute(delete(StaffSession).where(StaffSession.token_hash == staff.session_token_hash))
            self.store.append_audit(s, "staff_logout", staff.actor, None, {})


def _grants(s: Session, user_id: int) -> Grants:
    return Grants.of(s.execute(select(StaffGrant.tenant).where(StaffGrant.user_id == user_id)).scalars())
