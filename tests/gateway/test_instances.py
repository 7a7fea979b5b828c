"""Gateway instances sharing one store: a retried request (Idempotency-Key) is one turn, a conversation answered by
another instance is rebuilt before this one answers it again, and the job runner each app starts delivers an
escalation's notice once. In-process: two Gateway objects on one database stand for two processes (the
multi-process check with SIGKILL is tests/gateway/test_multi_instance.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from mindrail.backends.scripted import ScriptedBackend
from mindrail.gateway.app import create_app
from mindrail.gateway.jobs import JobSettings
from mindrail.gateway.pipeline import Guard
from mindrail.gateway.recorder import StoreRecorder
from mindrail.gateway.service import Gateway, GatewayConfig
from mindrail.gateway.webhook import WebhookNotifier
from mindrail.policy.consent import default_consent
from mindrail.policy.decide import default_policy
from mindrail.risk.engine import RiskEngine
from mindrail.store import KeyRing, Store

KIND = "That sounds like a lot. I'm an AI, but I'm here to listen. What happened?"
CRISIS = "I have the pills in my hand and I'm going to take them all tonight"


def _instance(engine: RiskEngine, store: Store, notifiers: tuple[Any, ...] = ()) -> Gateway:
    recorder = StoreRecorder(store, channels=tuple(n.name for n in notifiers))
    guard = Guard(engine, default_policy(), ScriptedBackend(default=KIND), recorder=recorder)
    config = GatewayConfig(jobs=JobSettings(poll_s=0.05, sweep_s=0.2))
    return Gateway(guard, store, config, notifiers=notifiers)


@pytest.fixture()
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'shared.db'}", KeyRing.generate())


def _chat(c: TestClient, cid: str, text: str, key: str | None = None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    body = {"model": "m", "messages": [{"role": "user", "content": text}], "conversation_id": cid}
    return c.post("/v1/chat/completions", json=body, headers=headers)


def test_a_retried_request_gets_its_recorded_reply_not_a_second_turn(engine: RiskEngine, store: Store) -> None:
    a, b = _instance(engine, store), _instance(engine, store)
    with TestClient(create_app(a, require_api_key=False)) as ca, TestClient(create_app(b, require_api_key=False)) as cb:
        cid = ca.post("/v1/conversations", json={"consent_version": default_consent().version}).json()["id"]
        first = _chat(ca, cid, "work was long and my feet hurt", key="turn-1")
        again = _chat(cb, cid, "work was long and my feet hurt", key="turn-1")  # another instance, same key
        assert first.status_code == again.status_code == 200
        assert again.json()["choices"][0]["message"]["content"] == first.json()["choices"][0]["message"]["content"]
        assert store.turn_count(cid) == 1
        assert _chat(cb, cid, "and now something else", key="turn-2").status_code == 200
        assert store.turn_count(cid) == 2
        streamed = ca.post(
            "/v1/chat/completions",
            json={
                "model": "m",
                "stream": True,
                "messages": [{"role": "user", "content": "and now something else"}],
                "conversation_id": cid,
            },
            headers={"Idempotency-Key": "turn-2"},
        )
        assert streamed.status_code == 200 and KIND[:20] in streamed.text.replace("\\", "")
        assert store.turn_count(cid) == 2
        no_cid = ca.post(
            "/v1/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "hello"}]},
            headers={"Idempotency-Key": "k"},
        )
        assert no_cid.status_code == 400 and no_cid.json()["error"]["param"] == "Idempotency-Key"


def test_a_conversation_answered_elsewhere_is_rebuilt_before_this_instance_answers(
    engine: RiskEngine, store: Store
) -> None:
    a, b = _instance(engine, store), _instance(engine, store)

    async def scenario() -> list[int]:
        cid = store.start_conversation(default_consent().version, locale="en-GB")
        turns = []
        for gw, text in ((a, "hello"), (b, "I've been feeling really low"), (a, "it has been weeks now")):
            r = await gw.turn(cid, text)
            assert r.assessment is not None
            turns.append(r.assessment.turn)
        return turns

    assert asyncio.run(scenario()) == [1, 2, 3]  # instance a's cached session (1 turn) was stale at turn 3


def test_each_app_runs_the_jobs_and_an_escalation_is_notified_once(engine: RiskEngine, store: Store) -> None:
    seen: list[str] = []

    def receive(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Idempotency-Key"])
        return httpx.Response(204)

    def hook() -> WebhookNotifier:
        return WebhookNotifier("http://receiver.test/hook", transport=httpx.MockTransport(receive))

    a, b = _instance(engine, store, (hook(),)), _instance(engine, store, (hook(),))
    with TestClient(create_app(a, require_api_key=False)) as ca, TestClient(create_app(b, require_api_key=False)):
        cid = ca.post("/v1/conversations", json={"consent_version": default_consent().version}).json()["id"]
        assert _chat(ca, cid, CRISIS, key="k1").status_code == 200
        for _ in range(100):
            if store.job_counts().get("done"):
                break
            asyncio.run(asyncio.sleep(0.05))
    item = store.review_items()[0].id
    assert seen == [f"escalation:{item}:webhook"]
    assert store.job_counts() == {"done": 1}
    assert [e["kind"] for e in store.audit_events()].count("webhook_delivered") == 1


def test_console_and_chat_cookies_work_whichever_instance_answers(engine: RiskEngine, store: Store) -> None:
    """A load balancer sends each request to either instance: login, CSRF, the session, the login rate limit
    and the chat page's cookie all live in the database or derive from the shared key ring."""
    from mindrail.console.accounts import IP_MAX_ATTEMPTS, Accounts
    from mindrail.console.app import add_console_routes
    from mindrail.gateway.chat import add_chat_routes

    Accounts(store).add_user("cleo", "clinician", "a long password for tests", tenants=["*"])

    def app(gw: Gateway) -> Any:
        def extra(a: Any) -> None:
            add_chat_routes(a, gw, store.keys.derive("chat-cookie"))
            add_console_routes(a, gw)

        return create_app(gw, require_api_key=False, extra_routes=extra)

    a, b = _instance(engine, store), _instance(engine, store)
    with TestClient(app(a)) as ca, TestClient(app(b)) as cb:

        def on(c: TestClient, other: TestClient) -> TestClient:
            c.cookies = other.cookies  # the browser's cookies go wherever the balancer sends it
            return c

        page = on(ca, cb).get("/console/login").text
        token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        form = {"username": "cleo", "password": "a long password for tests", "csrf_token": token}
        assert on(cb, ca).post("/console/login", data=form, follow_redirects=False).status_code == 303
        queue = on(ca, cb).get("/console/queue")
        assert queue.status_code == 200
        csrf = queue.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        cid = store.start_conversation(default_consent().version)
        asyncio.run(b.turn(cid, CRISIS))
        item = store.review_items()[0].id
        claim = on(cb, ca).post(f"/console/items/{item}/claim", data={"csrf_token": csrf}, follow_redirects=False)
        assert claim.status_code == 303 and store.review_items()[0].status == "claimed"

        chat = {"X-Mindrail-Chat": "1"}
        started = on(ca, cb).post("/chat/api/start", json={"consent_version": default_consent().version}, headers=chat)
        assert started.status_code == 200
        said = on(cb, ca).post("/chat/api/message", json={"text": "hello there"}, headers=chat)
        assert said.status_code == 200 and "event: done" in said.text

    # The per-client login limit counts attempts made on any instance.
    one, two = Accounts(store), Accounts(store)
    for n in range(IP_MAX_ATTEMPTS):
        with pytest.raises(Exception, match="wrong username or password"):
            (one if n % 2 else two).login(f"nobody{n}", "a long password for tests", "198.51.100.7")
    with pytest.raises(Exception, match="too many"):
        one.login("cleo", "a long password for tests", "198.51.100.7")


def test_keys_rotate_while_instances_run_in_three_steps(tmp_path: Path) -> None:
    """docs/deployment.md's rotation: stage the key on every instance, activate it, re-seal the stragglers and
    retire the old key; at no step does an instance meet a value or a cookie it cannot open."""
    from typer.testing import CliRunner

    from mindrail.cli import app as cli
    from mindrail.gateway.chat import Signer
    from mindrail.store import TurnInput

    url, ring_file = f"sqlite:///{tmp_path / 'rot.db'}", tmp_path / "keys.json"
    r0 = KeyRing.generate()
    r0.save(ring_file)
    first = Store(url, r0)
    cid = first.start_conversation("v1")
    first.record_turn(cid, TurnInput("turn one, written for this test", "reply one", "model"))
    old_cookie = Signer(r0.derive("chat-cookie")).sign(cid)

    runner = CliRunner()
    assert runner.invoke(cli, ["keys", "add", "--key-file", str(ring_file)]).exit_code == 0
    r1 = KeyRing.load(ring_file)  # step 1: every instance restarts with the staged ring
    assert r1.active == r0.active and len(r1.keys) == 2
    (new,) = set(r1.keys) - set(r0.keys)
    a = Store(url, r1, migrate=False)
    rotate = ["keys", "rotate", "--db", url, "--key-file", str(ring_file), "--to", new, "--no-retire"]
    assert runner.invoke(cli, rotate).exit_code == 0  # step 2: re-sealed with the new key
    r2 = KeyRing.load(ring_file)
    assert r2.active == new
    a.record_turn(cid, TurnInput("turn two, from an instance not yet restarted", "reply two", "model"))
    b = Store(url, r2, migrate=False)  # restarted with the new ring
    b.record_turn(cid, TurnInput("turn three", "reply three", "model"))
    assert [t["reply"] for t in a.transcript(cid)] == ["reply one", "reply two", "reply three"]
    assert [t["reply"] for t in b.transcript(cid)] == ["reply one", "reply two", "reply three"]
    fresh = Signer(r2.derive("chat-cookie"), *r2.derive_all("chat-cookie"))
    assert fresh.verify(old_cookie) == cid  # a cookie from before the rotation still opens the page
    assert runner.invoke(cli, ["keys", "rotate", "--db", url, "--key-file", str(ring_file), "--to", new]).exit_code == 0
    r3 = KeyRing.load(ring_file)  # step 3: stragglers re-sealed, the old key retired
    assert set(r3.keys) == {new}
    last = Store(url, r3, migrate=False)
    assert [t["user"] for t in last.transcript(cid)][1] == "turn two, from an instance not yet restarted"
    assert last.verify_audit().ok
    bad = runner.invoke(cli, ["keys", "rotate", "--db", url, "--key-file", str(ring_file), "--to", "nope"])
    assert bad.exit_code == 2
