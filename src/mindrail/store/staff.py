"""Console staff as the store keeps them: accounts, tenant grants and server-side sessions. The console decides
the rules (password hashing and checking, lockout and session lifetimes, rate limits) and passes them in; the
store reads and writes the rows and audits each change in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from mindrail.store import audit as chain
from mindrail.store.errors import NotFound
from mindrail.store.models import ClientLoginAttempt, StaffGrant, StaffSession, StaffUser, as_utc
from mindrail.store.tenancy import Grants, staff_actor

if TYPE_CHECKING:
    from mindrail.store.crypto import KeyRing


@dataclass(frozen=True, slots=True)
class StaffAccount:
    """A member of staff and the tenants they are granted (read afresh each time)."""

    id: int
    username: str
    role: str
    grants: Grants
    created_at: dt.datetime
    disabled_at: dt.datetime | None
    locked_until: dt.datetime | None


@dataclass(frozen=True, slots=True)
class StaffSessionRecord:
    account: StaffAccount
    csrf: str
    token_hash: str


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """The outcome of ``staff_login``: the new session, or why there is none ("unknown_user", "locked",
    "wrong_password", "locked_now"; the audit event records the same reason)."""

    session: StaffSessionRecord | None
    failure: str | None = None


def _grants(s: Session, user_id: int) -> Grants:
    return Grants.of(s.execute(select(StaffGrant.tenant).where(StaffGrant.user_id == user_id)).scalars())


def _account(s: Session, u: StaffUser) -> StaffAccount:
    return StaffAccount(u.id, u.username, u.role, _grants(s, u.id), u.created_at, u.disabled_at, u.locked_until)


def _by_name(s: Session, username: str) -> StaffUser | None:
    return s.execute(select(StaffUser).where(StaffUser.username == username)).scalar_one_or_none()


def _user(s: Session, username: str) -> StaffUser:
    user = _by_name(s, username)
    if user is None:
        raise NotFound(f"no staff user {username!r}")
    return user


class StaffAccounts:
    """The store's staff methods (``Store`` inherits them)."""

    if TYPE_CHECKING:
        keys: KeyRing

        def _tx(self) -> AbstractContextManager[Session]: ...
        def _read(self) -> AbstractContextManager[Session]: ...

    def add_staff_user(
        self, username: str, role: str, password_hash: str, *, tenants: Iterable[str], actor: str
    ) -> int:
        """A new account granted ``tenants``; ValueError when the name is taken."""
        granted = sorted(tenants)
        with self._tx() as s:
            if _by_name(s, username) is not None:
                raise ValueError(f"username {username!r} is taken")
            user = StaffUser(username=username, role=role, password_hash=password_hash)
            s.add(user)
            s.flush()
            for tenant in granted:
                s.add(StaffGrant(user_id=user.id, tenant=tenant))
            payload = {"user": username, "role": role, "tenants": granted}
            chain.append(s, "staff_user_added", actor, None, payload)
            return int(user.id)

    def grant_staff(self, username: str, tenant: str, actor: str) -> bool:
        """False when ``username`` already had the grant; audited."""
        with self._tx() as s:
            user = _user(s, username)
            if s.get(StaffGrant, (user.id, tenant)) is not None:
                return False
            s.add(StaffGrant(user_id=user.id, tenant=tenant))
            chain.append(s, "staff_grant_added", actor, None, {"user": username}, tenant=tenant)
            return True

    def revoke_staff(self, username: str, tenant: str, actor: str) -> bool:
        """False when ``username`` had no such grant; audited."""
        with self._tx() as s:
            user = _user(s, username)
            row = s.get(StaffGrant, (user.id, tenant))
            if row is None:
                return False
            s.delete(row)
            chain.append(s, "staff_grant_revoked", actor, None, {"user": username}, tenant=tenant)
            return True

    def staff_grants(self, username: str) -> Grants:
        with self._read() as s:
            return _grants(s, _user(s, username).id)

    def staff_accounts(self) -> list[StaffAccount]:
        """Every account, by username."""
        with self._read() as s:
            rows = s.execute(select(StaffUser).order_by(StaffUser.username)).scalars().all()
            return [_account(s, u) for u in rows]

    def staff_login(
        self,
        username: str,
        check: Callable[[str | None], str | None],
        *,
        now: dt.datetime,
        max_failures: int,
        lockout: dt.timedelta,
        new_session: tuple[str, str, dt.datetime],
    ) -> LoginAttempt:
        """One login attempt, committed with its audit event whatever the outcome. ``check(password_hash)``
        verifies the password against the account's hash (None for an unknown or disabled account, so the caller
        can spend the same time) and returns the hash to keep (rehashed if needed), or None when it is wrong; a
        locked account is not checked. ``max_failures`` wrong passwords in a row lock the account for ``lockout``.
        ``new_session``: (token hash, CSRF token, expiry) of the session a success opens."""
        with self._tx() as s:
            user = _by_name(s, username)
            if user is None or user.disabled_at is not None:
                check(None)
                chain.append(s, "staff_login_failed", "console", None, {"reason": "unknown_user"})
                return LoginAttempt(None, "unknown_user")
            actor = staff_actor(user.username)
            if (locked := as_utc(user.locked_until)) is not None and locked > now:
                chain.append(s, "staff_login_failed", actor, None, {"reason": "locked"})
                return LoginAttempt(None, "locked")
            kept = check(user.password_hash)
            if kept is None:
                user.failed_logins += 1
                reason = "wrong_password"
                if user.failed_logins >= max_failures:
                    user.locked_until = now + lockout
                    user.failed_logins = 0
                    reason = "locked_now"
                chain.append(s, "staff_login_failed", actor, None, {"reason": reason})
                return LoginAttempt(None, reason)
            user.password_hash = kept
            user.failed_logins, user.locked_until = 0, None
            token_hash, csrf, expires = new_session
            s.add(StaffSession(token_hash=token_hash, user_id=user.id, csrf_token=csrf, expires_at=expires))
            chain.append(s, "staff_login", actor, None, {"role": user.role})
            return LoginAttempt(StaffSessionRecord(_account(s, user), csrf, token_hash))

    def staff_session(self, token_hash: str, *, now: dt.datetime, idle: dt.timedelta) -> StaffSessionRecord | None:
        """The live session with this token hash, its idle timer restarted; an expired, idle or orphaned session
        (account gone or disabled) is removed and None."""
        with self._tx() as s:
            row = s.get(StaffSession, token_hash)
            if row is None:
                return None
            expires, last = as_utc(row.expires_at), as_utc(row.last_seen)
            assert expires is not None and last is not None
            if expires <= now or now - last > idle:
                s.delete(row)
                return None
            user = s.get(StaffUser, row.user_id)
            if user is None or user.disabled_at is not None:
                s.delete(row)
                return None
            row.last_seen = now
            return StaffSessionRecord(_account(s, user), row.csrf_token, row.token_hash)

    def end_staff_session(self, token_hash: str, actor: str) -> None:
        with self._tx() as s:
            s.execute(delete(StaffSession).where(StaffSession.token_hash == token_hash))
            chain.append(s, "staff_logout", actor, None, {})

    def note_login_attempt(self, client: str, *, now: dt.datetime, window: dt.timedelta, limit: int) -> bool:
        """Count a login attempt from ``client`` (an address, stored only as a keyed hash): False, and nothing
        recorded, when ``limit`` attempts already fell within ``window``. Older attempts are pruned as it goes.
        Shared by every instance, so the limit holds however many there are."""
        digest = hmac.new(self.keys.derive("login-attempts"), client.encode(), hashlib.sha256).hexdigest()
        with self._tx() as s:
            s.execute(
                delete(ClientLoginAttempt).where(
                    ClientLoginAttempt.client_hash == digest, ClientLoginAttempt.at < now - window
                )
            )
            recent = s.execute(
                select(func.count()).select_from(ClientLoginAttempt).where(ClientLoginAttempt.client_hash == digest)
            ).scalar_one()
            if recent >= limit:
                return False
            s.add(ClientLoginAttempt(client_hash=digest, at=now))
            return True
