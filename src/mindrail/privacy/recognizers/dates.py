"""Day-and-month dates written in words ("the 5th of May", "March 3rd, 2021").

spaCy's small model misses many of these and Presidio's date recogniser covers numeric forms only. Only dates
that pin down a day are looked for here; which dates are finally redacted is decided in mindrail.privacy.dates.
"""

from __future__ import annotations

import re

from mindrail.privacy.recognizers._base import RegexRecognizer

# "may" and "march" are everyday words in lower case, so those two need a capital; the rest may be lower case.
_MONTH = (
    r"(?:(?i:jan(?:uary)?|feb(?:ruary)?|apr(?:il)?|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|"
    r"nov(?:ember)?|dec(?:ember)?)|Mar(?:ch)?|MARCH|May|MAY)\.?"
)
_DAY = r"(?:[12][0-9]|3[01]|0?[1-9])(?i:st|nd|rd|th)?"
_YEAR = r"(?:,?\s+(?:1[89][0-9]{2}|20[0-9]{2}))?"


class SpecificDateRecognizer(RegexRecognizer):
    """Day + month in words, in either order, with an optional year; reported as DATE_TIME."""

    ENTITY = "DATE_TIME"
    REGEX = re.compile(
        rf"\b{_DAY}\s+(?:of\s+)?{_MONTH}(?![A-Za-z]){_YEAR}\b"  # 5th of May, 3 March 2021
        rf"|\b{_MONTH}\s+{_DAY}(?![0-9A-Za-z]){_YEAR}\b"  # March 3rd, 2021
    )
    SCORE = 0.8
