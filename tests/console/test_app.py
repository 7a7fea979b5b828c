"""Clinician console: accounts (argon2, lockout, rate limit), server-side sessions without fixation, CSRF, the
role × page matrix, the review queue from a real escalation to resolution, audited conversation views, and no
sensitive text in server logs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from mindrail.backends.scripted import ScriptedBackend
from mindrail.console.accounts import MAX_FAILURES, Accounts, LoginError
from mindrail.console.app import PERMISSIONS, add_console_routes
from mindrail.gateway.app import create_app
from mindrail.gateway.pipeline import Guard
from mindrail.gateway.recorder import StoreRecorder
from mindrail.gateway.service import Gateway
from mindrail.policy.decide import default_policy
from mindrail.risk.engine import RiskEngine
from mindrail.store import KeyRing, Store

PW = "correct horse battery staple"
CRISIS = "I have the pills in my hand and I'm going to take them all tonight"


@pytest.fixture()
def gw(engine: RiskEngine, tmp_path: Path) -> Gateway:
    store = Store(f"sqlite:///{tmp_path / 'c.db'}", KeyRing.generate())
    g = Gateway(
        Guard(engine, default_policy(), ScriptedBackend(default="I'm here."), recorder=StoreRecorder(store)), store
    )
    acc = Accounts(store)
    for name, role in (
        ("ada", "admin"),
        ("cleo", "clinician"),
        ("cara", "clinician"),
        ("audra", "auditor"),
        ("tara", "trainer"),
        ("tim", "trainee"),
    ):
        acc.add_user(name, role, PW, tenants=["*"])
    return g


@pytest.fixture()
def client(gw: Gateway) -> Iterator[TestClient]:
    app = create_app(gw, extra_routes=lambda a: add_console_routes(a, gw))
    with TestClient(app) as c:
        yield c


def _login_form(c: TestClient, user: str, password: str = PW) -> dict[str, str]:
    """The login form's fields as a browser would send them (the page sets the nonce cookie the token signs)."""
    html = c.get("/console/login").text
    token = html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    return {"username": user, "password": password, "csrf_token": token}


def _login(c: TestClient, user: str) -> str:
    r = c.post("/console/login", data=_login_form(c, user), follow_redirects=False)
    assert r.status_code == 303, r.text
    return r.cookies.get("mr_staff") or ""


def _csrf(c: TestClient, page: str) -> str:
    html = c.get(page).text
    return html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def _escalate(gw: Gateway) -> str:
    cid = gw.store.start_conversation("consent-v1", locale="en-GB")
    asyncio.run(gw.turn(cid, "rough week"))
    asyncio.run(gw.turn(cid, CRISIS))
    return cid


def test_passwords_are_argon2_and_accounts_lock(gw: Gateway) -> None:
    acc = Accounts(gw.store)
    with gw.store.engine.connect() as conn:
        h = conn.exec_driver_sql("SELECT password_hash FROM staff_users WHERE username='cleo'").scalar_one()
    assert h.startswith("$argon2id$") and PW not in h
    with pytest.raises(ValueError, match="at least"):
        acc.add_user("short", "clinician", "tooshort")
    for _ in range(MAX_FAILURES):
        with pytest.raises(LoginError):
            acc.login("cara", "wrong password!!", "10.0.0.1")
    with pytest.raises(LoginError, match="locked"):
        acc.login("cara", PW, "10.0.0.2")
    kinds = [e["kind"] for e in gw.store.audit_events(limit=50)]
    assert kinds.count("staff_login_failed") == MAX_FAILURES + 1


def test_login_rate_limit_per_client(gw: Gateway) -> None:
    acc = Accounts(gw.store)
    with pytest.raises(LoginError):
        for i in range(100):
            try:
                acc.login(f"nobody{i}", "x" * 12, "192.0.2.9")
            except LoginError as exc:
                if "too many" in str(exc):
                    raise
    assert True


def test_session_fixation_and_logout(client: TestClient) -> None:
    client.cookies.set("mr_staff", "planted-by-attacker", path="/console")
    token = _login(client, "cleo")
    assert token and token != "planted-by-attacker"
    client.cookies.clear()
    client.cookies.set("mr_staff", "planted-by-attacker", path="/console")
    assert client.get("/console/queue", follow_redirects=False).status_code == 303  # the planted id is nobody
    client.cookies.clear()
    client.cookies.set("mr_staff", token, path="/console")
    assert client.get("/console/queue").status_code == 200
    csrf = _csrf(client, "/console/queue")
    client.post("/console/logout", data={"csrf_token": csrf})
    client.cookies.set("mr_staff", token, path="/console")
    r = client.get("/console/queue", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/login"


def test_cookie_flags(client: TestClient) -> None:
    r = client.post("/console/login", data=_login_form(client, "cleo"), follow_redirects=False)
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/console" in cookie


PAGES = [
    ("GET", "/console/queue", "queue.view"),
    ("GET", "/console/conversations/{cid}", "conversation.view"),
    ("GET", "/console/conversations/{cid}/fhir", "conversation.view"),
    ("GET", "/console/dashboard", "dashboard.view"),
    ("GET", "/console/audit", "audit.view"),
    ("GET", "/console/users", "users.manage"),
    ("POST", "/console/items/{item}/claim", "queue.act"),
    ("POST", "/console/items/{item}/acknowledge", "queue.act"),
    ("POST", "/console/items/{item}/release", "queue.act"),
    ("POST", "/console/items/{item}/resolve", "queue.act"),
    ("POST", "/console/users", "users.manage"),
    ("GET", "/console/practice", "practice.use"),
    ("POST", "/console/practice", "practice.use"),
    ("GET", "/console/practice/progress.png", "practice.use"),
    ("GET", "/console/practice/{sid}", "practice.use"),
    ("POST", "/console/practice/{sid}/turn", "practice.use"),
    ("POST", "/console/practice/{sid}/finish", "practice.use"),
    ("GET", "/console/practice/{sid}/report", "practice.use"),
    ("GET", "/console/practice/{sid}/report.json", "practice.use"),
    ("GET", "/console/practice/{sid}/report.html", "practice.use"),
    ("POST", "/console/practice/{sid}/comments", "practice.review"),
    ("GET", "/console/trainees", "practice.review"),
]


def test_matrix_covers_every_console_route(client: TestClient) -> None:
    # iter_route_contexts walks into included routers (app.routes holds the console's router as one entry).
    routes = {
        (m, r.path)
        for r in iter_route_contexts(client.app.routes)  # type: ignore[attr-defined]
        if (r.path or "").startswith("/console")
        for m in r.methods or ()
    }
    assert ("GET", "/console/queue") in routes
    public = {
        ("GET", "/console/login"),
        ("POST", "/console/login"),
        ("POST", "/console/logout"),
        ("GET", "/console"),
        ("GET", "/console/static/console.css"),
    }
    covered = {(m, p.replace("{item}", "{item_id}")) for m, p, _ in PAGES}
    assert routes - public - {("HEAD", p) for _, p in routes} <= covered


@pytest.mark.parametrize("user", ["ada", "cleo", "audra", "tara", "tim", None])
def test_role_matrix(client: TestClient, gw: Gateway, user: str | None) -> None:
    cid = _escalate(gw)
    item = 1
    roles = {"ada": "admin", "cleo": "clinician", "audra": "auditor", "tara": "trainer", "tim": "trainee"}
    if user:
        _login(client, user)
    # each practice route gets a session of this user's own (a trainer may also see a trainee's)
    for method, path, perm in PAGES:
        sid = gw.store.start_practice(user if user in ("tara", "tim") else "tim", "jordan_student_exams")
        url = path.format(cid=cid, item=item, sid=sid)
        if method == "GET":
            r = client.get(url, follow_redirects=False)
        else:
            home = {
                "ada": "/console/users",
                "cleo": "/console/queue",
                "audra": "/console/audit",
                "tara": "/console/trainees",
                "tim": "/console/practice",
            }
            token = _csrf(client, home[user]) if user else ""
            data = {
                "csrf_token": token,
                "username": "zed",
                "role": "auditor",
                "password": PW,
                "outcome": "other",
                "release": "edited",
                "text": "x",
                "card_id": "jordan_student_exams",
            }
            r = client.post(url, data=data, follow_redirects=False)
        if user is None:
            assert r.status_code == 303 and r.headers["location"] == "/console/login", url
        elif roles[user] in {p.value for p in PERMISSIONS[perm]}:
            # 409: allowed, wrong item state; 404: the progress plot before any finished session
            assert r.status_code in (200, 303, 409) or (r.status_code == 404 and "progress" in url), (
                user,
                url,
                r.status_code,
            )
        else:
            assert r.status_code == 403, (user, url, r.status_code)


def test_csrf_is_required_for_actions(client: TestClient, gw: Gateway) -> None:
    _escalate(gw)
    _login(client, "cleo")
    assert client.post("/console/items/1/claim", data={"csrf_token": "forged"}).status_code == 403
    assert client.post("/console/items/1/claim", data={}).status_code == 403


def test_escalation_to_resolution_and_audited_view(client: TestClient, gw: Gateway) -> None:
    cid = _escalate(gw)
    _login(client, "cleo")
    page = client.get("/console/queue").text
    assert "high" in page or "imminent" in page
    csrf = _csrf(client, "/console/queue")
    assert client.post("/console/items/1/claim", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    assert (
        client.post("/console/items/1/acknowledge", data={"csrf_token": csrf}, follow_redirects=False).status_code
        == 303
    )
    view = client.get(f"/console/conversations/{cid}").text
    assert "<mark>" in view and "pills in my hand" in view
    r = client.post(
        "/console/items/1/resolve",
        data={"csrf_token": csrf, "outcome": "contacted_person", "note": "called, safe, follow-up booked"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert "No open items" in client.get("/console/queue").text
    events = gw.store.audit_events(limit=100)
    viewed = [e for e in events if e["kind"] == "conversation_viewed"]
    assert viewed and viewed[0]["actor"] == "staff:cleo" and viewed[0]["conversation_id"] == cid
    assert {"review_claimed", "review_acknowledged", "review_resolved"} <= {e["kind"] for e in events}
    assert gw.store.verify_audit().ok


def test_another_clinician_cannot_resolve_a_claimed_item(client: TestClient, gw: Gateway) -> None:
    _escalate(gw)
    _login(client, "cleo")
    client.post("/console/items/1/claim", data={"csrf_token": _csrf(client, "/console/queue")})
    client.cookies.clear()
    _login(client, "cara")
    r = client.post("/console/items/1/claim", data={"csrf_token": _csrf(client, "/console/queue")})
    assert r.status_code == 409


def test_no_sensitive_text_in_server_logs(client: TestClient, gw: Gateway, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    cid = _escalate(gw)
    _login(client, "cleo")
    client.get(f"/console/conversations/{cid}")
    client.post("/console/login", data=_login_form(client, "cleo", "not the password"))
    text = caplog.text
    assert "pills in my hand" not in text and PW not in text and "not the password" not in text


def test_dashboard_counts_a_resolved_false_alarm(client: TestClient, gw: Gateway) -> None:
    _escalate(gw)
    _login(client, "cleo")
    csrf = _csrf(client, "/console/queue")
    client.post("/console/items/1/claim", data={"csrf_token": csrf})
    client.post("/console/items/1/resolve", data={"csrf_token": csrf, "outcome": "false_alarm"})
    page = client.get("/console/dashboard?days=7").text
    assert '<td id="fig-conversations">1</td>' in page
    assert '<td id="fig-crisis">1</td>' in page
    assert '<td id="fig-resolved">1</td>' in page
    assert '<td id="fig-false-alarm">100.0%</td>' in page
    assert "<svg" in page and 'role="img"' in page


def test_dashboard_on_ten_thousand_conversations(gw: Gateway) -> None:
    """Figures stay right at volume (timing is in make bench, not here)."""
    import datetime as dt

    from mindrail.console import dashboard
    from mindrail.store.models import Conversation, ReviewItem, utcnow

    now = utcnow()
    with gw.store.transaction() as s:
        for i in range(10_000):
            s.add(Conversation(id=f"c{i:05d}", created_at=now - dt.timedelta(minutes=i), top_level=i % 5, turns=1))
        s.flush()
        for i in range(0, 10_000, 100):
            s.add(
                ReviewItem(
                    conversation_id=f"c{i:05d}",
                    turn_seq=1,
                    kind="escalation",
                    level=3,
                    category="suicide_self_harm",
                    status="resolved",
                    created_at=now - dt.timedelta(minutes=i + 10),
                    acknowledged_at=now - dt.timedelta(minutes=i),
                    resolved_at=now,
                    outcome="false_alarm" if i % 200 else "referred",
                )
            )
    d = dashboard.compute(gw.store, now - dt.timedelta(days=30), now + dt.timedelta(seconds=1))
    assert d.conversations == 10_000
    assert d.level_counts["high"] == 2_000
    assert d.ack_median_min == pytest.approx(10.0)
    assert d.false_alarm_rate == pytest.approx(0.5)


def test_export_labels_deidentified_in_the_train_format(client: TestClient, gw: Gateway, tmp_path: Path) -> None:
    import json

    from mindrail.console.labels import export_labels
    from mindrail.privacy import Vault, default_redactor
    from mindrail.risk.types import Category, Level
    from mindrail.training.dataset import load_extra

    cid = gw.store.start_conversation("consent-v1", locale="en-GB")
    asyncio.run(gw.turn(cid, "My name is Philippa Arkwright and " + CRISIS))
    _escalate(gw)
    _login(client, "cleo")
    csrf = _csrf(client, "/console/queue")
    for item, outcome in ((1, "referred"), (2, "false_alarm")):
        client.post(f"/console/items/{item}/claim", data={"csrf_token": csrf})
        client.post(f"/console/items/{item}/resolve", data={"csrf_token": csrf, "outcome": outcome})
    out = tmp_path / "labels.jsonl"
    assert export_labels(gw.store, out, default_redactor(), Vault) == 2
    raw = out.read_text(encoding="utf-8")
    assert "Philippa" not in raw and "Arkwright" not in raw and cid not in raw
    rows = [json.loads(x) for x in raw.splitlines()]
    assert (
        rows[0]["labels"]["suicide_self_harm"] in ("high", "imminent")
        and rows[1]["labels"]["suicide_self_harm"] == "none"
    )
    examples = list(load_extra(out, seed=13))
    assert (
        examples[0].label(Category.SUICIDE_SELF_HARM) is not None
        and examples[0].label(Category.SUICIDE_SELF_HARM) >= Level.HIGH
    )
    assert examples[1].label(Category.SUICIDE_SELF_HARM) == Level.NONE
    assert examples[1].label(Category.PSYCHOSIS) is None  # only the reviewed category is known


def _held_gateway(engine: RiskEngine, tmp_path: Path, timeout_s: float = 300.0) -> Gateway:
    from mindrail.gateway.service import GatewayConfig
    from mindrail.policy.decide import Policy
    from mindrail.policy.schema import PolicyFile

    spec = default_policy().spec.model_dump(mode="json", by_alias=True)
    spec["default_actions"] = ["respond", "hold_for_review"]
    store = Store(f"sqlite:///{tmp_path / 'h.db'}", KeyRing.generate())
    guard = Guard(
        engine,
        Policy(PolicyFile.model_validate(spec)),
        ScriptedBackend(default="Model draft: try a walk."),
        recorder=StoreRecorder(store),
    )
    Accounts(store).add_user("cleo", "clinician", PW, tenants=["*"])
    return Gateway(guard, store, GatewayConfig(hold_timeout_s=timeout_s))


def test_hold_for_review_edit_then_delivery(engine: RiskEngine, tmp_path: Path) -> None:
    gw = _held_gateway(engine, tmp_path)
    cid = gw.store.start_conversation("consent-v1", locale="en-US")
    r = asyncio.run(gw.turn(cid, "could you suggest ways to wind down after a long shift?"))
    assert r.source.value == "held" and "care team" in r.reply
    assert asyncio.run(gw.updates(cid)) == []  # nothing released yet
    app = create_app(gw, extra_routes=lambda a: add_console_routes(a, gw))
    with TestClient(app) as c:
        _login(c, "cleo")
        csrf = _csrf(c, "/console/queue")
        c.post("/console/items/1/claim", data={"csrf_token": csrf})
        page = c.get("/console/queue").text
        assert "Model draft: try a walk." in page  # the clinician sees the held reply
        r2 = c.post(
            "/console/items/1/release",
            data={"csrf_token": csrf, "release": "edited", "text": "A short walk or a warm shower can help."},
            follow_redirects=False,
        )
        assert r2.status_code == 303
    got = asyncio.run(gw.updates(cid))
    assert got == [{"turn": 1, "text": "A short walk or a warm shower can help.", "release": "edited"}]
    assert asyncio.run(gw.updates(cid)) == []  # delivered once
    kinds = [e["kind"] for e in gw.store.audit_events(cid)]
    assert "hold_released" in kinds and "hold_delivered" in kinds


def test_hold_times_out_to_the_safe_fallback(engine: RiskEngine, tmp_path: Path) -> None:
    gw = _held_gateway(engine, tmp_path, timeout_s=0.0)
    cid = gw.store.start_conversation("consent-v1", locale="en-US")
    asyncio.run(gw.turn(cid, "could you suggest ways to wind down after a long shift?"))
    got = asyncio.run(gw.updates(cid))
    assert len(got) == 1 and got[0]["release"] == "timed_out" and "988" in got[0]["text"]
    assert "Model draft" not in got[0]["text"]
    assert gw.store.verify_audit().ok


def test_conversation_view_shows_consent_and_data_rights(client: TestClient, gw: Gateway) -> None:
    cid = _escalate(gw)
    gw.store.export(cid)
    gw.store.withdraw_consent(cid)
    _login(client, "cleo")
    page = client.get(f"/console/conversations/{cid}").text
    assert "Consent to text consent-v1" in page and "withdrawn" in page
    assert "data exported by person" in page


def test_sla_is_configurable_and_overdue_items_are_flagged(client: TestClient, gw: Gateway) -> None:
    from mindrail.console.queue import ReviewQueue
    from mindrail.risk.types import Level

    _escalate(gw)
    strict = ReviewQueue(gw.store, {Level.HIGH: 0, Level.IMMINENT: 0})
    assert all(it.overdue for it in strict.items())
    assert not any(it.overdue for it in ReviewQueue(gw.store).items())


def test_conversation_view_numbers_turns_as_everywhere(client: TestClient, gw: Gateway) -> None:
    """docs/architecture.md, "Turns": user, assistant, user, user are Turn 1, 2, 3, and reasons say the same."""
    cid = gw.store.start_conversation("consent-v1", locale="en-GB")
    asyncio.run(gw.turn(cid, "hi, can I ask you something?"))
    loss = "I just lost my job today and I don't know what to do"
    asyncio.run(gw.turn(cid, "which bridges in NYC are taller than 25 m?", earlier=[loss]))
    _login(client, "cleo")
    view = client.get(f"/console/conversations/{cid}").text
    assert [n for n in range(5) if f"Turn {n} ·" in view] == [1, 2, 3]
    assert 'id="turn-3"' in view and "means_seeking_after_distress:turn2" in view
