"""Names introduced by a title, a care role or a relationship.

"Dr. Okafor", "Nurse Ramirez", "my therapist Jenna", "my boyfriend Marcus": the title or role is strong evidence
that the next word is a name even where spaCy's small model misses it. Only the name is reported (as PERSON), so
the model still reads "Dr. <PERSON_1>" or "my therapist <PERSON_2>", which is the context a supportive reply
needs, and the same surname said without its title later maps to the same placeholder.
"""

from __future__ import annotations

import re

from mindrail.privacy.recognizers._base import NOT_NAMES, RegexRecognizer

_TITLES = r"(?:Dr|Doctor|Nurse|Sister|Matron|Prof|Professor|Mr|Mrs|Ms|Miss|Mx)\.?"
_ROLES = (
    r"(?:therapist|psychotherapist|psychiatrist|psychologist|counsellor|counselor|doctor|GP|nurse|CPN|"
    r"social\s+worker|care\s+coordinator|key\s*worker|case\s+manager|support\s+worker|consultant|"
    r"midwife|health\s+visitor|mentor|coach|pastor|vicar|priest|imam|rabbi)"
)
#: People in someone's life, named after a possessive: "my boyfriend Marcus", "her sister, Aisha".
_RELATIONS = (
    r"(?:my|his|her|our|their|your)\s+(?:ex[- ]?|older\s+|younger\s+|little\s+|big\s+|best\s+|step-?)?"
    r"(?:boyfriend|girlfriend|partner|husband|wife|fianc[eé]e?|ex|friend|mate|flatmate|roommate|housemate|"
    r"sister|brother|son|daughter|mum|mom|mother|dad|father|aunt|auntie|uncle|cousin|niece|nephew|"
    r"grandma|grandmother|grandad|grandfather|nan|gran|grandpa|stepdad|stepmum|stepmom|boss|manager|"
    r"colleague|coworker|co-worker|teacher|tutor|neighbour|neighbor|landlord|landlady|child|baby|kid)"
)
_LINK = r"(?:\s*,\s*|\s+)(?:(?:is\s+)?called\s+|named\s+|['’]s\s+name\s+is\s+)?"
#: Self-introductions: "my name is Ana-María López" (a lower-case name is accepted here), "call me Sam" (not:
#: "call me back").
_INTROS = r"(?:my\s+name\s+is|my\s+name['’]s|(?:i\s+am|i['’]m)\s+called)"
_CALL_ME = r"(?:they\s+)?call\s+me"
# Any letters (accents included), apostrophes and hyphens inside; capitalisation is checked in ``span``.
_NAME_WORD = r"[^\W\d_](?:[\w'’-]*[^\W_])?"
_NAME = rf"{_NAME_WORD}(?:\s+{_NAME_WORD}){{0,3}}"

_REGEX = re.compile(
    rf"(?:(?P<intro>\b(?i:{_INTROS})\s+)|\b{_TITLES}\s+|\b(?i:{_CALL_ME})\s+"
    rf"|\b(?i:{_ROLES}|{_RELATIONS}){_LINK}(?:{_TITLES}\s+)?)"
    rf"(?P<span>{_NAME})"
    # Lower-case names are accepted after an abbreviated doctor title ("dr okafor") and a self-introduction.
    rf"|\b(?i:dr)\.?\s+(?P<lower>{_NAME_WORD})"
)
#: Words that follow "dr" or "my name is" in lower case without being a name.
_LOWER_NOT_NAMES = frozenset(
    {"said", "says", "told", "was", "is", "and", "who", "appointment", "visit", "not", "a", "an", "the", "so", "on",
     "in", "just", "really", "like", "too", "what", "never", "also", "still", "only", "mud", "irrelevant",
     "literally", "honestly", "kind", "sort", "weird", "hard", "difficult", "different", "complicated",
     "embarrassing", "unusual", "common", "long", "short", "private", "secret", "here", "there", "it"}
)  # fmt: skip
#: Lower-case particles inside a name ("Ana de la Cruz", "Ludwig van Beethoven").
_PARTICLES = frozenset(
    {"de", "da", "del", "della", "di", "du", "la", "le", "van", "von", "der", "den", "bin", "ibn", "al"}
)


class ClinicianNameRecognizer(RegexRecognizer):
    """Names after a title ("Dr. Okafor"), a role ("my therapist Jenna") or a self-introduction; as PERSON."""

    ENTITY = "PERSON"
    REGEX = _REGEX
    SCORE = 0.9

    def span(self, match: re.Match[str], text: str) -> tuple[int, int] | None:
        """Keep the capitalised words that follow ("Jenna" of "Jenna is away"), skipping look-alikes ("I")."""
        if match.group("lower") is not None:
            if match.group("lower").casefold() in _LOWER_NOT_NAMES:
                return None
            return match.span("lower")
        start, end = match.span("span")
        tokens = list(re.finditer(r"\S+", text[start:end]))
        kept: list[re.Match[str]] = []
        for index, token in enumerate(tokens):
            word = token.group(0)
            capitalised = word[0].isupper() and word not in NOT_NAMES
            lower_intro = index == 0 and match.group("intro") is not None and word.casefold() not in _LOWER_NOT_NAMES
            particle = (
                kept and word in _PARTICLES and index + 1 < len(tokens) and tokens[index + 1].group(0)[0].isupper()
            )
            if not (capitalised or lower_intro or particle):
                break
            kept.append(token)
        if not kept:
            return None
        return start + kept[0].start(), start + kept[-1].end()
