"""The care tools end to end in Debian's Chromium via Playwright, as a person and a clinician would use them, with
axe-core checking each page for serious accessibility violations: a PHQ-9 by form whose item 9 starts the risk
inquiry in the chat, a GAD-7 answered in the chat, a mood rating, the trends page, building a safety plan, and the
clinician seeing all of it (and downloading the FHIR export) in the console."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mindrail.backends.scripted import ScriptedBackend
from mindrail.console.accounts import Accounts
from mindrail.console.app import add_console_routes
from mindrail.gateway.app import create_app
from mindrail.gateway.care import CareDesk
from mindrail.gateway.chat import add_chat_routes
from mindrail.gateway.pipeline import Guard
from mindrail.gateway.recorder import StoreRecorder
from mindrail.gateway.service import Gateway
from mindrail.policy.decide import default_policy
from mindrail.risk.engine import RiskEngine
from mindrail.store import KeyRing, Store
from tests.serving import assert_no_serious_axe_violations as _axe
from tests.serving import uvicorn_running

PW = "a long clinician passphrase"


@pytest.fixture()
def site(engine: RiskEngine, tmp_path: Path) -> Iterator[tuple[str, Gateway]]:
    keys = KeyRing.generate()
    store = Store(f"sqlite:///{tmp_path / 'care-e2e.db'}", keys)
    Accounts(store).add_user("cleo", "clinician", PW, tenants=["chat-page"])
    policy = default_policy()
    guard = Guard(
        engine,
        policy,
        ScriptedBackend(default="Thanks for telling me. What would help right now?"),
        recorder=StoreRecorder(store),
        care=CareDesk(policy),
    )
    gateway = Gateway(guard, store)

    def extra(a: Any) -> None:
        add_chat_routes(a, gateway, keys.derive("chat-cookie"))
        add_console_routes(a, gateway)

    with uvicorn_running(create_app(gateway, extra_routes=extra)) as url:
        yield url, gateway


def _say(page: Any, text: str) -> Any:
    from playwright.sync_api import expect

    before = page.locator("#log li.assistant").count()
    page.get_by_label("Your message").fill(text)
    page.keyboard.press("Enter")
    reply = page.locator("#log li.assistant").nth(before)
    expect(reply).to_have_attribute("data-source", "care", timeout=15000)
    return reply


def test_person_uses_the_care_tools_and_the_clinician_sees_them(
    site: tuple[str, Gateway], chromium: str, axe_js: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, gateway = site
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        # bypass_csp only so the test can inject axe-core; the app's CSP forbids inline scripts.
        page = browser.new_context(locale="en-GB", bypass_csp=True).new_page()
        page.goto(f"{url}/chat?locale=en-GB")
        page.get_by_role("button", name="I understand and agree").click()
        page.get_by_text("Check-ins and my safety plan").click()

        # 1. A PHQ-9 by form: item 9 above 0 starts the risk inquiry in the chat.
        page.get_by_role("button", name="Fill in as a form").click()
        items = page.locator("#checkin-items fieldset")
        expect(items).to_have_count(9)
        for i in range(9):
            items.nth(i).get_by_label("Several days").check()
        _axe(page, axe_js)
        page.get_by_role("button", name="Submit check-in").click()
        expect(page.locator("#checkin-result")).to_contain_text("Your total is 9 out of 27 (mild)")
        follow_up = page.locator("#log li.assistant").last
        expect(follow_up).to_contain_text("thoughts of killing yourself")
        reply = _say(page, "no, never")
        expect(reply).to_contain_text("done anything, started to do anything")
        reply = _say(page, "no")
        expect(reply).to_contain_text("Thank you for telling me")

        # 2. A GAD-7 answered in the chat, one item per message.
        page.get_by_label("Questionnaire", exact=True).select_option("gad7")
        page.get_by_role("button", name="Answer in the chat").click()
        expect(page.locator("#log li.assistant").last).to_contain_text("question 1 of 7")
        for answer in ["a few days", "most days", "not at all", "2", "nope", "several days", "never"]:
            reply = _say(page, answer)
        expect(reply).to_contain_text("total is 6 out of 21")

        # 3. Today's mood.
        page.get_by_label("Mood from 0 (worst) to 10 (best)").fill("6")
        page.get_by_label("A note, if you like").fill("walked to the allotment")
        page.get_by_role("button", name="Save mood").click()
        expect(page.locator("#mood-status")).to_contain_text("Saved")

        # 4. A safety plan, in the person's own words; the crisis lines are already there.
        page.get_by_role("button", name="Open my safety plan").click()
        expect(page.get_by_label("5. Professionals and crisis lines I can contact")).to_have_value(
            re.compile("116 123")
        )
        page.get_by_label("1. My warning signs").fill("not sleeping\nskipping meals")
        page.get_by_label("4. People I can ask for help").fill("my brother Idris")
        page.get_by_role("button", name="Save my safety plan").click()
        expect(page.locator("#plan-status")).to_contain_text("saved")
        _axe(page, axe_js)

        # 5. The trends page.
        page.get_by_role("link", name="See my trends").click()
        expect(page.get_by_role("heading", name="My trends")).to_be_visible()
        expect(page.get_by_role("table").first).to_contain_text("9 of 27")
        expect(page.get_by_role("img").first).to_have_attribute("aria-label", chart_label(9))
        expect(page.locator("body")).to_contain_text("6 of 10")
        _axe(page, axe_js)

        # 6. The clinician: the item-9 review item, then the care records beside the transcript.
        staff = browser.new_context(viewport={"width": 1024, "height": 768}, bypass_csp=True).new_page()
        staff.goto(f"{url}/console/login")
        staff.get_by_label("Username").fill("cleo")
        staff.get_by_label("Password").fill(PW)
        staff.keyboard.press("Enter")
        row = staff.locator("tr[data-item]").first
        expect(row).to_contain_text("care")
        row.get_by_role("link").click()
        care = staff.locator("section", has=staff.get_by_role("heading", name="Care records"))
        expect(care).to_contain_text("Suicidal thoughts (past month)")
        expect(care).to_contain_text("no, never")
        expect(care).to_contain_text("9 / 27")
        expect(care).to_contain_text("6 / 21")
        expect(care).to_contain_text("walked to the allotment")
        expect(care).to_contain_text("my brother Idris")
        _axe(staff, axe_js)
        href = staff.get_by_role("link", name="Download as FHIR R4 (JSON)").get_attribute("href")
        fhir = staff.request.get(f"{url}{href}")
        assert fhir.ok and fhir.json()["resourceType"] == "Bundle"
        browser.close()
    assert gateway.store.verify_audit().ok


def chart_label(total: int) -> Any:
    """The chart's accessible name says the totals in words."""
    return re.compile(rf"totals over time: .*: {total}")
