"""The practice pages through the app: a trainee practises and finishes, sees only their own sessions, and a
trainer sees the report and comments; sessions are rebuilt from the store, and a double submit records once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mindrail.backends.scripted import ScriptedBackend
from mindrail.console.accounts import Accounts
from mindrail.console.app import add_console_routes
from mindrail.gateway.app import create_app
from mindrail.gateway.pipeline import Guard
from mindrail.gateway.service import Gateway
from mindrail.policy.decide import default_policy
from mindrail.risk.engine import RiskEngine
from mindrail.store import KeyRing, Store

PW = "a long practice passphrase"


@pytest.fixture()
def gw(engine: RiskEngine, tmp_path: Path) -> Gateway:
    store = Store(f"sqlite:///{tmp_path / 'p.db'}", KeyRing.generate())
    acc = Accounts(store)
    for name, role in (("tim", "trainee"), ("tess", "trainee"), ("tara", "trainer"), ("cleo", "clinician")):
        acc.add_user(name, role, PW, tenants=["*"])
    return Gateway(Guard(engine, default_policy(), ScriptedBackend(default="ok")), store)


@pytest.fixture()
def app(gw: Gateway) -> object:
    return create_app(gw, extra_routes=lambda a: add_console_routes(a, gw))


def _client(app: object, user: str) -> Iterator[TestClient]:
    with TestClient(app) as c:  # type: ignore[arg-type]
        html = c.get("/console/login").text
        token = html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        r = c.post(
            "/console/login", data={"username": user, "password": PW, "csrf_token": token}, follow_redirects=False
        )
        assert r.status_code == 303
        yield c


def _csrf(c: TestClient, page: str) -> str:
    return c.get(page).text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def test_trainee_practises_finishes_and_the_trainer_comments(app: object, gw: Gateway) -> None:
    for c in _client(app, "tim"):
        token = _csrf(c, "/console/practice")
        r = c.post(
            "/console/practice",
            data={"csrf_token": token, "card_id": "ray_national_guard", "feedback": "on"},
            follow_redirects=False,
        )
        sid = r.headers["location"].rsplit("/", 1)[1]
        page = c.get(f"/console/practice/{sid}").text
        assert "simulated" in page and "Ray" in page
        for text in ("It sounds like a lot has landed on you at once.", "Are you thinking about killing yourself?"):
            r = c.post(
                f"/console/practice/{sid}/turn", data={"csrf_token": token, "text": text}, follow_redirects=False
            )
            assert r.status_code == 303
        page = c.get(f"/console/practice/{sid}").text
        assert "Another way" in page and "asked suicide" in page
        c.post(f"/console/practice/{sid}/finish", data={"csrf_token": token})
        report = c.get(f"/console/practice/{sid}/report").text
        assert "Checklist" in report and "Asked directly about suicide" in report
        data = c.get(f"/console/practice/{sid}/report.json").json()
        assert [e["role"] for e in data["transcript"]].count("trainee") == 2
        assert "Training exercise" in c.get(f"/console/practice/{sid}/report.html").text
        assert c.get("/console/practice/progress.png").headers["content-type"] == "image/png"
        assert c.get("/console/trainees").status_code == 403
    for c in _client(app, "tess"):
        assert c.get(f"/console/practice/{sid}/report").status_code == 404  # another trainee's session
    for c in _client(app, "tara"):
        assert "tim" in c.get("/console/trainees").text
        token = _csrf(c, f"/console/practice/{sid}/report")
        c.post(f"/console/practice/{sid}/comments", data={"csrf_token": token, "text": "Good direct question."})
        assert "Good direct question." in c.get(f"/console/practice/{sid}/report").text
        assert c.get(f"/console/practice/{sid}").status_code == 404  # a trainer does not type in a trainee's session
    for c in _client(app, "cleo"):
        assert c.get(f"/console/practice/{sid}/report").status_code == 403
    kinds = {e["kind"] for e in gw.store.audit_events(limit=1000)}
    assert {"practice_started", "practice_finished", "practice_commented"} <= kinds
    assert gw.store.verify_audit().ok


def test_a_double_submit_records_one_turn(app: object, gw: Gateway) -> None:
    sid = gw.store.start_practice("tim", "jordan_student_exams")
    for c in _client(app, "tim"):
        token = _csrf(c, "/console/practice")
        entry = gw.store.practice_session(sid)
        c.post(f"/console/practice/{sid}/turn", data={"csrf_token": token, "text": "That sounds stressful."})
        from mindrail.store.errors import Conflict

        with pytest.raises(Conflict):
            gw.store.add_practice_turn(sid, "That sounds stressful.", expected_turns=len(entry.turns))
    assert gw.store.practice_session(sid).turns == ["That sounds stressful."]


def test_sessions_survive_a_restart_and_key_rotation(app: object, gw: Gateway) -> None:
    sid = gw.store.start_practice("tim", "jordan_student_exams")
    gw.store.add_practice_turn(sid, "Exams sound like they're taking over everything.", expected_turns=0)
    gw.store.add_practice_comment(sid, "tara", "Nice reflection.")
    n = gw.store.rotate_keys(gw.store.keys.rotated())
    assert n >= 2
    assert gw.store.practice_session(sid).turns == ["Exams sound like they're taking over everything."]
    assert gw.store.practice_comments(sid)[0].text == "Nice reflection."


def test_bad_input_is_refused(app: object, gw: Gateway) -> None:
    for c in _client(app, "tim"):
        token = _csrf(c, "/console/practice")
        assert c.post("/console/practice", data={"csrf_token": token, "card_id": "nobody"}).status_code == 404
        sid = gw.store.start_practice("tim", "jordan_student_exams")
        r = c.post(f"/console/practice/{sid}/turn", data={"csrf_token": token, "text": "  "})
        assert r.status_code == 400
        assert c.post(f"/console/practice/{sid}/turn", data={"csrf_token": "forged", "text": "hi"}).status_code == 403
    json.dumps(gw.store.practice_session(sid).turns)


def test_a_trainer_sees_only_the_trainees_of_their_own_tenants(app: object, gw: Gateway) -> None:
    acc = Accounts(gw.store)
    acc.add_user("tina", "trainee", PW, tenants=["clinic-a"])
    acc.add_user("trina", "trainer", PW, tenants=["clinic-b"])
    acc.add_user("trixie", "trainer", PW, tenants=["clinic-a", "clinic-c"])
    sid = gw.store.start_practice("tina", "ray_national_guard")
    for c in _client(app, "trina"):  # another organisation's trainer
        assert "tina" not in c.get("/console/trainees").text
        assert c.get(f"/console/practice/{sid}/report").status_code == 404
        assert c.get(f"/console/practice/{sid}/report.json").status_code == 404
        token = _csrf(c, "/console/trainees")
        r = c.post(f"/console/practice/{sid}/comments", data={"csrf_token": token, "text": "hello"})
        assert r.status_code == 404
    for c in _client(app, "trixie"):  # shares clinic-a
        assert "tina" in c.get("/console/trainees").text
        assert c.get(f"/console/practice/{sid}/report.json").status_code == 200
    for c in _client(app, "tara"):  # granted every tenant
        assert "tina" in c.get("/console/trainees").text
    assert gw.store.practice_comments(sid) == []
