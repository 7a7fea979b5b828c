"""Putting original values back into a model's reply.

Models echo placeholders imperfectly: "<PERSON_1>", "PERSON_1", "<person_1>", "[PERSON 1]", "<<PERSON_1>>" or
markdown-escaped "PERSON\\_1". All of these are restored. A placeholder the vault never issued (the model made
it up, or it belongs to another conversation) is left exactly as written, never half-replaced, so nothing from
a different conversation can leak in and nothing is mangled. Bare prose such as "a person 1 to 1" is not
touched: an unbracketed form must use an underscore or be written in capitals like a placeholder.
"""

from __future__ import annotations

import re
from functools import lru_cache

from mindrail.privacy.vault import PLACEHOLDER_RE, Vault

#: Every label the redactor can emit; placeholders are "<LABEL_n>".
LABELS: tuple[str, ...] = (
    "PERSON",
    "LOCATION",
    "ADDRESS",
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "DATE",
    "URL",
    "CREDIT_CARD",
    "IBAN",
    "IP_ADDRESS",
    "SSN",
    "NHS_NUMBER",
    "MEDICATION",
    "FACILITY",
    "USERNAME",
)

_SEP = r"\\?[ _-]?"


@lru_cache(maxsize=32)
def _variant_regex(labels: frozenset[str]) -> re.Pattern[str]:
    # Longest first so PHONE_NUMBER wins over a shorter label sharing its tail.
    alternatives = "|".join(
        _SEP.join(re.escape(word) for word in label.split("_")) for label in sorted(labels, key=len, reverse=True)
    )
    return re.compile(
        r"(?<![A-Za-z0-9_])"
        r"(?P<open>(?:<{1,2}|\[{1,2}|\{{1,2}|\\<)\s{0,2})?"
        rf"(?P<label>{alternatives})"
        rf"(?P<sep>{_SEP})"
        r"(?P<num>[1-9][0-9]*)(?![0-9])"
        r"(?P<close>\s{0,2}(?:\\?>{1,2}|\]{1,2}|\}{1,2}))?",
        re.IGNORECASE,
    )


def _canonical(match: re.Match[str]) -> str:
    label = re.sub(r"\\?[ _-]", "_", match.group("label")).upper()
    return f"<{label}_{match.group('num')}>"


def _looks_like_placeholder(match: re.Match[str]) -> bool:
    if match.group("open") or match.group("close"):
        return True
    return "_" in match.group("sep") or match.group("label").isupper()


def _labels_for(vault: Vault) -> frozenset[str]:
    labels = set(LABELS)
    for placeholder in vault.placeholders():
        found = PLACEHOLDER_RE.fullmatch(placeholder)
        if found is not None:
            labels.add(found.group(1))
    return frozenset(labels)


def restore(text: str, vault: Vault) -> str:
    """Replace every placeholder variant issued by ``vault`` with its original value, in one pass."""
    if not text or len(vault) == 0:
        return text

    def replace(match: re.Match[str]) -> str:
        if not _looks_like_placeholder(match):
            return match.group(0)
        original = vault.original_for(_canonical(match))
        return match.group(0) if original is None else original

    return _variant_regex(_labels_for(vault)).sub(replace, text)


#: Longer than any placeholder variant the regex accepts, so nothing after this many characters can change it.
_STREAM_HOLD_BACK = 40


def restore_stable_prefix(text: str, vault: Vault) -> str:
    """Restored text of the part of a still-growing reply that later chunks cannot change, for streaming.

    The last few characters are held back (they may be the start of "<PERSON_1>"), and so is any placeholder
    straddling that point. The result is always a prefix of ``restore`` of the finished reply, so a streaming
    caller can release ``restore_stable_prefix(so_far)[len(released):]`` after each chunk, then the rest of
    ``restore(full)`` at the end.
    """
    cut = max(0, len(text) - _STREAM_HOLD_BACK)
    if cut == 0:
        return ""
    for match in _variant_regex(_labels_for(vault)).finditer(text):
        if match.start() < cut < match.end():
            cut = match.start()
            break
        if match.start() >= cut:
            break
    return restore(text[:cut], vault)


def unknown_placeholders(text: str, vault: Vault) -> list[str]:
    """Canonical forms of placeholder-looking tokens in ``text`` that ``vault`` did not issue.

    Lets the gateway notice a model inventing placeholders (restore leaves those as written).
    """
    found: list[str] = []
    for match in _variant_regex(_labels_for(vault)).finditer(text):
        canonical = _canonical(match)
        if _looks_like_placeholder(match) and vault.original_for(canonical) is None and canonical not in found:
            found.append(canonical)
    return found
