"""Crisis resources: the shipped file meets the schema, every entry is sourced and dated, and the issue's locales
are all there."""

from __future__ import annotations

import datetime as dt

import pytest

from mindrail.policy.resources import FALLBACK, default_resources

REQUIRED = ["US", "CA", "UK", "IE", "AU", "NZ", "IN", FALLBACK]


@pytest.mark.parametrize("locale", REQUIRED)
def test_required_locale_present_with_emergency_line(locale: str) -> None:
    book = default_resources()
    key, loc = book.for_locale(locale)
    assert key == locale
    assert loc.emergency.number or loc.emergency.instructions
    assert loc.emergency.source_url and loc.emergency.verified


def test_every_entry_has_source_and_a_plausible_verified_date() -> None:
    for key, loc in default_resources().data.locales.items():
        for s in loc.services:
            assert str(s.source_url).startswith("https://"), (key, s.id)
            assert dt.date(2024, 1, 1) <= s.verified <= dt.date.today(), (key, s.id)
            assert s.phone or s.text or s.text_instructions or s.chat_url


def test_national_locales_list_at_least_one_service() -> None:
    book = default_resources()
    for key in REQUIRED[:-1]:
        assert book.data.locales[key].services, key


def test_render_lists_services_and_emergency() -> None:
    text = default_resources().render("en-AU")
    assert "Emergency services" in text and text.count("\n") >= 1
