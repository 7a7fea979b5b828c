"""FastAPI dependencies shared by the gateway's routers: what ``create_app`` put in ``app.state`` and the calling
app's API key. The routes are module-level functions on ``APIRouter``s (``gateway.app.router``,
``openai_compat.router``, ``chat.router``), so each can be imported, read and tested on its own; the factory only
builds this state."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

from mindrail.gateway.service import Gateway
from mindrail.store import ApiKeyInfo
from mindrail.store.tenancy import NO_KEY_CALLER, Caller, api_caller

bearer = HTTPBearer(auto_error=False, description="An API key from `mindrail apikeys create` (mr_<id>_<secret>).")


def gateway_of(request: Request) -> Gateway:
    """The app's :class:`Gateway` (``app.state.gateway``)."""
    gateway: Gateway = request.app.state.gateway
    return gateway


async def api_key(request: Request, creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> ApiKeyInfo | None:
    """The caller's API key (401 in OpenAI's shape otherwise), or None when keys are not required
    (``app.state.require_api_key``)."""
    if not request.app.state.require_api_key:
        return None
    if creds is None or creds.scheme.lower() != "bearer":
        raise HTTPException(401, "missing API key (Authorization: Bearer mr_...)")
    info = await asyncio.to_thread(gateway_of(request).store.authenticate_api_key, creds.credentials.strip())
    if info is None:
        raise HTTPException(401, "invalid or revoked API key")
    return info


async def api_key_id(key: ApiKeyInfo | None = Depends(api_key)) -> str | None:
    """The calling key's id (None without keys)."""
    return key.id if key is not None else None


async def caller_of(key: ApiKeyInfo | None = Depends(api_key)) -> Caller:
    """The calling app: its key's tenant and audit actor (without keys, the "default" tenant)."""
    return api_caller(key.id, key.tenant) if key is not None else NO_KEY_CALLER


@dataclass(frozen=True, slots=True)
class OwnedConversation:
    """The conversation a path names, known to belong to the caller's tenant."""

    cid: str
    caller: Caller
    gateway: Gateway


async def owned_conversation(
    cid: str, caller: Caller = Depends(caller_of), gateway: Gateway = Depends(gateway_of)
) -> OwnedConversation:
    """The path's conversation if it is the caller's tenant's; another tenant's is NotFound (404), as if it did not
    exist."""
    await gateway.check_tenant(cid, caller)
    return OwnedConversation(cid, caller, gateway)
