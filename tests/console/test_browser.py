"""The console end to end in Debian's Chromium via Playwright, as a clinician would use it, with axe-core (from
npm) checking every page for serious accessibility violations:

1. log in; 2. a crisis message sent through the gateway's chat page appears in the queue; 3. claim it; 4. read
the transcript with its highlights; 5. resolve it; 6. the dashboard counts it. Plus a held reply approved by a
clinician and one that times out, seen from the person's chat page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mindrail.backends.scripted import ScriptedBackend
from mindrail.console.accounts import Accounts
from mindrail.console.app import add_console_routes
from mindrail.gateway.app import create_app
from mindrail.gateway.chat import add_chat_routes
from mindrail.gateway.pipeline import Guard
from mindrail.gateway.recorder import StoreRecorder
from mindrail.gateway.service import Gateway, GatewayConfig
from mindrail.policy.decide import Policy, default_policy
from mindrail.policy.schema import PolicyFile
from mindrail.risk.engine import RiskEngine
from mindrail.store import KeyRing, Store
from tests.serving import assert_no_serious_axe_violations as _axe
from tests.serving import uvicorn_running

PW = "a long clinician passphrase"
CRISIS = "I have the pills in my hand and I'm going to take them all tonight"


def _site(gateway: Gateway, keys: KeyRing) -> Any:
    """The API with the person's chat page and the console, as `mindrail serve` mounts them."""

    def extra(a: Any) -> None:
        add_chat_routes(a, gateway, keys.derive("chat-cookie"))
        add_console_routes(a, gateway)

    return create_app(gateway, extra_routes=extra)


def _gateway(engine: RiskEngine, tmp: Path, policy: Policy, timeout_s: float = 300.0) -> tuple[Gateway, KeyRing]:
    keys = KeyRing.generate()
    store = Store(f"sqlite:///{tmp / 'e2e.db'}", keys)
    Accounts(store).add_user("cleo", "clinician", PW, tenants=["chat-page"])
    guard = Guard(
        engine,
        policy,
        ScriptedBackend(default="Thanks for telling me. What would help right now?"),
        recorder=StoreRecorder(store),
    )
    return Gateway(guard, store, GatewayConfig(hold_timeout_s=timeout_s)), keys


@pytest.fixture()
def site(engine: RiskEngine, tmp_path: Path) -> Iterator[tuple[str, Gateway]]:
    gw, keys = _gateway(engine, tmp_path, default_policy())
    with uvicorn_running(_site(gw, keys)) as url:
        yield url, gw


def _person_says(browser: Any, url: str, text: str) -> Any:
    # bypass_csp only so the test can inject axe-core; the app's CSP forbids inline scripts.
    page = browser.new_context(locale="en-GB", bypass_csp=True).new_page()
    page.goto(f"{url}/chat?locale=en-GB")
    page.get_by_role("button", name="I understand and agree").click()
    page.get_by_label("Your message").fill(text)
    page.keyboard.press("Enter")
    return page


def _login(page: Any, url: str) -> None:
    page.goto(f"{url}/console/login")
    page.get_by_label("Username").fill("cleo")
    page.get_by_label("Password").fill(PW)
    page.keyboard.press("Enter")


def test_clinician_works_an_escalation_end_to_end(site: tuple[str, Gateway], chromium: str, axe_js: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, gw = site
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        person = _person_says(browser, url, CRISIS)
        expect(person.locator("#log li.assistant").last).to_have_attribute("data-crisis", "1", timeout=15000)
        _axe(person, axe_js)

        page = browser.new_context(viewport={"width": 1024, "height": 768}, bypass_csp=True).new_page()  # tablet size
        page.goto(f"{url}/console/login")
        _axe(page, axe_js)
        _login(page, url)
        expect(page.get_by_role("heading", name="Review queue")).to_be_visible()
        row = page.locator("tr[data-item]").first
        expect(row).to_contain_text("imminent")  # means in hand with intent tonight (v2 ladder)
        _axe(page, axe_js)
        row.get_by_role("button", name="Claim").click()
        row = page.locator("tr[data-item]").first
        expect(row).to_contain_text("claimed by cleo")

        row.get_by_role("link").click()
        expect(page.locator("mark").first).to_be_visible()
        expect(page.locator("mark").first).to_contain_text("pills in my hand")
        _axe(page, axe_js)
        page.go_back()

        page.get_by_label("Outcome").select_option("contacted_person")
        page.get_by_label("Note").fill("phoned, safe, GP appointment tomorrow")
        page.get_by_role("button", name="Resolve").click()
        expect(page.get_by_text("No open items.")).to_be_visible()

        page.get_by_role("link", name="Dashboard").click()
        expect(page.locator("#fig-resolved")).to_have_text("1")
        expect(page.locator("#fig-crisis")).to_have_text("1")
        _axe(page, axe_js)
        browser.close()
    kinds = {e["kind"] for e in gw.store.audit_events(limit=200)}
    assert {"conversation_viewed", "review_claimed", "review_resolved", "staff_login"} <= kinds
    assert gw.store.verify_audit().ok


def _held_policy() -> Policy:
    spec = default_policy().spec.model_dump(mode="json", by_alias=True)
    spec["default_actions"] = ["respond", "hold_for_review"]
    return Policy(PolicyFile.model_validate(spec))


def test_held_reply_is_approved_and_reaches_the_person(engine: RiskEngine, tmp_path: Path, chromium: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    gw, keys = _gateway(engine, tmp_path, _held_policy())
    with uvicorn_running(_site(gw, keys)) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        person = _person_says(browser, url, "could you suggest ways to wind down after a long shift?")
        expect(person.locator("#log li.assistant").first).to_contain_text("care team is reviewing", timeout=15000)
        staff = browser.new_page()
        _login(staff, url)
        staff.get_by_role("button", name="Claim").click()
        staff.get_by_role("button", name="Approve as is").click()
        released = person.locator('#log li[data-source="released"]')
        expect(released).to_contain_text("What would help right now?", timeout=15000)
        browser.close()


def test_held_reply_times_out_to_the_safe_fallback(engine: RiskEngine, tmp_path: Path, chromium: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    gw, keys = _gateway(engine, tmp_path, _held_policy(), timeout_s=1.0)
    with uvicorn_running(_site(gw, keys)) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        person = _person_says(browser, url, "could you suggest ways to wind down after a long shift?")
        released = person.locator('#log li[data-release="timed_out"]')
        expect(released).to_contain_text("116 123", timeout=20000)
        expect(person.locator("#log")).not_to_contain_text("What would help right now?")
        browser.close()
