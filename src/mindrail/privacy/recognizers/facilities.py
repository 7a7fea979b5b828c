"""Named care facilities (hospitals, clinics, units, wards, surgeries) and schools.

"Oakwood Psychiatric Unit" tells a reader roughly where someone lives and that they were an in-patient. spaCy's
small model tags such names inconsistently (often not at all), so a capitalised name ending in a facility word
is taken as a FACILITY. Generic mentions ("the hospital", "a clinic", "the Psychiatric Unit") carry no
distinguishing name and are left alone.
"""

from __future__ import annotations

import re

from mindrail.privacy.recognizers._base import NOT_NAMES, RegexRecognizer, words

_KINDS = (
    r"Hospital|Clinic|Infirmary|Medical\s+Cent(?:re|er)|Health\s+Cent(?:re|er)|Wellbeing\s+Cent(?:re|er)|"
    r"Treatment\s+Cent(?:re|er)|Recovery\s+Cent(?:re|er)|Rehab(?:ilitation)?\s+Cent(?:re|er)|Unit|Ward|"
    r"Surgery|Practice|Hospice|Sanatorium|Asylum|Trust|"
    # Schools and colleges identify young people as precisely as a ward does.
    r"(?:Primary|Secondary|High|Grammar|Middle|Junior|Infant|Boarding)?\s*School|Academy|College|Sixth\s+Form"
)
#: Words that describe a facility without naming it: "the General Hospital" alone identifies nothing.
_GENERIC = words(
    """
    Psychiatric Mental Health General Community Children's Children’s University Teaching District Memorial
    Royal Medical NHS Foundation Acute Inpatient In-patient Outpatient Out-patient Crisis Secure Mother Baby
    Intensive Care Emergency Private Local City County Regional National New Old Main Primary Secondary High
    Grammar Middle Junior Infant Boarding Sixth Form Catholic Comprehensive State Independent Art Music Sports
    """
)
_NAME_WORD = r"(?:St\.?|Saint|[A-Z][\w'’.-]*)"
_CONNECTOR = r"(?:of|on|upon|the|and|&)"

_REGEX = re.compile(
    rf"\b(?P<name>{_NAME_WORD}(?:\s+(?:{_NAME_WORD}|{_CONNECTOR}(?=\s+[A-Z]))){{0,5}})\s+(?:{_KINDS})\b"
    # Numbered wards and units ("Ward 7", "Unit 4B") identify a stay just as well.
    r"|\b(?:Ward|Unit)\s+[0-9]{1,3}[A-Z]?\b"
)


class FacilityRecognizer(RegexRecognizer):
    """Capitalised names ending in a facility word ("St. Mary's Hospital", "Maple Grove Medical Centre")."""

    ENTITY = "FACILITY"
    REGEX = _REGEX
    SCORE = 0.9

    def span(self, match: re.Match[str], text: str) -> tuple[int, int] | None:
        """Trim sentence-initial words ("Yesterday Riverside Clinic"); reject names made only of generic words."""
        start, end = match.span()
        if match.group("name") is None:
            return start, end
        name_start, name_end = match.span("name")
        tokens = list(re.finditer(r"\S+", text[name_start:name_end]))
        index = 0
        while index < len(tokens) and tokens[index].group(0).rstrip(".,") in NOT_NAMES:
            index += 1
        rest = [word.group(0) for word in tokens[index:]]
        if not rest or all(word in _GENERIC or word in {"of", "on", "upon", "the", "and", "&"} for word in rest):
            return None
        return name_start + tokens[index].start(), end
