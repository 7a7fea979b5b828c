"""The gateway service: conversations (consented, owned by the tenant of the caller that started them, cached,
rebuilt from the store after a restart), drop-in threads (gateway.threads), guarded turns and their token usage.
The HTTP layer (app.py) is a thin shell around it.

Every method that acts for a caller takes its :class:`~mindrail.store.tenancy.Caller`: another tenant's
conversation is NotFound (404), and the audit events name the caller's actor. ``caller=None`` is mindrail's own
code (tests, benchmarks), which reaches every conversation."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from mindrail.backends.base import ChatMessage, GenerationOptions, approx_tokens
from mindrail.care.safety_plan import SafetyPlan
from mindrail.gateway import threads
from mindrail.gateway.care import CareState, restore_checkin, restore_inquiry
from mindrail.gateway.jobs import JobRunner, JobSettings
from mindrail.gateway.notify import Notifier
from mindrail.gateway.pipeline import Guard, OnDecided, Session, Source, TurnResult
from mindrail.policy.consent import default_consent
from mindrail.risk.types import Level
from mindrail.screening import replay
from mindrail.store import ApiKeyInfo, ConsentRequired, NotFound, Store
from mindrail.store.errors import DuplicateTurn
from mindrail.store.tenancy import Caller, api_caller

log = logging.getLogger("mindrail.gateway")


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    default_locale: str | None = None
    consent_version: str = "mindrail-consent-v1"
    max_cached_sessions: int = 2000
    max_message_chars: int = 20_000
    hold_timeout_s: float = 300.0
    """A held reply nobody approved within this time is replaced by the safe fallback with resources."""
    max_tokens_cap: int = 1024
    """A client's ``max_tokens`` above this is lowered to it (OpenAI apps often ask for far more)."""
    max_replayed_messages: int = 50
    """Drop-in: at most this many earlier user messages of an unmatched history are assessed first."""
    sla_minutes: Mapping[Level, int] | None = None
    """Review SLA per level (default ``gateway.jobs.DEFAULT_SLA_MINUTES``): overdue items are marked and notified."""
    jobs: JobSettings = field(default_factory=JobSettings)


def _stored_turn(turn: dict[str, Any]) -> tuple[tuple[str, str], tuple[str, str]]:
    """A stored turn (``Store.transcript``) as the two messages :func:`~mindrail.screening.replay` reads."""
    return ("user", turn["user"]), ("assistant", turn["reply"])


class ConsentNotAttested(ValueError):
    """A request names no conversation and its API key attests no (still accepted) consent version."""


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.turns = Counter(
            "mindrail_turns", "Guarded turns by where the reply came from", ["source"], registry=self.registry
        )
        self.latency = Histogram(
            "mindrail_turn_seconds",
            "Gateway time per turn, model included",
            buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.failed_closed = Counter(
            "mindrail_failed_closed", "Turns answered with the safe fallback", ["stage"], registry=self.registry
        )
        self.crisis = Counter("mindrail_crisis_protocols", "Crisis protocols run", registry=self.registry)

    def observe(self, result: TurnResult, seconds: float) -> None:
        self.turns.labels(result.source.value).inc()
        self.latency.observe(seconds)
        if result.source == Source.CRISIS_PROTOCOL:
            self.crisis.inc()
        if result.error:
            self.failed_closed.labels(result.error.split(":", 1)[0]).inc()


class Gateway:
    def __init__(
        self,
        guard: Guard,
        store: Store,
        config: GatewayConfig | None = None,
        *,
        vault_loader: Callable[[dict[str, Any]], Any] | None = None,
        notifiers: Sequence[Notifier] = (),
    ) -> None:
        """``notifiers``: the channels escalations are sent on; the recorder must enqueue a job for each
        (``StoreRecorder(store, channels=...)``), and ``jobs`` (started by the app) delivers them."""
        self.guard = guard
        self.store = store
        self.config = config or GatewayConfig()
        self.metrics = Metrics()
        self.jobs = JobRunner(
            store,
            notifiers,
            fallback=self.fallback_text,
            hold_timeout_s=self.config.hold_timeout_s,
            sla_minutes=self.config.sla_minutes,
            settings=self.config.jobs,
            registry=self.metrics.registry,
        )
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._loading: dict[str, asyncio.Lock] = {}
        self._tenants: OrderedDict[str, str] = OrderedDict()
        self._vault_loader = vault_loader

    # ------------------------------------------------------------------ conversations
    async def start(self, consent_version: str, locale: str | None, caller: Caller) -> str:
        """A consented conversation of ``caller``'s tenant."""
        return await asyncio.to_thread(
            self.store.start_conversation,
            consent_version,
            locale=locale or self.config.default_locale,
            client=caller.client,
            actor=caller.actor,
            tenant=caller.tenant,
        )

    async def session(self, cid: str, locale: str | None = None) -> Session:
        """The cached session, or one rebuilt from the stored transcript (risk state replayed, history restored)."""
        cached = self._sessions.get(cid)
        if cached is not None and await asyncio.to_thread(self.store.turn_count, cid) != cached.stored_turns:
            # Another instance answered this conversation since: its risk state must be rebuilt from the store.
            self._sessions.pop(cid, None)
            cached = None
        if cached is not None:
            self._sessions.move_to_end(cid)
            if locale:
                cached.locale = locale
            return cached
        lock = self._loading.setdefault(cid, asyncio.Lock())
        async with lock:
            if cid in self._sessions:
                return self._sessions[cid]
            if not await asyncio.to_thread(self.store.has_consent, cid):
                raise ConsentRequired(f"conversation {cid} has no active consent")
            info = await asyncio.to_thread(self.store.conversation_info, cid)
            turns = await asyncio.to_thread(self.store.transcript, cid)
            session = self.guard.new_session(cid, locale or info["locale"] or self.config.default_locale)
            session.stored_turns = info["turns"]
            await asyncio.to_thread(replay, session.state, [m for t in turns for m in _stored_turn(t)])
            for t in turns:
                session.history += [ChatMessage("user", t["user"]), ChatMessage("assistant", t["reply"])]
            if self.guard.care is not None:
                session.care = await asyncio.to_thread(self._care_state, cid)
            if self._vault_loader is not None:
                stored = await asyncio.to_thread(self.store.load_vault, cid)
                if stored is not None:
                    session.vault = self._vault_loader(stored)
            self._sessions[cid] = session
            while len(self._sessions) > self.config.max_cached_sessions:
                self._sessions.popitem(last=False)
            self._loading.pop(cid, None)
            return session

    def _care_state(self, cid: str) -> CareState:
        """The care tools' state as the store left it: the last inquiry snapshot, and the latest safety plan."""
        state = CareState()
        inquiries = self.store.care_records(cid, "inquiry")
        if inquiries:
            state.inquiry, state.inquired_at = restore_inquiry(inquiries[-1].payload)
        plans = self.store.care_records(cid, "safety_plan")
        if plans:
            state.plan = SafetyPlan.model_validate(plans[-1].payload)
        checkins = self.store.care_records(cid, "checkin")
        if checkins:
            state.last_checkin = checkins[-1].at
        progress = self.store.care_records(cid, "checkin_progress")
        if progress and (not checkins or progress[-1].id > checkins[-1].id):
            state.checkin = restore_checkin(progress[-1].payload)
        return state

    def forget(self, cid: str) -> None:
        self._sessions.pop(cid, None)
        self._tenants.pop(cid, None)

    async def check_tenant(self, cid: str, caller: Caller | None) -> None:
        """Raise NotFound unless ``cid`` exists and belongs to ``caller``'s tenant: another tenant's conversation
        is indistinguishable from one that does not exist. A conversation's tenant never changes, so it is
        cached."""
        tenant = self._tenants.get(cid)
        if tenant is None:
            tenant = (await asyncio.to_thread(self.store.conversation_info, cid))["tenant"]
            self._tenants[cid] = tenant
            while len(self._tenants) > self.config.max_cached_sessions:
                self._tenants.popitem(last=False)
        if caller is not None and tenant != caller.tenant:
            raise NotFound(f"conversation {cid} does not exist")

    # ------------------------------------------------------------------ drop-in threads
    async def open_thread(
        self,
        key: ApiKeyInfo,
        user: str | None,
        prior: Sequence[threads.Message],
        new: Sequence[str],
        locale: str | None,
    ) -> threads.Thread:
        """The conversation for a request that names none (see gateway.threads), claimed for this request.
        ``prior``: the app's user/assistant messages before ``new``, this request's user messages."""
        consent = key.consent_version
        if consent is None or consent not in default_consent().known_versions:
            raise ConsentNotAttested(key.id)
        history = (*prior, *(("user", t) for t in new))
        marker = threads.pending_marker()
        if prior:
            head = threads.digest(key.digest_key, user, prior)
            cid = await asyncio.to_thread(self.store.claim_thread, key.id, head, marker)
            if cid is not None:
                return threads.Thread(cid, key.digest_key, user, history, marker, head)
        cid = await asyncio.to_thread(
            self.store.start_conversation,
            consent,
            locale=locale or self.config.default_locale,
            client=key.id,
            actor=api_caller(key.id, key.tenant).actor,
            attested_by=key.id,
            thread_head=marker,
            tenant=key.tenant,
        )
        replay = tuple(t for role, t in prior if role == "user")[-self.config.max_replayed_messages :]
        return threads.Thread(cid, key.digest_key, user, history, marker, None, replay, created=True)

    async def close_thread(self, thread: threads.Thread, reply: str | None) -> None:
        """Move the head past this turn (``reply``: what the app was sent), or put it back when the turn did not
        finish. Never raises: a head left pending only means the app's next request starts a new conversation."""
        head = thread.head_after(reply) if reply is not None else thread.previous
        try:
            await asyncio.to_thread(self.store.set_thread_head, thread.cid, head, expected=thread.marker)
        except Exception as exc:
            log.warning("thread head not moved (%s)", type(exc).__name__)

    # ------------------------------------------------------------------ usage
    async def usage(self, result: TurnResult, read: Sequence[str]) -> dict[str, int]:
        """OpenAI ``usage`` in the backend's tokens. Prompt: what the model was sent, or when no model was called
        (crisis protocol, fallback) the user text mindrail read (``read``). Completion: what the app was sent; the
        backend's own count when that is the model's text unchanged, else counted."""
        backend = self.guard.backend

        def count(texts: Sequence[str]) -> int:
            try:
                return sum(backend.count_tokens(t) for t in texts)
            except Exception as exc:  # bookkeeping never fails a turn
                log.warning("token count failed (%s)", type(exc).__name__)
                return sum(approx_tokens(t) for t in texts)

        meta = result.backend
        reported_prompt = meta.get("prompt_tokens")
        reported_completion = meta.get("completion_tokens") if meta.get("model_text_shown") else None
        prompt = reported_prompt if isinstance(reported_prompt, int) else await asyncio.to_thread(count, read)
        completion = (
            reported_completion
            if isinstance(reported_completion, int)
            else await asyncio.to_thread(count, [result.reply])
        )
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    async def withdraw(self, cid: str, caller: Caller | None = None) -> None:
        """Withdraw consent; the tenant is checked in the same transaction, so another's changes nothing."""
        if caller is None:
            await asyncio.to_thread(self.store.withdraw_consent, cid)
        else:
            await asyncio.to_thread(self.store.withdraw_consent, cid, caller.actor, tenant=caller.tenant)
        self.forget(cid)

    async def delete(self, cid: str, caller: Caller | None = None) -> dict[str, int]:
        if caller is None:
            counts = await asyncio.to_thread(self.store.delete_conversation, cid)
        else:
            counts = await asyncio.to_thread(self.store.delete_conversation, cid, caller.actor, tenant=caller.tenant)
        self.forget(cid)
        return counts

    async def export(self, cid: str, caller: Caller | None = None) -> dict[str, Any]:
        if caller is None:
            return await asyncio.to_thread(self.store.export, cid)
        return await asyncio.to_thread(self.store.export, cid, caller.actor, tenant=caller.tenant)

    async def updates(self, cid: str, caller: Caller | None = None) -> list[dict[str, Any]]:
        """Replies released since the person last asked: approved, edited or rejected by a clinician, or the safe
        fallback when nobody acted in time. Each is delivered once and added to the conversation's history."""
        tenant = caller.tenant if caller is not None else None
        await asyncio.to_thread(self.store.conversation_info, cid, tenant=tenant)  # NotFound for another tenant
        await asyncio.to_thread(self.store.expire_holds, self.jobs.hold_timeout, self.fallback_text)
        actor = caller.actor if caller is not None else "gateway"
        released = await asyncio.to_thread(self.store.take_released, cid, actor)
        cached = self._sessions.get(cid)
        if cached is not None:
            for r in released:
                cached.history.append(ChatMessage("assistant", r["text"]))
        return released

    # ------------------------------------------------------------------ turns
    def fallback_text(self, locale: str | None) -> str:
        """The safe reply with resources, in ``locale`` (or the default)."""
        return self.guard.policy.message("fallback", locale or self.config.default_locale)

    async def replayed(self, cid: str, request_key: str | None) -> TurnResult | None:
        """The turn a request with this idempotency key already made, as its reply was sent, or None."""
        if request_key is None:
            return None
        stored = await asyncio.to_thread(self.store.turn_by_key, cid, request_key)
        if stored is None:
            return None
        return TurnResult(
            stored["reply"], Source(stored["source"]), None, None, backend={"replayed_turn": stored["seq"]}
        )

    async def _settled(self, cid: str, result: TurnResult, request_key: str | None) -> TurnResult:
        """A turn that could not be recorded because another instance recorded the same request first (a retry
        raced its original): this session's state counted the message twice, so it is dropped, and the reply is
        the recorded turn's."""
        if request_key is None or not (result.error or "").startswith(f"record:{DuplicateTurn.__name__}"):
            return result
        self._sessions.pop(cid, None)
        return await self.replayed(cid, request_key) or result

    def _fallback(self, locale: str | None, stage: str, exc: BaseException) -> TurnResult:
        log.warning("turn failed closed at %s (%s)", stage, type(exc).__name__)
        return TurnResult(
            self.guard.policy.message("fallback", locale),
            Source.FALLBACK,
            None,
            None,
            error=f"{stage}:{type(exc).__name__}",
        )

    async def _open(self, cid: str, locale: str | None, t0: float) -> Session | TurnResult:
        """The session, or the safe fallback when loading it fails for any reason but missing consent."""
        try:
            return await self.session(cid, locale)
        except (ConsentRequired, NotFound):
            raise
        except Exception as exc:
            result = self._fallback(locale, "session", exc)
            self.metrics.observe(result, time.perf_counter() - t0)
            return result

    async def turn(
        self,
        cid: str,
        text: str,
        locale: str | None = None,
        earlier: Sequence[str] = (),
        *,
        options: GenerationOptions | None = None,
        app_prompt: str | None = None,
        caller: Caller | None = None,
        request_key: str | None = None,
    ) -> TurnResult:
        """One guarded turn. ``caller``: who sent it (its tenant is checked; its actor is audited).
        ``request_key``: the client's idempotency key; a request already answered gets its recorded reply again."""
        t0 = time.perf_counter()
        if caller is not None:
            await self.check_tenant(cid, caller)
        done = await self.replayed(cid, request_key)
        if done is not None:
            return done
        session = await self._open(cid, locale, t0)
        if isinstance(session, TurnResult):
            return session
        actor = caller.actor if caller is not None else "gateway"
        result = await self.guard.turn(
            session, text, earlier, options=options, app_prompt=app_prompt, actor=actor, request_key=request_key
        )
        self.metrics.observe(result, time.perf_counter() - t0)
        return await self._settled(cid, result, request_key)

    async def stream(
        self,
        cid: str,
        text: str,
        locale: str | None = None,
        earlier: Sequence[str] = (),
        *,
        options: GenerationOptions | None = None,
        app_prompt: str | None = None,
        on_decided: OnDecided | None = None,
        caller: Caller | None = None,
        request_key: str | None = None,
    ) -> AsyncIterator[str | TurnResult]:
        """A streamed guarded turn; ``caller`` and ``request_key`` as in :meth:`turn` (a request already answered
        streams its recorded reply as one piece)."""
        t0 = time.perf_counter()
        if caller is not None:
            await self.check_tenant(cid, caller)
        done = await self.replayed(cid, request_key)
        if done is not None:
            yield done.reply
            yield done
            return
        session = await self._open(cid, locale, t0)
        if isinstance(session, TurnResult):
            yield session.reply
            yield session
            return
        actor = caller.actor if caller is not None else "gateway"
        stream = self.guard.stream_turn(
            session,
            text,
            earlier,
            options=options,
            app_prompt=app_prompt,
            on_decided=on_decided,
            actor=actor,
            request_key=request_key,
        )
        async for item in stream:
            if isinstance(item, TurnResult):
                self.metrics.observe(item, time.perf_counter() - t0)
                item = await self._settled(cid, item, request_key)
            yield item
