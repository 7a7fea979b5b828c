"""Tenants: whose conversations a caller may reach.

Every conversation belongs to one tenant, fixed when it starts: the tenant of the API key that started it (a key's
own id unless ``mindrail apikeys create NAME --tenant T`` put it in a shared tenant), :data:`CHAT_PAGE` for the
person's chat page, or :data:`DEFAULT` for conversations started without a key (``serve --no-api-key``, code).
A caller of another tenant is told the conversation does not exist, so ids leak nothing.

Console staff see the tenants they are granted (``staff_grants``); :data:`ALL` grants every tenant.

Audit actors name who acted: ``api_key:<id>`` for an app, ``staff:<username>`` for console staff, ``person`` for
the person on the chat page, and fixed names for mindrail itself (``gateway``, ``console``, ``cli``, ``keys``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import false, true

CHAT_PAGE: Final = "chat-page"
"""The person's chat page: its own tenant, reachable only through its signed cookie."""
DEFAULT: Final = "default"
"""Conversations started without an API key: ``mindrail serve --no-api-key``, benchmarks, code."""
ALL: Final = "*"
"""A staff grant to every tenant (``mindrail staff grant USER --all-tenants``)."""
RESERVED: Final = frozenset({CHAT_PAGE, ALL})
"""Names an API key's tenant may not take: an app must never reach the chat page's conversations."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def check_tenant_name(name: str) -> str:
    """``name`` if it may be an API key's tenant, else ValueError (1-64 letters, digits, '.', '-', '_')."""
    if not _NAME.match(name):
        raise ValueError("tenant: 1-64 letters, digits, '.', '-' or '_', starting with a letter or digit")
    if name in RESERVED:
        raise ValueError(f"tenant: {name!r} is reserved")
    return name


def check_grant_name(name: str) -> str:
    """``name`` if staff may be granted it: :data:`ALL`, :data:`CHAT_PAGE` or any tenant name."""
    if name != ALL and not _NAME.match(name):
        raise ValueError("tenant: 1-64 letters, digits, '.', '-' or '_' (or * for every tenant)")
    return name


def key_actor(key_id: str) -> str:
    return f"api_key:{key_id}"


def staff_actor(username: str) -> str:
    return f"staff:{username}"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who acts on a conversation through the gateway: the tenant whose conversations it reaches, the audit actor,
    and the conversation ``client`` column it writes (API key id, "chat-page" or None)."""

    tenant: str
    actor: str
    client: str | None


CHAT_PAGE_CALLER: Final = Caller(CHAT_PAGE, "person", CHAT_PAGE)
NO_KEY_CALLER: Final = Caller(DEFAULT, "api:no-key", None)
"""API calls when keys are not required: they reach only conversations started the same way."""


def api_caller(key_id: str, tenant: str) -> Caller:
    return Caller(tenant, key_actor(key_id), key_id)


@dataclass(frozen=True, slots=True)
class Grants:
    """The tenants a staff member may see."""

    tenants: frozenset[str]

    @classmethod
    def of(cls, tenants: Iterable[str]) -> Grants:
        return cls(frozenset(tenants))

    @property
    def everything(self) -> bool:
        return ALL in self.tenants

    def allows(self, tenant: str | None) -> bool:
        return self.everything or (tenant is not None and tenant in self.tenants)

    def shares(self, other: Grants) -> bool:
        """Whether these grants and ``other`` have a tenant in common (either granted every tenant counts): a
        trainer reviews only the trainees of their own tenants."""
        return self.everything or other.everything or bool(self.tenants & other.tenants)

    def clause(self, column: Any) -> Any:
        """A SQL condition on a tenant ``column``: true for every row the grants cover."""
        if self.everything:
            return true()
        if not self.tenants:
            return false()
        return column.in_(sorted(self.tenants))


EVERYTHING: Final = Grants(frozenset({ALL}))
