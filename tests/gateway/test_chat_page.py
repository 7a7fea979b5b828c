"""The person's chat page, end to end in Debian's Chromium driven by Playwright (no browser download): consent,
the AI disclosure, a checked streamed reply, a crisis message answered with the protocol, the always-visible
crisis button, keyboard use, and deleting the conversation; crisis numbers as tel:/sms: links; following a long
streamed reply unless the person scrolls up. Plus the page's CSRF and cookie rules over HTTP, and that every linked
number comes from the crisis resources."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mindrail.backends.scripted import ScriptedBackend
from mindrail.gateway.app import create_app
from mindrail.gateway.chat import add_chat_routes
from mindrail.gateway.pipeline import Guard
from mindrail.gateway.recorder import StoreRecorder
from mindrail.gateway.service import Gateway
from mindrail.policy.consent import default_consent
from mindrail.policy.decide import default_policy
from mindrail.policy.resources import default_resources
from mindrail.risk.engine import RiskEngine
from mindrail.store import KeyRing, Store
from tests.serving import uvicorn_running

ROOT = Path(__file__).resolve().parents[2]
REPLY = "That sounds like a heavy week. I'm an AI, but I'm glad you reached out. What has been hardest?"
LONG = " ".join(f"Line {i} of a long answer keeps going so that the page has to scroll." for i in range(1, 21))


def _app(engine: RiskEngine, tmp: Path, backend: ScriptedBackend | None = None) -> tuple[Gateway, object]:
    keys = KeyRing.generate()
    store = Store(f"sqlite:///{tmp / 'chat.db'}", keys)
    backend = backend or ScriptedBackend(default=REPLY)
    gateway = Gateway(Guard(engine, default_policy(), backend, recorder=StoreRecorder(store)), store)
    app = create_app(gateway, extra_routes=lambda a: add_chat_routes(a, gateway, keys.derive("chat-cookie")))
    return gateway, app


# ---------------------------------------------------------------- over HTTP
def test_chat_api_needs_the_csrf_header_and_a_signed_cookie(engine: RiskEngine, tmp_path: Path) -> None:
    _, app = _app(engine, tmp_path)
    with TestClient(app) as c:  # type: ignore[arg-type]
        page = c.get("/chat")
        assert page.status_code == 200 and "not a person and not a therapist" in page.text
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        v = default_consent().version
        assert c.post("/chat/api/start", json={"consent_version": v}).status_code == 403
        assert (
            c.post("/chat/api/start", json={"consent_version": "old"}, headers={"X-Mindrail-Chat": "1"}).status_code
            == 409
        )
        r = c.post("/chat/api/start", json={"consent_version": v, "locale": "UK"}, headers={"X-Mindrail-Chat": "1"})
        assert r.status_code == 200
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert c.post("/chat/api/message", json={"text": "hi"}).status_code == 403
        ok = c.post("/chat/api/message", json={"text": "hi there"}, headers={"X-Mindrail-Chat": "1"})
        assert ok.status_code == 200 and "event: done" in ok.text
        c.cookies.clear()
        c.cookies.set("mr_chat", "forged.AAAA", path="/chat")
        bad = c.post("/chat/api/message", json={"text": "hi"}, headers={"X-Mindrail-Chat": "1"})
        assert bad.status_code == 401


# ---------------------------------------------------------------- in a real browser
def _dial(number: str) -> str:
    return re.sub(r"[^0-9+]", "", number)


def test_every_linked_number_comes_from_the_crisis_resources(engine: RiskEngine, tmp_path: Path) -> None:
    _, app = _app(engine, tmp_path)
    book = default_resources()
    with TestClient(app) as c:  # type: ignore[arg-type]
        for key in book.locales:
            _, loc = book.for_locale(key)
            known = {_dial(n) for s in loc.services for n in (s.phone, s.text) if n} | (
                {_dial(loc.emergency.number)} if loc.emergency.number else set()
            )
            page = c.get(f"/chat?locale={key}").text
            linked = re.findall(r'href="(?:tel|sms):([0-9+]+)', page)
            assert set(linked) <= known and len(linked) >= len(known)
            listed = json.loads(html.unescape(re.search(r'data-contacts="([^"]*)"', page).group(1)))  # type: ignore[union-attr]
            assert {_dial(x["number"]) for x in listed} == known
            assert all(x["href"].split(":", 1)[1].split("?")[0] == _dial(x["number"]) for x in listed)


@pytest.fixture()
def served(engine: RiskEngine, tmp_path: Path) -> Iterator[tuple[str, Gateway]]:
    gateway, app = _app(engine, tmp_path)
    with uvicorn_running(app) as url:
        yield url, gateway


@pytest.fixture()
def served_long(engine: RiskEngine, tmp_path: Path) -> Iterator[str]:
    """A model that takes three seconds, then streams a reply longer than the window over three more."""
    _, app = _app(engine, tmp_path, ScriptedBackend(default=LONG, delay_s=3.0))
    with uvicorn_running(app) as url:
        yield url


def test_person_consents_chats_sees_crisis_protocol_and_deletes(served: tuple[str, Gateway], chromium: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, gateway = served
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(locale="en-GB", viewport={"width": 800, "height": 900})
        page.goto(f"{url}/chat?locale=en-GB")

        # Before consent: disclosure and the crisis button are there; no chat yet.
        expect(page.get_by_role("heading", name="Before we start")).to_be_visible()
        expect(page.get_by_role("note").first).to_contain_text("not a person and not a therapist")
        expect(page.get_by_label("Your message")).to_be_hidden()
        page.get_by_role("button", name="Crisis resources").click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_be_visible()
        expect(dialog).to_contain_text("116 123")
        expect(dialog.get_by_role("link", name="Call Samaritans on 116 123")).to_have_attribute("href", "tel:116123")
        expect(dialog.get_by_role("link", name="Text Shout on 85258")).to_have_attribute("href", "sms:85258?body=SHOUT")
        expect(dialog.get_by_role("link", name="Call emergency services on 999")).to_have_attribute("href", "tel:999")
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()

        # Consent with the keyboard.
        page.get_by_role("button", name="I understand and agree").focus()
        page.keyboard.press("Enter")
        box = page.get_by_label("Your message")
        expect(box).to_be_focused()

        box.fill("It's been a heavy week at work")
        page.keyboard.press("Enter")
        reply = page.locator("#log li.assistant").last
        expect(reply).to_have_attribute("data-source", "model", timeout=15000)
        expect(reply).to_contain_text("heavy week")

        box.fill("I have the pills in my hand and I'm going to take them all tonight")
        page.get_by_role("button", name="Send").click()
        crisis = page.locator("#log li.assistant").last
        expect(crisis).to_have_attribute("data-crisis", "1", timeout=15000)
        expect(crisis).to_contain_text("Are you safe right now?")
        expect(crisis).to_contain_text("116 123")
        expect(crisis.get_by_role("link", name="Call Samaritans on 116 123")).to_have_attribute("href", "tel:116123")
        expect(page.get_by_role("button", name="Crisis resources")).to_be_visible()

        assert gateway.store.count("turns") == 2
        page.get_by_text("Your data").click()
        page.get_by_role("button", name="Delete this conversation").click()
        expect(page.get_by_role("status")).to_contain_text("Deleted")
        browser.close()
    assert gateway.store.count("turns") == 0
    assert gateway.store.verify_audit().ok


def _at_bottom(page: object) -> bool:
    return bool(
        page.evaluate(  # type: ignore[attr-defined]
            "window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 48"
        )
    )


def test_a_long_reply_is_followed_unless_the_person_scrolls_up(served_long: str, chromium: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(locale="en-GB", viewport={"width": 800, "height": 420})
        page.goto(f"{served_long}/chat?locale=en-GB")
        page.get_by_role("button", name="I understand and agree").click()
        box = page.get_by_label("Your message")

        box.fill("Could you tell me a long story?")
        page.keyboard.press("Enter")
        reply = page.locator("#log li.assistant").last
        expect(reply).to_contain_text("Line 8 of", timeout=15000)
        assert _at_bottom(page)  # followed while streaming
        expect(reply).to_have_attribute("data-source", "model", timeout=15000)
        assert _at_bottom(page)

        box.fill("And another one, please.")
        page.keyboard.press("Enter")
        reply = page.locator("#log li.assistant").last
        expect(reply).to_contain_text("Line 2 of", timeout=15000)
        page.mouse.wheel(0, -5000)  # the person scrolls up to read something earlier
        page.wait_for_function("window.scrollY < 20")
        assert reply.get_attribute("data-source") is None  # still streaming: the test means something
        expect(reply).to_have_attribute("data-source", "model", timeout=15000)
        assert page.evaluate("window.scrollY") < 20  # left where the person put it
        browser.close()
