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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from mindrail.store import Store
from mindrail.store.models import as_utc, utcnow
from mindrail.store.staff import StaffSessionRecord
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
    TRAINER = "trainer"
    """Sees the practice sessions and reports of their tenants' trainees and comments on them (docs/practice.md)."""
    TRAINEE = "trainee"
    """Practises with simulated people; sees only their own sessions. Never sees a person's conversation."""


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


def _staff(record: StaffSessionRecord) -> Staff:
    a = record.account
    return Staff(a.id, a.username, Role(a.role), record.csrf, record.token_hash, a.grants)


_FAILURES = {
    "unknown_user": "wrong username or password",
    "wrong_password": "wrong username or password",
    "locked_now": "wrong username or password",
    "locked": "this account is locked after too many failed attempts; try again later",
}


class Accounts:
    """The console's account rules over the store's staff rows."""

    def __init__(self, store: Store, hasher: PasswordHasher | None = None) -> None:
        self.store = store
        self.hasher = hasher or PasswordHasher()
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
        return self.store.add_staff_user(username, role.value, self.hasher.hash(password), tenants=granted, actor=actor)

    # ------------------------------------------------------------------ tenant grants
    def grant(self, username: str, tenant: str, actor: str = "cli") -> bool:
        """Let ``username`` see ``tenant`` ("*": every tenant). False when it already could; audited."""
        check_grant_name(tenant)
        return self.store.grant_staff(username, tenant, actor)

    def revoke(self, username: str, tenant: str, actor: str = "cli") -> bool:
        """Stop ``username`` seeing ``tenant``. False when it had no such grant; audited. Takes effect on the
        user's next request (grants are read per request)."""
        return self.store.revoke_staff(username, tenant, actor)

    def grants(self, username: str) -> Grants:
        return self.store.staff_grants(username)

    def list_users(self) -> list[dict[str, Any]]:
        now = utcnow()
        return [
            {
                "username": u.username,
                "role": u.role,
                "tenants": sorted(u.grants.tenants),
                "created_at": u.created_at.isoformat(timespec="minutes"),
                "locked": (lk := as_utc(u.locked_until)) is not None and lk > now,
                "disabled": u.disabled_at is not None,
            }
            for u in self.store.staff_accounts()
        ]

    # ------------------------------------------------------------------ login
    def _throttle(self, client: str) -> None:
        """At most ``IP_MAX_ATTEMPTS`` logins per client a minute, counted in the store so that every instance
        behind a load balancer sees the same attempts."""
        window = dt.timedelta(seconds=IP_WINDOW_S)
        if not self.store.note_login_attempt(client, now=utcnow(), window=window, limit=IP_MAX_ATTEMPTS):
            raise RateLimited("too many login attempts; wait a minute and try again")

    def _check(self, password: str) -> Callable[[str | None], str | None]:
        """The password check the store runs on the account's hash: the hash to keep (rehashed when argon2's
        parameters changed) or None. An unknown account is checked against a dummy hash, so timing tells nothing."""

        def check(password_hash: str | None) -> str | None:
            if password_hash is None:
                with contextlib.suppress(VerificationError):
                    self.hasher.verify(self._dummy, password)
                return None
            try:
                self.hasher.verify(password_hash, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return None
            return self.hasher.hash(password) if self.hasher.check_needs_rehash(password_hash) else password_hash

        return check

    def login(self, username: str, password: str, client: str = "unknown") -> tuple[str, Staff]:
        """A new session token (for the cookie) and who logged in. Raises LoginError.

        Failures are committed (counter, lockout, audit event) before the error is raised."""
        self._throttle(client)
        now = utcnow()
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        attempt = self.store.staff_login(
            username,
            self._check(password),
            now=now,
            max_failures=MAX_FAILURES,
            lockout=LOCKOUT,
            new_session=(_hash_token(token), csrf, now + SESSION_TTL),
        )
        if attempt.session is None:
            raise LoginError(_FAILURES[attempt.failure or "unknown_user"])
        return token, _staff(attempt.session)

    def session(self, token: str | None) -> Staff | None:
        """Who holds this session token, if it is valid; sliding idle timeout."""
        if not token:
            return None
        record = self.store.staff_session(_hash_token(token), now=utcnow(), idle=IDLE_TTL)
        return _staff(record) if record is not None else None

    def logout(self, staff: Staff) -> None:
        self.store.end_staff_session(staff.session_token_hash, staff.actor)
