"""Street addresses with a house number, UK postcodes, US state + ZIP codes and PO boxes.

spaCy's small model misses most addresses or tags the street as a person ("Rose Lane"). A house number followed
by capitalised words and a street-type word is a strong, cheap signal; a flat/apartment prefix is kept inside
the span ("flat 3b, 17 Rose Lane"). A full UK postcode in capitals is almost never anything else.
"""

from __future__ import annotations

import re

from mindrail.privacy.recognizers._base import NOT_NAMES, RegexRecognizer

_UK_POSTCODE = r"\b(?:GIR ?0AA|[A-PR-UWYZ][A-HK-Y]?[0-9][0-9A-HJKMNPR-Y]? ?[0-9][ABD-HJLNP-UW-Z]{2})\b"
_PO_BOX = r"\b(?i:p\.?\s?o\.?\s+box|post\s+office\s+box)\s+[0-9]{1,6}\b"
#: A two-letter state code right before a ZIP code ("DC 20500", "CA 94110-1234"); a bare 5-digit number is not.
_US_STATE_ZIP = r"\b[A-Z]{2}\s+[0-9]{5}(?:-[0-9]{4})?\b"
_STREET_TYPES = (
    "Street|St|Road|Rd|Lane|Ln|Avenue|Ave|Drive|Dr|Close|Way|Court|Ct|Crescent|Terrace|Place|Pl|Gardens|Grove|"
    "Boulevard|Blvd|Hill|Row|Square|Sq|Walk|Mews|Parade|View|Rise|Green|Park|Highway|Hwy|Parkway|Circle|Wharf"
)
_NAME_WORD = r"(?:[A-Z][\w'’-]*|[0-9]+(?:st|nd|rd|th))"

_ADDRESS = (
    r"(?:\b(?i:flat|apartment|apt\.?|unit|suite|room)\s+[0-9]{1,4}[A-Za-z]?,?\s+)?"
    r"\b[0-9]{1,5}[A-Za-z]?(?:\s*[-–]\s*[0-9]{1,5}[A-Za-z]?)?,?\s+"
    rf"{_NAME_WORD}(?:\s+{_NAME_WORD}){{0,3}}\s+"
    rf"(?i:{_STREET_TYPES})\b(?:\s+(?:NW|NE|SW|SE|N|S|E|W)\b)?"
    # An optional ", Town" and postcode belong to the same address.
    rf"(?P<town>,\s*[A-Z][a-z]+(?:[ -][A-Z][a-z]+)?)?(?P<postcode>,?\s+{_UK_POSTCODE})?"
)


class StreetAddressRecognizer(RegexRecognizer):
    """House-numbered street addresses ("42 Elm Street", "flat 3b, 17 Rose Lane"), postcodes, ZIPs, PO boxes."""

    ENTITY = "STREET_ADDRESS"
    REGEX = re.compile(rf"{_ADDRESS}|{_UK_POSTCODE}|{_PO_BOX}|{_US_STATE_ZIP}")
    SCORE = 0.9

    def span(self, match: re.Match[str], text: str) -> tuple[int, int] | None:
        """Leave out a trailing capitalised word that is not a town ("42 Elm Street, But ...")."""
        start, end = match.span()
        town = match.group("town")
        if town is not None and town.strip(" ,").split()[0] in NOT_NAMES and match.group("postcode") is None:
            end = match.start("town")
        return start, end
