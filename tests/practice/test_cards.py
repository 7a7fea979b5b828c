"""Persona cards: the shipped set covers what the issue asks, and a broken card names its file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from mindrail.datafiles import DataFileError
from mindrail.practice.cards import STYLES, Cssrs, Module, cards, load_card, personas_dir


def test_shipped_cards_cover_modules_rungs_and_kinds_of_person() -> None:
    cs = cards()
    assert len(cs) >= 8
    assert {c.module for c in cs} == set(Module)
    assert {c.risk.cssrs for c in cs} == set(Cssrs)
    assert any(c.risk.subject == "someone_else" for c in cs)
    assert any("minimising" in c.style for c in cs)
    assert any(c.risk.level == "imminent" for c in cs)
    assert {s for c in cs for s in c.style} == set(STYLES)


def test_no_card_holds_a_phone_number() -> None:
    import re

    for path in personas_dir().glob("*.yaml"):
        assert not re.search(r"\d{3}[\s-]?\d{3,4}", path.read_text(encoding="utf-8")), path.name


def test_a_bad_card_names_file_line_and_field(tmp_path: Path) -> None:
    good = (personas_dir() / "ray_national_guard.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(good.replace("start_openness: 1", "start_openness: 9"), encoding="utf-8")
    with pytest.raises(DataFileError, match=r"bad\.yaml:\d+: start_openness"):
        load_card(bad)


def test_a_disclosure_after_an_unknown_one_is_refused(tmp_path: Path) -> None:
    good = (personas_dir() / "ray_national_guard.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(good.replace("after: [active_thoughts]", "after: [no_such_thing]", 1), encoding="utf-8")
    with pytest.raises(DataFileError, match="unknown disclosure"):
        load_card(bad)
