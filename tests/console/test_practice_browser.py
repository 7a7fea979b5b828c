"""The practice simulator end to end in Debian's Chromium via Playwright, with axe-core on every page: a trainee
picks a card, chats, sees feedback and a better reply, finishes and reads the report; then a trainer sees the
session among the trainees and comments on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mindrail.backends.scripted import ScriptedBackend
from mindrail.console.accounts import Accounts
from mindrail.console.app import add_console_routes
from mindrail.gateway.app import create_app
from mindrail.gateway.pipeline import Guard
from mindrail.gateway.service import Gateway
from mindrail.policy.decide import default_policy
from mindrail.risk.engine import RiskEngine
from mindrail.store import KeyRing, Store
from tests.serving import assert_no_serious_axe_violations as _axe
from tests.serving import uvicorn_running

PW = "a long practice passphrase"


@pytest.fixture()
def site(engine: RiskEngine, tmp_path: Path) -> Iterator[tuple[str, Gateway]]:
    store = Store(f"sqlite:///{tmp_path / 'practice-e2e.db'}", KeyRing.generate())
    Accounts(store).add_user("tim", "trainee", PW, tenants=[])
    Accounts(store).add_user("tara", "trainer", PW, tenants=[])
    gateway = Gateway(Guard(engine, default_policy(), ScriptedBackend(default="ok")), store)
    with uvicorn_running(create_app(gateway, extra_routes=lambda a: add_console_routes(a, gateway))) as url:
        yield url, gateway


def _login(browser: Any, url: str, user: str) -> Any:
    page = browser.new_context(viewport={"width": 1024, "height": 768}, bypass_csp=True).new_page()
    page.goto(f"{url}/console/login")
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(PW)
    page.keyboard.press("Enter")
    return page


def test_a_trainee_practises_and_a_trainer_comments(site: tuple[str, Gateway], chromium: str, axe_js: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, gateway = site
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = _login(browser, url, "tim")
        expect(page.get_by_role("heading", name="Practice", exact=True)).to_be_visible()
        expect(page.get_by_role("note")).to_contain_text("simulated")
        _axe(page, axe_js)
        page.get_by_role("radio", name="Ray (Establishing safety)").check()
        page.get_by_role("button", name="Start").click()
        expect(page.get_by_role("heading", name="Practice with Ray")).to_be_visible()
        for text in (
            "It sounds like you're carrying a lot on your own right now.",
            "Are you thinking about killing yourself?",
        ):
            page.get_by_label("Your reply").fill(text)
            page.get_by_role("button", name="Send").click()
        feedback = page.get_by_role("region", name="Feedback on your turn 2")
        expect(feedback).to_contain_text("asked suicide")
        expect(feedback).to_contain_text("Another way")
        _axe(page, axe_js)
        page.get_by_role("button", name="Finish and see the report").click()
        expect(page.get_by_role("heading", name="Checklist")).to_be_visible()
        expect(page.locator(".checklist")).to_contain_text("Asked directly about suicide")
        _axe(page, axe_js)

        trainer = _login(browser, url, "tara")
        expect(trainer.get_by_role("heading", name="Trainees")).to_be_visible()
        _axe(trainer, axe_js)
        trainer.get_by_role("link", name="Report of tim").click()
        trainer.get_by_label("Add a comment for tim").fill("Good: you asked directly. Next time reflect first.")
        trainer.get_by_role("button", name="Add comment").click()
        expect(trainer.locator("#comments ~ ul")).to_contain_text("you asked directly")
        _axe(trainer, axe_js)

        page.reload()
        expect(page.locator("#comments ~ ul")).to_contain_text("you asked directly")
        browser.close()
    assert gateway.store.verify_audit().ok
