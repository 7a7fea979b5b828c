"""Hardening of the served gateway (issue 11): invalid Unicode and NUL scrubbed at the edge so a turn is still
assessed and recorded (SQLite and PostgreSQL), the body limit enforced on chunked bodies, /v1/screen capped and
run off the event loop, an owner-only SQLite file, Secure console cookies and a CSRF token on login, and an
optional token for /metrics."""

from __future__ import annotations

import asyncio
import json
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.responses import PlainTextResponse
from starlette.types import Message, Receive, Scope, Send

from mindrail.backends.scripted import ScriptedBackend
from mindrail.console.accounts import Accounts
from mindrail.console.app import add_console_routes
from mindrail.gateway.app import MAX_BODY_BYTES, ApiOptions, create_app
from mindrail.gateway.edge import EdgeMiddleware, clean_json
from mindrail.gateway.factory import Settings, api_options
from mindrail.gateway.pipeline import Guard
from mindrail.gateway.recorder import StoreRecorder
from mindrail.gateway.service import Gateway
from mindrail.policy.consent import default_consent
from mindrail.policy.decide import default_policy
from mindrail.risk.engine import RiskEngine
from mindrail.risk.types import Assessment
from mindrail.store import KeyRing, Store
from tests.serving import uvicorn_running

KIND = "That sounds hard. I'm an AI, but I'm here to listen."
CRISIS = "I have the pills in my hand and I'm going to take them all tonight"
PW = "correct horse battery staple"
JSON = {"content-type": "application/json"}
CONSENT = default_consent().version


def _raw(payload: dict[str, Any]) -> bytes:
    """JSON as a client with broken UTF-16 sends it: json.dumps writes a lone surrogate as a \\ud83d escape."""
    return json.dumps(payload).encode("ascii")


@pytest.fixture(params=["sqlite", "postgresql"])
def gw(request: pytest.FixtureRequest, engine: RiskEngine, tmp_path: Path) -> Iterator[Gateway]:
    url = f"sqlite:///{tmp_path / 'm.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    store = Store(url, KeyRing.generate())
    guard = Guard(engine, default_policy(), ScriptedBackend(default=KIND), recorder=StoreRecorder(store))
    yield Gateway(guard, store)
    store.close()


@pytest.fixture()
def sqlite_gw(engine: RiskEngine, tmp_path: Path) -> Gateway:
    store = Store(f"sqlite:///{tmp_path / 'm.db'}", KeyRing.generate())
    return Gateway(Guard(engine, default_policy(), ScriptedBackend(default=KIND), recorder=StoreRecorder(store)), store)


def _client(gw: Gateway, **kw: Any) -> TestClient:
    Accounts(gw.store).add_user("cleo", "clinician", PW)
    app = create_app(gw, require_api_key=False, extra_routes=lambda a: add_console_routes(a, gw), **kw)
    return TestClient(app)


def _start(c: TestClient) -> str:
    r = c.post("/v1/conversations", json={"consent_version": CONSENT, "locale": "en-GB"})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


# ---------------------------------------------------------------------------- invalid Unicode and NUL
def test_crisis_with_a_lone_surrogate_gets_the_protocol_and_is_recorded(gw: Gateway) -> None:
    with _client(gw) as c:
        cid = _start(c)
        text = CRISIS + " \x00 \ud83d"
        r = c.post(
            "/v1/chat/completions",
            content=_raw({"messages": [{"role": "user", "content": text}], "conversation_id": cid}),
            headers=JSON,
        )
    assert r.status_code == 200, r.text
    meta = r.json()["mindrail"]
    assert meta["error"] is None
    assert meta["source"] == "crisis_protocol" and "escalate" in meta["decision"]["actions"]
    turns = gw.store.transcript(cid)
    assert [t["user"] for t in turns] == [CRISIS + "   \ufffd"]  # one for one: NUL a space, the surrogate U+FFFD
    assert gw.store.count("review_items") == 1 and gw.store.verify_audit().ok


def test_streamed_crisis_with_a_lone_surrogate_gets_the_protocol_and_is_recorded(gw: Gateway) -> None:
    with _client(gw) as c:
        cid = _start(c)
        payload = {"messages": [{"role": "user", "content": CRISIS + "\ud83d"}], "conversation_id": cid, "stream": True}
        with c.stream("POST", "/v1/chat/completions", content=_raw(payload), headers=JSON) as r:
            assert r.status_code == 200
            events = [json.loads(ln[6:]) for ln in r.iter_lines() if ln.startswith("data: {")]
    meta = events[-1]["mindrail"]
    assert meta["error"] is None and meta["source"] == "crisis_protocol"
    assert "escalate" in meta["decision"]["actions"]
    assert [t["user"] for t in gw.store.transcript(cid)] == [CRISIS + "\ufffd"]
    assert gw.store.count("review_items") == 1


def test_identifier_fields_refuse_nul_and_broken_unicode_by_name(gw: Gateway) -> None:
    with _client(gw) as c:
        r = c.post("/v1/conversations", content=_raw({"consent_version": CONSENT, "locale": "en\x00GB"}), headers=JSON)
        assert r.status_code in (400, 422) and r.json()["error"]["param"] == "locale"
        r = c.post("/v1/conversations", content=_raw({"consent_version": "consent\ud83d"}), headers=JSON)
        assert r.status_code in (400, 422) and r.json()["error"]["param"] == "consent_version"
        assert "invalid Unicode" in r.json()["error"]["message"]
        r = c.post(
            "/v1/chat/completions",
            content=_raw({"messages": [{"role": "user", "content": "hi"}], "conversation_id": "ab\x00cd"}),
            headers=JSON,
        )
        assert r.status_code in (400, 422) and r.json()["error"]["param"] == "conversation_id"
        # A NUL in the path (percent-encoded) is a space by the time a route looks the conversation up.
        assert c.post("/v1/conversations/ab%00cd/withdraw").status_code == 404
        assert c.get("/v1/conversations/ab%00cd/export").status_code == 404
        cid = _start(c)
        assert c.post(f"/v1/conversations/{cid}/withdraw").status_code == 200
    assert gw.store.count("conversations") == 1 and not gw.store.has_consent(cid)


def test_edge_scrubs_path_query_and_header_values() -> None:
    seen: dict[str, Any] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.update(scope, body=(await receive())["body"])
        await PlainTextResponse("ok")(scope, receive, send)

    edge = EdgeMiddleware(app, max_body_bytes=100, too_large=lambda n: PlainTextResponse("too large", 413))
    sent: list[Message] = []
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/conversations/ab\x00cd/withdraw",
        "query_string": b"locale=en%00GB",
        "headers": [(b"x-mindrail-locale", b"en\x00GB"), (b"content-type", b"application/x-www-form-urlencoded")],
    }

    async def receive() -> Message:
        return {"type": "http.request", "body": b"note=a%00b&x=\x00", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(edge(scope, receive, send))
    assert sent[0]["status"] == 200
    assert seen["path"] == "/v1/conversations/ab cd/withdraw" and seen["query_string"] == b"locale=en%20GB"
    assert (b"x-mindrail-locale", b"en GB") in seen["headers"] and seen["body"] == b"note=a%20b&x= "


def test_screen_accepts_lone_surrogates_and_nul(sqlite_gw: Gateway) -> None:
    with _client(sqlite_gw) as c:
        r = c.post("/v1/screen", content=_raw({"text": "i want to die\ud83d\x00"}), headers=JSON)
        assert r.status_code == 200 and r.json()["assessment"]["top_level"] != "none"
        messages = [
            {"role": "user", "content": "I just lost my job\udc00"},
            {"role": "assistant", "content": "\ud800"},
            {"role": "user", "content": [{"type": "text", "text": "which bridges are tallest?\x00"}]},
        ]
        r = c.post("/v1/screen", content=_raw({"messages": messages}), headers=JSON)
        assert r.status_code == 200 and len(r.json()["assessments"]) == 2


def test_console_login_with_nul_is_a_failed_login(gw: Gateway) -> None:
    """PostgreSQL refuses NUL in a query parameter: the username used to give a 500."""
    with _client(gw) as c:
        r = c.post("/console/login", data=_login_form(c, "cl\x00eo"), follow_redirects=False)  # cl%00eo
        assert r.status_code == 401 and "wrong username or password" in r.text
        multipart = {k: (None, v) for k, v in _login_form(c, "cl\x00eo").items()}  # a raw NUL byte
        r = c.post("/console/login", files=multipart, follow_redirects=False)
        assert r.status_code == 401 and "wrong username or password" in r.text
        assert c.post("/console/login", data=_login_form(c, "cleo"), follow_redirects=False).status_code == 303
    kinds = [e["kind"] for e in gw.store.audit_events(limit=20)]
    assert kinds.count("staff_login_failed") == 2 and kinds.count("staff_login") == 1


def test_clean_json_scrubs_only_what_decodes_to_broken_text() -> None:
    assert clean_json(b'{"a": "\\\\u0000 is text"}') == b'{"a": "\\\\u0000 is text"}'  # an escaped backslash
    assert json.loads(clean_json(b'{"a\\u0000": ["\\uD83D", "\\ud83d\\ude00"]}')) == {"a ": ["\ufffd", "\U0001f600"]}
    assert json.loads(clean_json('{"a": "\ud83d"}'.encode("utf-8", "surrogatepass"))) == {"a": "\ufffd"}  # CESU-8
    assert clean_json(b'{"a": "\\u0000"') == b'{"a": "\\u0000"'  # not JSON: left for the route's 400


# ---------------------------------------------------------------------------- body limit while streaming
def test_chunked_body_without_content_length_is_capped(sqlite_gw: Gateway) -> None:
    def body(total: int) -> Iterator[bytes]:
        payload = json.dumps({"consent_version": CONSENT, "locale": "en-GB"}).encode()
        yield payload[:-1] + b" " * (total - len(payload))  # JSON padded with whitespace
        yield b"}"

    with _client(sqlite_gw) as c:
        r = c.post("/v1/conversations", content=body(MAX_BODY_BYTES + 10), headers=JSON)
        assert r.request.headers.get("transfer-encoding") == "chunked" and "content-length" not in r.request.headers
        assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
        assert c.post("/v1/conversations", content=body(10_000), headers=JSON).status_code == 201


def test_served_gateway_caps_a_chunked_body_as_it_streams(sqlite_gw: Gateway) -> None:
    app = create_app(sqlite_gw, require_api_key=False)
    sent: list[int] = []

    def chunks(n: int) -> Iterator[bytes]:
        yield b'{"text": "'
        for _ in range(n):
            sent.append(1)
            yield b"a" * 65_536
        yield b'"}'

    with uvicorn_running(app) as base, httpx.Client(base_url=base, timeout=30) as c:
        r = c.post("/v1/screen", content=chunks(17), headers=JSON)  # 1.11 MB in 64 KiB chunks
        assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
        assert str(MAX_BODY_BYTES) in r.json()["error"]["message"]
        r = c.post("/v1/screen", content=chunks(0), headers=JSON)
        assert r.status_code == 200


# ---------------------------------------------------------------------------- /v1/screen cap and thread pool
def test_screen_is_capped_with_the_limit_named(sqlite_gw: Gateway) -> None:
    with TestClient(create_app(sqlite_gw, require_api_key=False, options=ApiOptions(screen_max_chars=40))) as c:
        r = c.post("/v1/screen", json={"text": "a calm walk by the river this morning, then tea"})
        err = r.json()["error"]
        assert r.status_code == 413 and err["param"] == "text" and "40 characters" in err["message"]
        messages = [{"role": "user", "content": "hello"}, {"role": "user", "content": "x" * 41}]
        r = c.post("/v1/screen", json={"messages": messages})
        assert r.status_code == 413 and r.json()["error"]["param"] == "messages[1].content"
        assert c.post("/v1/screen", json={"text": "x" * 40}).status_code == 200


class _BlockingEngine:
    """Stands in for the engine: holds each screening until released, counting how many run at once and on which
    threads."""

    def __init__(self, real: RiskEngine) -> None:
        self.real = real
        self.version = real.version
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.active = 0
        self.most = 0
        self.threads: set[int] = set()

    def assess(self, text: str) -> Assessment:
        with self.lock:
            self.active += 1
            self.most = max(self.most, self.active)
            self.threads.add(threading.get_ident())
        self.release.wait(timeout=20)
        with self.lock:
            self.active -= 1
        return self.real.assess(text)


def test_screening_runs_in_worker_threads_a_bounded_number_at_once(
    sqlite_gw: Gateway, engine: RiskEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocking = _BlockingEngine(engine)
    monkeypatch.setattr(sqlite_gw.guard, "engine", blocking)
    loop_threads: set[int] = set()

    def probe(a: FastAPI) -> None:
        @a.get("/loop-thread")
        async def loop_thread() -> dict[str, int]:
            loop_threads.add(threading.get_ident())
            return {}

    app = create_app(sqlite_gw, require_api_key=False, extra_routes=probe, options=ApiOptions(screen_concurrency=2))

    async def scenario() -> tuple[list[httpx.Response], httpx.Response, int]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t", timeout=60) as c:
            screens = [asyncio.create_task(c.post("/v1/screen", json={"text": f"note {i}"})) for i in range(5)]
            for _ in range(1000):  # until both slots are taken
                if blocking.active == 2:
                    break
                await asyncio.sleep(0.01)
            health = await c.get("/healthz")  # answered while both screenings are held
            await c.get("/loop-thread")
            waiting = 5 - blocking.active
            blocking.release.set()
            return list(await asyncio.gather(*screens)), health, waiting

    results, health, waiting = asyncio.run(scenario())
    assert health.status_code == 200 and waiting == 3
    assert [r.status_code for r in results] == [200] * 5
    assert blocking.most == 2 and not blocking.threads & loop_threads


# ---------------------------------------------------------------------------- SQLite file mode
def test_sqlite_database_and_its_wal_are_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "var" / "m.db"
    store = Store(f"sqlite:///{path}", KeyRing.generate())
    store.start_conversation("consent-v1")
    files = [p for p in path.parent.iterdir() if p.name.startswith("m.db")]
    assert {p.name for p in files} >= {"m.db", "m.db-wal"}
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in files} == {p.name: 0o600 for p in files}
    store.close()
    path.chmod(0o644)  # made by an older version: tightened when opened
    Store(f"sqlite:///{path}", KeyRing.generate()).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# ---------------------------------------------------------------------------- console cookies and login CSRF
def _cookies(r: httpx.Response) -> dict[str, str]:
    return {h.split("=", 1)[0]: h.lower() for h in r.headers.get_list("set-cookie")}


def _login_form(c: TestClient, username: str = "cleo", password: str = PW) -> dict[str, str]:
    """The login form's fields as a browser sends them (the page sets the nonce cookie its token signs)."""
    token = c.get("/console/login").text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    return {"username": username, "password": password, "csrf_token": token}


def _login(c: TestClient) -> httpx.Response:
    return c.post("/console/login", data=_login_form(c), follow_redirects=False)


def test_console_cookies_are_secure_over_https_or_behind_a_tls_proxy(sqlite_gw: Gateway) -> None:
    Accounts(sqlite_gw.store).add_user("cleo", "clinician", PW)

    def app(secure_cookie: bool) -> FastAPI:
        return create_app(
            sqlite_gw, extra_routes=lambda a: add_console_routes(a, sqlite_gw, secure_cookie=secure_cookie)
        )

    with TestClient(app(False), base_url="https://console.example") as c:
        r = _login(c)
        assert r.status_code == 303 and "; secure" in _cookies(r)["mr_staff"]
    with TestClient(app(True)) as c:  # plain HTTP from the proxy; the browser speaks HTTPS to the proxy
        page = c.get("/console/login")
        assert "; secure" in _cookies(page)["mr_login"]
        nonce = page.cookies["mr_login"]
        token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        c.cookies.clear()
        r = c.post(
            "/console/login",
            data={"username": "cleo", "password": PW, "csrf_token": token},
            headers={"Cookie": f"mr_login={nonce}"},  # what the browser sends back over HTTPS
            follow_redirects=False,
        )
        assert r.status_code == 303 and "; secure" in _cookies(r)["mr_staff"]
    with TestClient(app(False)) as c:  # plain HTTP on loopback, development
        cookie = _cookies(_login(c))["mr_staff"]
        assert "; secure" not in cookie and "httponly" in cookie and "samesite=strict" in cookie


def test_login_needs_the_forms_csrf_token(sqlite_gw: Gateway) -> None:
    with _client(sqlite_gw) as c:
        creds = {"username": "cleo", "password": PW}
        r = c.post("/console/login", data=creds, follow_redirects=False)  # a forged cross-site form
        assert r.status_code == 403 and "mr_staff" not in _cookies(r)
        token = c.get("/console/login").text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        c.cookies.clear()  # the token without the nonce cookie it signs
        r = c.post("/console/login", data={**creds, "csrf_token": token}, follow_redirects=False)
        assert r.status_code == 403 and "mr_staff" not in _cookies(r)
        c.get("/console/login")  # a fresh nonce: the old token no longer matches
        r = c.post("/console/login", data={**creds, "csrf_token": token}, follow_redirects=False)
        assert r.status_code == 403
        r = _login(c)
        assert r.status_code == 303 and r.headers["location"] == "/console/queue" and "mr_staff" in _cookies(r)
        kinds = [e["kind"] for e in sqlite_gw.store.audit_events(limit=20)]
        assert kinds.count("staff_login") == 1 and "staff_login_failed" not in kinds


# ---------------------------------------------------------------------------- /metrics token
def test_metrics_token_when_configured(sqlite_gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINDRAIL_METRICS_TOKEN", "scrape-me-0f3a")
    options = api_options(Settings(screen_max_chars=123, screen_concurrency=3))
    assert (options.metrics_token, options.screen_max_chars, options.screen_concurrency) == ("scrape-me-0f3a", 123, 3)
    with TestClient(create_app(sqlite_gw, options=options)) as c:
        r = c.get("/metrics")
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert r.json()["error"]["code"] == "invalid_metrics_token"
        assert c.get("/metrics", headers={"Authorization": "Bearer scrape-me-0f3b"}).status_code == 401
        r = c.get("/metrics", headers={"Authorization": "Bearer scrape-me-0f3a"})
        assert r.status_code == 200 and "mindrail_turns_total" in r.text
        assert c.get("/healthz").status_code == 200  # health stays open for load balancers
    monkeypatch.delenv("MINDRAIL_METRICS_TOKEN")
    assert api_options(Settings()).metrics_token is None
