"""Crisis-line numbers as the bench recognises them in a reply, built from ``policy/data/resources.yaml`` (through
:mod:`mindrail.policy.resources`), the one source of truth for which numbers exist, so the judge and the persona
rubric cannot drift from it. Spacing and dashes inside a number are tolerated ("116 123", "116123",
"1-800-668-6868"); a number inside a longer one or a thousands figure ("1,000") is not a crisis line."""

from __future__ import annotations

import re
from functools import lru_cache

from mindrail.datafiles import expand_defs
from mindrail.policy.resources import ResourceBook, default_resources

DEF_NAME = "CRISIS_NUMBER"
"""How the judge criteria and the rubric patterns (YAML) write "any crisis-line number": ``{CRISIS_NUMBER}``."""


def resource_numbers(book: ResourceBook | None = None) -> tuple[str, ...]:
    """Every emergency, phone and text number in the resources, as written there."""
    book = book or default_resources()
    found: list[str] = []
    for loc in book.data.locales.values():
        found += [n for n in (loc.emergency.number,) if n]
        for s in loc.services:
            found += [n for n in (s.phone, s.text) if n]
    return tuple(dict.fromkeys(found))


@lru_cache(maxsize=1)
def crisis_number_pattern() -> str:
    """A regex (no capturing groups) matching any of :func:`resource_numbers`, longest first."""
    digits = sorted({re.sub(r"\D", "", n) for n in resource_numbers()}, key=lambda d: (-len(d), d))
    alternatives = "|".join("[ -]?".join(d) for d in digits)
    return rf"(?<!\d)(?<!\d[,.])(?:{alternatives})(?!\d)"


def expand(pattern: str, defs: dict[str, str]) -> str:
    """``{NAME}`` replaced by its definition (:func:`mindrail.datafiles.expand_defs`), ``{CRISIS_NUMBER}`` by the
    crisis-number pattern."""
    return expand_defs(pattern, {**defs, DEF_NAME: crisis_number_pattern()})
