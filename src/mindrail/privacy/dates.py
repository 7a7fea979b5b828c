"""Which dates are identifying.

A counsellor model needs the shape of time ("last night", "tomorrow", "since March", "two years ago") and gains
nothing from an exact calendar day, while an exact day (a birthday, the date of an admission or a loss) can
single a person out. So only dates that pin down a day, and any date said to be a birth date, are redacted.
Bare years and months stay unless they are about a birth.
"""

from __future__ import annotations

import re

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|"
    r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DAY = r"(?:[12][0-9]|3[01]|0?[1-9])(?:st|nd|rd|th)?"

_SPECIFIC = re.compile(
    rf"\b{_DAY}\s+(?:of\s+)?{_MONTH}(?![a-z])"  # 3 March, 3rd of March
    rf"|\b{_MONTH}\s+{_DAY}(?![0-9])\b"  # March 3, March 3rd
    r"|\b[0-9]{1,4}[/.-][0-9]{1,2}[/.-][0-9]{2,4}\b",  # 03/04/2021, 2021-04-03
    re.IGNORECASE,
)
#: A birth cue directly before the date, joined only by small linking words: "born in", "date of birth is",
#: "DOB:", "my birthday is on the". "born in 1990 and it went wrong in 2019" keeps 2019.
_BIRTH_CONTEXT = re.compile(
    r"\b(?:born|birth|birthday|bday|b-day|d\.?o\.?b\.?)(?:\s*[:,-]?\s*(?:on|in|is|was|at|the|of|around|back))*"
    r"\s*[:,-]?\s*$",
    re.IGNORECASE,
)
_HAS_CALENDAR_PART = re.compile(rf"\b(?:1[89][0-9]{{2}}|20[0-9]{{2}}|{_MONTH})(?![a-z])|[0-9]", re.IGNORECASE)


_DAY_BEFORE = re.compile(rf"\b{_DAY}\s+(?:of\s+)?$", re.IGNORECASE)
_DAY_OR_YEAR_AFTER = re.compile(rf"^(?:\s+{_DAY}(?![0-9]))?(?:,?\s+(?:1[89][0-9]{{2}}|20[0-9]{{2}})\b)?", re.IGNORECASE)


def widen_date(text: str, start: int, end: int) -> tuple[int, int]:
    """Grow a date span over an adjacent day number or year that NER left outside ("5th of [May]")."""
    before = _DAY_BEFORE.search(text[max(0, start - 12) : start])
    if before is not None:
        start -= len(before.group(0))
    after = _DAY_OR_YEAR_AFTER.match(text[end : end + 16])
    if after is not None:
        end += len(after.group(0))
    return start, end


def is_identifying_date(text: str, start: int, end: int) -> bool:
    """True when ``text[start:end]`` names a specific day, or any calendar date right after a birth cue."""
    span = text[start:end]
    if _SPECIFIC.search(span):
        return True
    before = text[max(0, start - 60) : start]
    return bool(_BIRTH_CONTEXT.search(before) and _HAS_CALENDAR_PART.search(span))
