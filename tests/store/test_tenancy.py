"""Tenant isolation (issue 11): every conversation belongs to the tenant of the key that started it, the chat page
is its own tenant, and console staff see only the tenants they are granted.

The matrix tests enumerate the app's routes (``app.routes``): every route is either a conversation route, called
here from another tenant, or listed with the reason it reaches no single conversation, so a new route fails these
tests until it is classified. Each cross-tenant call must get OpenAI's 404, the same body a conversation that does
not exist gets, and change nothing: turns, consent, review items and the audit log stay as they were. Run on
SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import select
from starlette.routing import Mount
from typer.testing import CliRunner

from mindrail.backends.scripted import ScriptedBackend
from mindrail.cli import app as cli
from mindrail.console.accounts import Accounts
from mindrail.console.app import add_console_routes
from mindrail.console.dashboard import compute
from mindrail.console.labels import labelled_examples
from mindrail.console.queue import ReviewQueue
from mindrail.gateway.app import create_app
from mindrail.gateway.chat import COOKIE, Signer, add_chat_routes
from mindrail.gateway.pipeline import Guard
from mindrail.gateway.recorder import StoreRecorder
from mindrail.gateway.service import Gateway
from mindrail.policy.consent import default_consent
from mindrail.policy.decide import Policy, default_policy
from mindrail.policy.schema import PolicyFile
from mindrail.risk.engine import RiskEngine
from mindrail.store import KeyRing, Store
from mindrail.store.audit import GENESIS, canonical
from mindrail.store.models import Conversation, ReviewItem, utcnow
from mindrail.store.tenancy import CHAT_PAGE, Grants

CONSENT = default_consent().version
CRISIS = "I have the pills in my hand and I'm going to take them all tonight"
PW = "correct horse battery staple"
SECRET = b"chat-cookie-secret-for-tests"
TOTALS: dict[str, list[int]] = {}
"""Per backend: [cross-tenant calls, of which 404]; printed at the end of each matrix (run with -s to see them)."""


# ---------------------------------------------------------------------------- setup
def _held_policy() -> Policy:
    """Every reply that calls the model is held for review, so the conversation has a held reply to release."""
    spec = default_policy().spec.model_dump(mode="json", by_alias=True)
    spec["default_actions"] = ["respond", "hold_for_review"]
    return Policy(PolicyFile.model_validate(spec))


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 't.db'}"
    return str(request.getfixturevalue("pg_url"))


@dataclass
class World:
    """Tenant "clinic-a" (keys a1 and a2) with conversation ``a`` (a released held reply not yet delivered, an
    open escalation), key ``b`` in its own tenant with conversation ``b_cid``, the chat page's conversation ``c``,
    and staff: cleo (every tenant), bea (b's tenant and the chat page only), nobody (no grant)."""

    gw: Gateway
    app: FastAPI
    a1: str
    a2: str
    b: str
    a: str
    b_cid: str
    c: str
    items: list[int]

    @property
    def store(self) -> Store:
        return self.gw.store

    def kid(self, key: str) -> str:
        return key.split("_")[1]


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _start(c: TestClient, key: str) -> str:
    r = c.post("/v1/conversations", json={"consent_version": CONSENT, "locale": "en-GB"}, headers=_auth(key))
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _say(c: TestClient, key: str, cid: str, text: str) -> None:
    body = {"messages": [{"role": "user", "content": text}], "conversation_id": cid}
    r = c.post("/v1/chat/completions", json=body, headers=_auth(key))
    assert r.status_code == 200, r.text


def _build(engine: RiskEngine, url: str, *, require_api_key: bool = True, store: Store | None = None) -> Gateway:
    store = store or Store(url, KeyRing.generate())
    guard = Guard(engine, _held_policy(), ScriptedBackend(default="Model draft."), recorder=StoreRecorder(store))
    return Gateway(guard, store)


def _app(gw: Gateway, *, require_api_key: bool = True) -> FastAPI:
    def extra(a: FastAPI) -> None:
        add_chat_routes(a, gw, SECRET)
        add_console_routes(a, gw)

    return create_app(gw, require_api_key=require_api_key, extra_routes=extra)


@pytest.fixture()
def world(engine: RiskEngine, url: str) -> Iterator[World]:
    gw = _build(engine, url)
    store = gw.store
    a1 = store.create_api_key("clinic-a web", tenant="clinic-a")
    a2 = store.create_api_key("clinic-a mobile", tenant="clinic-a")
    b = store.create_api_key("other app")
    acc = Accounts(store)
    acc.add_user("cleo", "clinician", PW, tenants=["*"])
    acc.add_user("bea", "clinician", PW, tenants=[b.split("_")[1], CHAT_PAGE])
    acc.add_user("nobody", "clinician", PW)
    acc.add_user("audra", "auditor", PW, tenants=[b.split("_")[1]])
    app = _app(gw)
    with TestClient(app) as c:
        a = _start(c, a1)
        _say(c, a1, a, "rough week, could you suggest ways to wind down?")  # held for review
        _say(c, a1, a, CRISIS)  # crisis protocol and an escalation
        b_cid = _start(c, b)
        _say(c, b, b_cid, "long day at work")
        r = c.post("/chat/api/start", json={"consent_version": CONSENT}, headers={"X-Mindrail-Chat": "1"})
        assert r.status_code == 200
        c_cid = Signer(SECRET).verify(r.cookies[COOKIE])
        assert c_cid is not None
    queue = ReviewQueue(store)
    items = [it.id for it in queue.items() if it.conversation_id == a]
    hold = next(it for it in queue.items() if it.conversation_id == a and it.kind == "hold")
    queue.claim(hold.id, "cleo")
    queue.release(hold.id, "cleo", "approved", "A walk can help.")  # released, not yet delivered
    assert len(items) == 2
    yield World(gw, app, a1, a2, b, a, b_cid, c_cid, items)
    store.close()


def _state(store: Store, cids: list[str]) -> dict[str, Any]:
    """Everything a cross-tenant call could change: the conversations, their turns, consent and review items, the
    whole audit log and the number of conversations."""
    out: dict[str, Any] = {"conversations": store.count("conversations"), "audit": store.audit_events(limit=100_000)}
    with store.reading() as s:
        for cid in cids:
            conv = s.get(Conversation, cid)
            rows = s.execute(select(ReviewItem).where(ReviewItem.conversation_id == cid).order_by(ReviewItem.id))
            out[cid] = {
                "row": None if conv is None else (conv.turns, conv.top_level, conv.deleted_at, conv.thread_head),
                "items": [
                    (i.status, i.claimed_by, i.acknowledged_at, i.resolved_at, i.outcome, i.released_at, i.delivered_at)
                    for i in rows.scalars()
                ],
            }
    for cid in cids:
        out[cid]["turns"] = store.transcript(cid, include_withheld=True)
        out[cid]["consents"] = store.consents(cid)
        out[cid]["care"] = [(r.kind, r.payload) for r in store.care_records(cid)]
    return out


def _is_openai_404(r: httpx.Response) -> bool:
    if r.status_code != 404:
        return False
    error = r.json().get("error", {})
    return set(error) == {"message", "type", "param", "code"} and error["code"] == "not_found"


# ---------------------------------------------------------------------------- the routes, classified
Call = Callable[[TestClient, str], httpx.Response]
"""One request on a route for the conversation (or review item) given as a string."""


def _chat(where: str, stream: bool) -> Callable[[dict[str, str]], Call]:
    def make(headers: dict[str, str]) -> Call:
        def call(c: TestClient, cid: str) -> httpx.Response:
            body: dict[str, Any] = {"messages": [{"role": "user", "content": "hello again"}], "stream": stream}
            extra = {"X-Mindrail-Conversation": cid} if where == "header" else {}
            if where == "body":
                body["conversation_id"] = cid
            return c.post("/v1/chat/completions", json=body, headers={**headers, **extra})

        return call

    return make


def _api(method: str, path: str, body: dict[str, Any] | None = None) -> Callable[[dict[str, str]], Call]:
    def make(headers: dict[str, str]) -> Call:
        return lambda c, cid: c.request(method, path.format(cid=cid), headers=headers, json=body)

    return make


API_ROUTES: dict[tuple[str, str], list[Callable[[dict[str, str]], Call]]] = {
    ("POST", "/v1/chat/completions"): [
        _chat("body", False),
        _chat("body", True),
        _chat("header", False),
        _chat("header", True),
    ],
    ("POST", "/v1/conversations/{cid}/withdraw"): [_api("POST", "/v1/conversations/{cid}/withdraw")],
    ("GET", "/v1/conversations/{cid}/updates"): [_api("GET", "/v1/conversations/{cid}/updates")],
    ("GET", "/v1/conversations/{cid}/export"): [_api("GET", "/v1/conversations/{cid}/export")],
    ("DELETE", "/v1/conversations/{cid}"): [_api("DELETE", "/v1/conversations/{cid}")],
    ("POST", "/v1/conversations/{cid}/checkins"): [
        _api("POST", "/v1/conversations/{cid}/checkins", {"instrument": "phq9", "values": [1] * 9})
    ],
    ("POST", "/v1/conversations/{cid}/checkins/chat"): [
        _api("POST", "/v1/conversations/{cid}/checkins/chat", {"instrument": "gad7"})
    ],
    ("GET", "/v1/conversations/{cid}/checkins"): [_api("GET", "/v1/conversations/{cid}/checkins")],
    ("POST", "/v1/conversations/{cid}/mood"): [_api("POST", "/v1/conversations/{cid}/mood", {"rating": 5})],
    ("GET", "/v1/conversations/{cid}/safety-plan"): [_api("GET", "/v1/conversations/{cid}/safety-plan")],
    ("PUT", "/v1/conversations/{cid}/safety-plan"): [
        _api("PUT", "/v1/conversations/{cid}/safety-plan", {"sections": {"coping": ["a walk"]}})
    ],
    ("GET", "/v1/conversations/{cid}/fhir"): [_api("GET", "/v1/conversations/{cid}/fhir")],
}
"""API routes that take a conversation (path, body or header), each way it can be named."""


def _cookie(cid: str) -> dict[str, str]:
    return {"Cookie": f"{COOKIE}={Signer(SECRET).sign(cid)}", "X-Mindrail-Chat": "1"}


CHAT_ROUTES: dict[tuple[str, str], Call] = {
    ("POST", "/chat/api/message"): lambda c, cid: c.post(
        "/chat/api/message", json={"text": "hi"}, headers=_cookie(cid)
    ),
    ("GET", "/chat/api/updates"): lambda c, cid: c.get("/chat/api/updates", headers=_cookie(cid)),
    ("POST", "/chat/api/withdraw"): lambda c, cid: c.post("/chat/api/withdraw", headers=_cookie(cid)),
    ("GET", "/chat/api/export"): lambda c, cid: c.get("/chat/api/export", headers=_cookie(cid)),
    ("POST", "/chat/api/delete"): lambda c, cid: c.post("/chat/api/delete", headers=_cookie(cid)),
    ("POST", "/chat/api/care/checkin"): lambda c, cid: c.post(
        "/chat/api/care/checkin", json={"instrument": "gad7", "values": [1] * 7}, headers=_cookie(cid)
    ),
    ("POST", "/chat/api/care/checkin/chat"): lambda c, cid: c.post(
        "/chat/api/care/checkin/chat", json={"instrument": "phq9"}, headers=_cookie(cid)
    ),
    ("POST", "/chat/api/care/mood"): lambda c, cid: c.post(
        "/chat/api/care/mood", json={"rating": 4}, headers=_cookie(cid)
    ),
    ("GET", "/chat/api/care/plan"): lambda c, cid: c.get("/chat/api/care/plan", headers=_cookie(cid)),
    ("PUT", "/chat/api/care/plan"): lambda c, cid: c.put(
        "/chat/api/care/plan", json={"sections": {"coping": ["tea"]}}, headers=_cookie(cid)
    ),
    ("GET", "/chat/trends"): lambda c, cid: c.get("/chat/trends", headers=_cookie(cid)),
}
"""Chat-page routes: the conversation comes from the signed cookie. Here the cookie is signed with the server's
secret for another tenant's conversation (a leaked secret or a bug): the tenant check still answers 404."""


def _console_post(path: str, **data: str) -> Callable[[str], Call]:
    def make(csrf: str) -> Call:
        return lambda c, ref: c.post(path.format(ref=ref), data={"csrf_token": csrf, **data}, follow_redirects=False)

    return make


CONSOLE_ROUTES: dict[tuple[str, str], list[Callable[[str], Call]]] = {
    ("GET", "/console/conversations/{cid}"): [
        lambda csrf: lambda c, ref: c.get(f"/console/conversations/{ref}", follow_redirects=False)
    ],
    ("GET", "/console/conversations/{cid}/fhir"): [
        lambda csrf: lambda c, ref: c.get(f"/console/conversations/{ref}/fhir", follow_redirects=False)
    ],
    ("POST", "/console/items/{item_id}/claim"): [_console_post("/console/items/{ref}/claim")],
    ("POST", "/console/items/{item_id}/acknowledge"): [_console_post("/console/items/{ref}/acknowledge")],
    ("POST", "/console/items/{item_id}/resolve"): [_console_post("/console/items/{ref}/resolve", outcome="other")],
    ("POST", "/console/items/{item_id}/release"): [
        _console_post("/console/items/{ref}/release", release=kind, text="x")
        for kind in ("approved", "edited", "rejected")
    ],
}
"""Console routes that take a conversation or a review item."""

LISTINGS = {
    ("GET", "/console/queue"),
    ("GET", "/console/dashboard"),
    ("GET", "/console/audit"),
}
"""Console pages listing several tenants' data: filtered by grant (test_console_pages_show_only_granted_tenants)."""

NO_CONVERSATION = {
    ("POST", "/v1/conversations"): "creates one, always in the caller's tenant (test_a_new_conversation_...)",
    ("POST", "/chat/api/start"): "creates one, always in the chat page's tenant",
    ("POST", "/v1/screen"): "assesses the text in the request; nothing stored",
    ("GET", "/v1/models"): "the configured model",
    ("GET", "/v1/models/{model:path}"): "the configured model",
    ("GET", "/v1/consent"): "the consent text",
    ("GET", "/healthz"): "process health",
    ("GET", "/metrics"): "process-wide counters, no conversation ids",
    ("GET", "/docs"): "API reference page",
    ("GET", "/openapi.json"): "API reference",
    ("MOUNT", "/docs/assets"): "static files",
    ("GET", "/"): "redirect to /chat",
    ("GET", "/chat"): "the chat page",
    ("GET", "/chat/static/{name}"): "static files",
    ("GET", "/chat/api/care/instrument/{name}"): "a published questionnaire's items and options",
    ("GET", "/console"): "redirect",
    ("GET", "/console/login"): "login form",
    ("POST", "/console/login"): "login",
    ("POST", "/console/logout"): "logout",
    ("GET", "/console/static/console.css"): "static file",
    ("GET", "/console/users"): "staff accounts (admins), no conversation data",
    ("POST", "/console/users"): "adds a staff account",
    # Practice with simulated people (trainee and trainer roles): no conversation of a person is reachable; a
    # trainee reaches only their own sessions (tests/console/test_practice_pages.py).
    ("GET", "/console/practice"): "the trainee's own practice sessions",
    ("POST", "/console/practice"): "starts a practice session",
    ("GET", "/console/practice/progress.png"): "the trainee's own progress plot",
    ("GET", "/console/practice/{sid}"): "a practice session (its trainee only)",
    ("POST", "/console/practice/{sid}/turn"): "a trainee's turn in their own session",
    ("POST", "/console/practice/{sid}/finish"): "finishes the trainee's own session",
    ("GET", "/console/practice/{sid}/report"): "a practice report (its trainee, or a trainer)",
    ("GET", "/console/practice/{sid}/report.json"): "a practice report (its trainee, or a trainer)",
    ("GET", "/console/practice/{sid}/report.html"): "a practice report (its trainee, or a trainer)",
    ("POST", "/console/practice/{sid}/comments"): "a trainer's comment on a practice session",
    ("GET", "/console/trainees"): "every trainee's practice sessions (trainers)",
}


def _routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route, those of included routers too (FastAPI keeps an included router as one
    entry of ``app.routes``; ``iter_route_contexts`` walks into it)."""
    out: set[tuple[str, str]] = set()
    for ctx in iter_route_contexts(app.routes):
        assert ctx.path is not None
        if isinstance(ctx.original_route, Mount):
            out.add(("MOUNT", ctx.path))
        else:
            out |= {(m, ctx.path) for m in (ctx.methods or set()) - {"HEAD"}}
    return out


def test_every_route_is_classified(world: World) -> None:
    """A route added without being put in the matrix (or listed as reaching no conversation) fails here."""
    classified = {*API_ROUTES, *CHAT_ROUTES, *CONSOLE_ROUTES, *LISTINGS, *NO_CONVERSATION}
    routes = _routes(world.app)
    assert routes - classified == set(), "classify the new route in tests/store/test_tenancy.py"
    assert classified - routes == set(), "a classified route no longer exists"


def _count(backend: str, ok: bool) -> None:
    total = TOTALS.setdefault(backend, [0, 0])
    total[0] += 1
    total[1] += int(ok)


def _backend(world: World) -> str:
    return "sqlite" if world.store.is_sqlite else "postgresql"


# ---------------------------------------------------------------------------- the matrices
def test_api_and_chat_routes_from_another_tenant_are_404_and_change_nothing(world: World) -> None:
    """Key b, an app without keys (serve --no-api-key) and the chat page's cookie, against clinic-a's
    conversation (and the API callers against the chat page's): 404 every time, nothing changed; then clinic-a's
    other key does the same calls successfully, so the 404s were the tenant check."""
    store, backend = world.store, _backend(world)
    cids = [world.a, world.c]
    before = _state(store, cids)
    no_key = _app(world.gw, require_api_key=False)
    missing = uuid.uuid4().hex
    calls = 0
    with TestClient(world.app) as c, TestClient(no_key) as open_c:
        callers = [(c, _auth(world.b)), (open_c, {})]
        for client, headers in callers:
            for route, variants in API_ROUTES.items():
                for make in variants:
                    call = make(headers)
                    for target in cids:
                        r = call(client, target)
                        ok = _is_openai_404(r)
                        _count(backend, ok)
                        calls += 1
                        assert ok, (route, r.status_code, r.text[:200])
                        assert r.json() == call(client, missing).json(), route  # indistinguishable from none
        for route, call in CHAT_ROUTES.items():
            r = call(c, world.a)
            ok = _is_openai_404(r)
            _count(backend, ok)
            calls += 1
            assert ok, (route, r.status_code, r.text[:200])
            assert r.json() == call(c, missing).json(), route
        assert _state(store, cids) == before
        # Control: the same calls from clinic-a's other key succeed, and say which key acted.
        mine = _auth(world.a2)
        for make in API_ROUTES[("POST", "/v1/chat/completions")]:
            assert make(mine)(c, world.a).status_code == 200
        assert c.get(f"/v1/conversations/{world.a}/updates", headers=mine).json()["released"]  # the held reply
        assert c.get(f"/v1/conversations/{world.a}/export", headers=mine).status_code == 200
        assert c.post(f"/v1/conversations/{world.a}/withdraw", headers=mine).status_code == 200
        assert c.delete(f"/v1/conversations/{world.a}", headers=mine).status_code == 200
        assert CHAT_ROUTES[("GET", "/chat/api/export")](c, world.c).status_code == 200
    events = store.audit_events(world.a, limit=1000)
    acted = {e["kind"]: e["actor"] for e in reversed(events)}  # the latest of each kind
    key_a2 = f"api_key:{world.kid(world.a2)}"
    for kind in ("turn", "hold_delivered", "data_exported", "consent_withdrawn", "conversation_deleted"):
        assert acted[kind] == key_a2, kind
    assert {e["tenant"] for e in events} == {"clinic-a"}
    assert store.verify_audit().ok
    assert calls == 2 * 15 * 2 + 11
    print(f"\n[{backend}] API and chat page: {calls} cross-tenant calls, {TOTALS[backend][1]} got 404")


def _login(c: TestClient, user: str) -> str:
    """Log in as ``user``; the session's CSRF token."""
    page = c.get("/console/login").text
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    r = c.post("/console/login", data={"username": user, "password": PW, "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    return c.get("/console/dashboard").text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def test_console_routes_for_staff_not_granted_the_tenant_are_404_and_change_nothing(world: World) -> None:
    """bea (granted b's tenant and the chat page) and nobody (no grant) against clinic-a's conversation and its
    two review items: 404 every time, nothing changed; cleo (every tenant) then claims an item."""
    store, backend = world.store, _backend(world)
    calls = 0
    for user in ("bea", "nobody"):
        with TestClient(world.app) as c:
            csrf = _login(c, user)
            before = _state(store, [world.a])
            for route, variants in CONSOLE_ROUTES.items():
                refs = [world.a] if "{cid}" in route[1] else [str(i) for i in world.items]
                missing = uuid.uuid4().hex if "{cid}" in route[1] else "999999"
                for make in variants:
                    call = make(csrf)
                    for ref in refs:
                        r = call(c, ref)
                        ok = _is_openai_404(r)
                        _count(backend, ok)
                        calls += 1
                        assert ok, (user, route, r.status_code, r.text[:200])
                        assert r.json() == call(c, missing).json(), route
            assert _state(store, [world.a]) == before
    with TestClient(world.app) as c:
        csrf = _login(c, "cleo")
        escalation = max(world.items)
        r = c.post(f"/console/items/{escalation}/claim", data={"csrf_token": csrf}, follow_redirects=False)
        assert r.status_code == 303
        assert c.get(f"/console/conversations/{world.a}").status_code == 200
    claimed = [e for e in store.audit_events(world.a) if e["kind"] == "review_claimed"]
    assert claimed[0]["actor"] == "staff:cleo" and claimed[0]["tenant"] == "clinic-a"
    assert calls == 2 * (2 + 6 * 2)
    print(f"\n[{backend}] console: {calls} cross-tenant calls, all 404; running total {TOTALS[backend]}")


def test_console_pages_show_only_granted_tenants(world: World) -> None:
    """Queue, held replies, dashboard figures and the audit log of a member of staff cover their grants only."""
    store = world.store
    b_tenant = world.kid(world.b)
    with TestClient(world.app) as c:
        _login(c, "bea")
        queue = c.get("/console/queue").text
        dashboard = c.get("/console/dashboard?days=7").text
    assert world.a not in queue and "clinic-a" not in queue and world.b_cid in queue  # b's held reply only
    assert '<td id="fig-conversations">2</td>' in dashboard  # b's and the chat page's, not clinic-a's
    assert '<td id="fig-crisis">0</td>' in dashboard
    with TestClient(world.app) as c:
        _login(c, "audra")
        audit = c.get("/console/audit").text
    assert world.a[:8] not in audit and "clinic-a" not in audit and world.b_cid[:8] in audit
    with TestClient(world.app) as c:
        _login(c, "cleo")
        everything = c.get("/console/dashboard?days=7").text
        assert world.a in c.get("/console/queue").text
    assert '<td id="fig-conversations">3</td>' in everything
    with TestClient(world.app) as c:
        _login(c, "nobody")
        assert "not granted any tenant" in c.get("/console/queue").text
    grants = Grants.of([b_tenant])
    now = utcnow()
    assert compute(store, now.replace(year=now.year - 1), now, grants=grants).conversations == 1
    assert {it.conversation_id for it in ReviewQueue(store).items(grants=grants)} == {world.b_cid}
    assert ReviewQueue(store).pending_reply(min(world.items), grants) is None


def test_label_export_covers_granted_tenants_only(world: World) -> None:
    queue = ReviewQueue(store := world.store)
    escalation = next(it for it in queue.items() if it.kind == "escalation")
    queue.claim(escalation.id, "cleo")
    queue.resolve(escalation.id, "cleo", "referred")

    class Plain:
        def redact(self, text: str, vault: Any) -> str:
            return text

    assert len(list(labelled_examples(store, Plain(), dict, Grants.of(["clinic-a"])))) == 1
    assert list(labelled_examples(store, Plain(), dict, Grants.of([world.kid(world.b), CHAT_PAGE]))) == []


def test_a_new_conversation_lands_in_the_callers_tenant(world: World) -> None:
    with TestClient(world.app) as c:
        cid = _start(c, world.a2)
        mine = c.get(f"/v1/conversations/{cid}/export", headers=_auth(world.a1))  # same tenant, other key
        assert mine.status_code == 200
        assert _is_openai_404(c.get(f"/v1/conversations/{cid}/export", headers=_auth(world.b)))
    info = world.store.conversation_info(cid)
    assert info["tenant"] == "clinic-a" and info["client"] == world.kid(world.a2)
    assert world.store.conversation_info(world.b_cid)["tenant"] == world.kid(world.b)  # one tenant per key
    assert world.store.conversation_info(world.c)["tenant"] == CHAT_PAGE
    given = next(e for e in world.store.audit_events(cid) if e["kind"] == "consent_given")
    assert given["actor"] == f"api_key:{world.kid(world.a2)}" and given["tenant"] == "clinic-a"
    exported = next(e for e in world.store.audit_events(cid) if e["kind"] == "data_exported")
    assert exported["actor"] == f"api_key:{world.kid(world.a1)}"


def test_chat_page_events_name_the_person_and_the_chat_page_tenant(world: World) -> None:
    with TestClient(world.app) as c:
        r = c.post("/chat/api/message", json={"text": "long day"}, headers=_cookie(world.c))
        assert r.status_code == 200
    events = world.store.audit_events(world.c)
    assert {(e["actor"], e["tenant"]) for e in events} == {("person", CHAT_PAGE)}
    assert {"consent_given", "turn"} <= {e["kind"] for e in events}


# ---------------------------------------------------------------------------- migration and the audit chain
def _old_event(seq: int, prev: str, cid: str | None) -> dict[str, Any]:
    """An audit event as mindrail wrote it before tenants existed (no tenant in the hash)."""
    at = utcnow()
    digest = hashlib.sha256(canonical(seq, at, "consent_given", "person", cid, {}, prev)).hexdigest()
    return {"seq": seq, "at": at, "kind": "consent_given", "actor": "person", "cid": cid, "prev": prev, "h": digest}


def test_migration_keeps_existing_isolation_and_old_audit_events_verify(url: str) -> None:
    keys = KeyRing.generate()
    store = Store(url, keys, migrate=False)
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("mindrail.store").joinpath("migrations")))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0005")
    events = [_old_event(1, GENESIS, "conv-k1")]
    events.append(_old_event(2, events[0]["h"], "conv-chat"))
    now = utcnow()
    payload = ":payload" if store.is_sqlite else "CAST(:payload AS JSON)"
    with store.engine.begin() as conn:
        for kid in ("k1", "k2"):
            conn.execute(
                sa.text("INSERT INTO api_keys (id, name, secret_hash, created_at) VALUES (:id, 'app', 'x', :at)"),
                {"id": kid, "at": now},
            )
        for cid, client in (("conv-k1", "k1"), ("conv-chat", "chat-page"), ("conv-none", None)):
            conn.execute(
                sa.text(
                    "INSERT INTO conversations (id, created_at, client, top_level, turns) VALUES (:id, :at, :c, 0, 0)"
                ),
                {"id": cid, "at": now, "c": client},
            )
        conn.execute(
            sa.text(
                "INSERT INTO staff_users (username, role, password_hash, created_at, failed_logins) "
                "VALUES ('old', 'clinician', 'x', :at, 0)"
            ),
            {"at": now},
        )
        for e in events:
            conn.execute(
                sa.text(
                    "INSERT INTO audit_events (seq, at, kind, actor, conversation_id, payload, prev_hash, hash) "
                    f"VALUES (:seq, :at, :kind, :actor, :cid, {payload}, :prev, :h)"
                ),
                {**e, "payload": "{}"},
            )
        conn.execute(sa.text("INSERT INTO audit_head (id, seq, hash) VALUES (1, 2, :h)"), {"h": events[1]["h"]})
    store.migrate()
    assert {k["id"]: k["tenant"] for k in store.api_keys()} == {"k1": "k1", "k2": "k2"}
    tenants = {cid: store.conversation_info(cid)["tenant"] for cid in ("conv-k1", "conv-chat", "conv-none")}
    assert tenants == {"conv-k1": "k1", "conv-chat": CHAT_PAGE, "conv-none": "default"}
    assert Accounts(store).grants("old").everything  # existing staff keep seeing everything
    assert store.verify_audit().ok  # events from before the migration verify unchanged
    store.audit("note", "cli", "conv-k1")
    new = store.audit_events(limit=1)[0]
    assert new["tenant"] == "k1" and store.verify_audit().ok
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_events SET tenant = 'k2' WHERE seq = 1"))
        conn.execute(sa.text("UPDATE audit_events SET tenant = NULL WHERE seq = 3"))
    problems = store.verify_audit().problems
    assert any("seq 1" in p and "edited" in p for p in problems)
    assert any("seq 3" in p and "edited" in p for p in problems)
    store.close()


# ---------------------------------------------------------------------------- CLI
def test_cli_tenants_keys_and_grants(tmp_path: Path) -> None:
    runner = CliRunner()
    keys, db = tmp_path / "keys.json", f"sqlite:///{tmp_path / 'm.db'}"
    opts = ["--db", db, "--key-file", str(keys)]
    assert runner.invoke(cli, ["keys", "init", str(keys)]).exit_code == 0
    first = runner.invoke(cli, ["apikeys", "create", "web", "--tenant", "clinic-a", *opts])
    assert first.exit_code == 0, first.output
    assert runner.invoke(cli, ["apikeys", "create", "mobile", "--tenant", "clinic-a", *opts]).exit_code == 0
    assert runner.invoke(cli, ["apikeys", "create", "own", *opts]).exit_code == 0
    assert runner.invoke(cli, ["apikeys", "create", "sneaky", "--tenant", "chat-page", *opts]).exit_code == 2
    listed = runner.invoke(cli, ["apikeys", "list", *opts]).stdout
    assert listed.count("clinic-a") == 2
    add = ["users", "add", "cleo", "--role", "clinician", "--password-stdin", *opts]
    assert runner.invoke(cli, add, input=PW + "\n").exit_code == 2  # which tenants must be said
    assert runner.invoke(cli, [*add, "--tenant", "clinic-a"], input=PW + "\n").exit_code == 0
    store = Store(db, KeyRing.load(keys))
    accounts = Accounts(store)
    assert accounts.grants("cleo").tenants == {"clinic-a"}
    r = runner.invoke(cli, ["staff", "list", *opts])
    assert r.exit_code == 0 and "no clinician sees" in r.output  # the own-tenant key
    assert runner.invoke(cli, ["staff", "grant", "cleo", "--all-tenants", *opts]).exit_code == 0
    assert accounts.grants("cleo").everything
    assert runner.invoke(cli, ["staff", "revoke", "cleo", "clinic-a", *opts]).exit_code == 0
    assert accounts.grants("cleo").tenants == {"*"}
    assert runner.invoke(cli, ["staff", "grant", "ghost", "clinic-a", *opts]).exit_code == 2
    out = tmp_path / "labels.jsonl"
    r = runner.invoke(cli, ["export", "labels", "--out", str(out), "--staff", "cleo", *opts])
    assert r.exit_code == 0, r.output
    kinds = {e["kind"]: e for e in store.audit_events(limit=100)}
    assert kinds["labels_exported"]["actor"] == "staff:cleo"
    assert kinds["staff_grant_added"]["tenant"] == "*" and kinds["staff_grant_revoked"]["tenant"] == "clinic-a"
    assert store.verify_audit().ok
    store.close()
