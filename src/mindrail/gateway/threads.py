"""Drop-in mode: which conversation a request belongs to when the app does not say.

An unmodified OpenAI app sends no conversation id; it resends the whole history on every request. The request is
matched to the conversation whose *thread head* equals a digest of the history it resends: after each turn the
head becomes the digest of that history plus the new user message(s) and the reply mindrail gave, which is
exactly what the app will resend next time. So a stateless app lands in the same conversation turn after turn,
and a history that matches no head (a first message, an edited or regenerated turn, a history the app trimmed, a
restart mid-turn) starts a new conversation in which the resent user messages are assessed first, so no risk
context is lost.

The digest is an HMAC keyed per API key (a conversation of one app is never found from another's key, and the
stored head says nothing about the text), over the user and assistant messages with whitespace collapsed, scoped
by the OpenAI ``user`` field when the app sends one (two people who open with the same words never share a
conversation). A head is claimed with a compare-and-set before the turn and moved after it, so two requests
resending the same history never continue the same conversation at once: the second one starts a new one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

Message = tuple[str, str]
"""(role, text): only "user" and "assistant" messages make up a thread."""


def normalise(text: str) -> str:
    """Whitespace collapsed, so an app that trims or re-wraps what it stores still matches."""
    return " ".join(text.split())


def digest(key: bytes, user: str | None, messages: Sequence[Message]) -> str:
    """The thread head for ``messages`` (hex SHA-256 HMAC), scoped by the app's ``user`` field."""
    body = json.dumps(
        {"user": user, "messages": [[role, normalise(text)] for role, text in messages]},
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hmac.new(key, body.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def pending_marker() -> str:
    """What a claimed head holds while its turn runs: matches no digest, so nobody else claims it."""
    return "pending:" + secrets.token_hex(16)


@dataclass(frozen=True, slots=True)
class Thread:
    """A drop-in conversation claimed for one request."""

    cid: str
    key: bytes
    user: str | None
    history: tuple[Message, ...]
    """The app's history up to and including this request's new user messages."""
    marker: str
    previous: str | None
    """The head before the claim (None for a new conversation): put back if the turn does not finish."""
    replay: tuple[str, ...] = ()
    """Earlier user messages of a history no conversation matched: assessed before the new message."""
    created: bool = False

    def head_after(self, reply: str) -> str:
        return digest(self.key, self.user, (*self.history, ("assistant", reply)))
