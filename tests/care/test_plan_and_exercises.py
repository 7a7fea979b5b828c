"""The safety plan (six sections, prefilled crisis lines) and the self-help library (sourced, crisis first)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mindrail.care.exercises import exercise, library, render
from mindrail.care.safety_plan import SafetyPlan, plan_spec, section_ids


def test_six_sections_in_the_published_order() -> None:
    assert section_ids() == (
        "warning_signs",
        "coping",
        "distraction",
        "people_to_ask",
        "professionals",
        "safe_environment",
    )
    assert "Stanley" in plan_spec().source.citation


def test_new_plan_prefills_the_locales_crisis_lines() -> None:
    plan = SafetyPlan.new("GB")
    lines = plan.sections["professionals"]
    assert any("116 123" in line for line in lines) and lines[-1].startswith("Emergency")
    assert plan.empty


def test_editing_a_section_keeps_the_others() -> None:
    plan = SafetyPlan.new("US").with_section("coping", ["walk round the block", "cold water on my face"])
    assert plan.sections["coping"] == ("walk round the block", "cold water on my face")
    assert plan.sections["professionals"] and not plan.empty
    assert "## 2. " in plan.to_markdown() and "- walk round the block" in plan.to_markdown()


@pytest.mark.parametrize(
    ("section", "entries", "field"),
    [
        ("nope", ["x"], "unknown section"),
        ("coping", ["  "], "coping[0]: empty"),
        ("coping", ["x" * 301], "coping[0]: longer"),
    ],
)
def test_bad_entries_are_named(section: str, entries: list[str], field: str) -> None:
    with pytest.raises(ValidationError, match=field.replace("[", r"\[").replace("]", r"\]")):
        SafetyPlan.new("US").with_section(section, entries)


def test_library_has_the_six_exercises_each_sourced() -> None:
    ids = [e.id for e in library().exercises]
    assert len(ids) == 6 and "grounding_5_4_3_2_1" in ids and "sleep_hygiene" in ids
    for e in library().exercises:
        assert e.source.url.startswith("http") and e.source.checked.isoformat() == "2026-12-07"
        assert any("crisis" in w for w in e.not_when)


def test_render_shows_steps_and_source() -> None:
    text = render(exercise("paced_breathing"))
    assert "1. " in text and "Source:" in text
    with pytest.raises(KeyError):
        exercise("made_up")
