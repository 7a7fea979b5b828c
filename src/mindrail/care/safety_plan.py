"""The person's safety plan (Stanley and Brown 2012): six sections, in the published order, written in the person's
own words, with the professionals section prefilled from the locale's vetted crisis lines.

The section titles and prompts are data (``care/data/safety_plan.yaml``). The plan is the person's: mindrail never
writes an entry for them; it offers the plan after a crisis protocol or a moderate risk and shows it again when
risk returns (policy), and clinicians see it in the console.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Any

from pydantic import Field, field_validator

from mindrail.datafiles import StrictModel, load_model
from mindrail.policy.resources import default_resources

MAX_ENTRIES = 20
MAX_ENTRY_CHARS = 300


class PlanSource(StrictModel):
    citation: str
    url: str
    checked: dt.date


class SectionSpec(StrictModel):
    id: str = Field(pattern=r"^[a-z_]+$")
    title: str
    prompt: str


class SafetyPlanFile(StrictModel):
    version: int
    source: PlanSource
    sections: tuple[SectionSpec, ...] = Field(min_length=6, max_length=6)


@cache
def plan_spec() -> SafetyPlanFile:
    return load_model(SafetyPlanFile, "data/safety_plan.yaml", package="mindrail.care")


def section_ids() -> tuple[str, ...]:
    return tuple(s.id for s in plan_spec().sections)


class SafetyPlan(StrictModel):
    """A plan as stored: entries per section id. Unknown sections, empty entries and over-long entries are errors
    that name the section and the entry's place."""

    sections: dict[str, tuple[str, ...]]
    updated_at: dt.datetime | None = None

    @field_validator("sections")
    @classmethod
    def _valid(cls, v: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        known = section_ids()
        for sid, entries in v.items():
            if sid not in known:
                raise ValueError(f"unknown section {sid!r}; sections are {', '.join(known)}")
            if len(entries) > MAX_ENTRIES:
                raise ValueError(f"{sid}: at most {MAX_ENTRIES} entries")
            for i, e in enumerate(entries):
                if not e.strip():
                    raise ValueError(f"{sid}[{i}]: empty entry")
                if len(e) > MAX_ENTRY_CHARS:
                    raise ValueError(f"{sid}[{i}]: longer than {MAX_ENTRY_CHARS} characters")
        return {sid: tuple(e.strip() for e in v.get(sid, ())) for sid in known}

    @classmethod
    def new(cls, locale: str | None = None) -> SafetyPlan:
        """An empty plan whose professionals section lists the locale's crisis lines (vetted, sourced)."""
        return cls(sections={"professionals": crisis_lines(locale)})

    def with_section(self, section: str, entries: list[str]) -> SafetyPlan:
        """A copy with one section replaced (the person edits a section at a time)."""
        return SafetyPlan(sections={**self.sections, section: tuple(entries)}, updated_at=dt.datetime.now(dt.UTC))

    @property
    def empty(self) -> bool:
        return not any(self.sections.get(s) for s in section_ids() if s != "professionals")

    def render(self) -> list[dict[str, Any]]:
        """Sections in order with their titles, for the chat page, the console and the export."""
        return [
            {"id": s.id, "title": s.title, "prompt": s.prompt, "entries": list(self.sections.get(s.id, ()))}
            for s in plan_spec().sections
        ]

    def to_markdown(self) -> str:
        lines = ["# My safety plan", ""]
        for n, s in enumerate(self.render(), 1):
            lines.append(f"## {n}. {s['title']}")
            lines.extend(f"- {e}" for e in s["entries"] or ["(not filled in yet)"])
            lines.append("")
        lines.append(f"Based on the Safety Planning Intervention ({plan_spec().source.citation.split('.')[0]}).")
        return "\n".join(lines) + "\n"


def crisis_lines(locale: str | None) -> tuple[str, ...]:
    """The locale's services as one line each (name, number, hours), and its emergency number."""
    _, loc = default_resources().for_locale(locale)
    lines = [s.contact_line() for s in loc.services]
    lines.append(f"Emergency: {loc.emergency.describe()}")
    return tuple(lines)
