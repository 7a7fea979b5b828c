"""Per-conversation vault: which placeholder stands for which original value.

A conversation keeps one vault for its whole life so that the same value gets the same placeholder in every
turn (the model can then follow "<PERSON_1>" across turns). The vault holds the identifying values
themselves, so it is never logged: its repr shows only a count, and its errors never quote its contents.
The gateway stores it (encrypted) through ``to_dict``/``from_dict``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

VAULT_FORMAT_VERSION = 1

#: Canonical placeholder form, exactly as the redactor writes it.
PLACEHOLDER_RE = re.compile(r"<([A-Z]+(?:_[A-Z]+)*)_([1-9][0-9]*)>")

#: Labels whose values are numbers: "07700 900123" and "07700900123" are the same value.
NUMERIC_LABELS = frozenset({"PHONE_NUMBER", "CREDIT_CARD", "IBAN", "NHS_NUMBER", "SSN", "IP_ADDRESS"})


def value_key(label: str, original: str) -> str:
    """Key under which an original is remembered, so trivially different spellings share a placeholder."""
    if label in NUMERIC_LABELS:
        return "#" + "".join(ch for ch in original if ch.isalnum()).casefold()
    return " ".join(original.split()).casefold()


@dataclass
class Vault:
    """Two-way map between placeholders and the values they hide, for one conversation.

    The first spelling seen for a value is the one restored. Not safe for concurrent use from several
    threads on the same conversation (the gateway serialises turns of one conversation anyway).
    """

    _by_placeholder: dict[str, str] = field(default_factory=dict, repr=False)
    _by_key: dict[str, str] = field(default_factory=dict, repr=False)
    _counters: dict[str, int] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        return f"Vault(<{len(self._by_placeholder)} entries>)"

    def __len__(self) -> int:
        return len(self._by_placeholder)

    def placeholder_for(self, label: str, original: str) -> str:
        """Return the placeholder for ``original``, minting ``<LABEL_n>`` the first time it is seen."""
        if not re.fullmatch(r"[A-Z]+(?:_[A-Z]+)*", label):
            raise ValueError("placeholder label must be upper-case words joined by underscores")
        key = value_key(label, original)
        existing = self._by_key.get(key)
        if existing is None and label == "PERSON":
            existing = self._person_for_part(original)
        if existing is not None:
            return existing
        number = self._counters.get(label, 0) + 1
        self._counters[label] = number
        placeholder = f"<{label}_{number}>"
        self._by_placeholder[placeholder] = original
        self._by_key[key] = placeholder
        return placeholder

    def person_parts(self) -> dict[str, str]:
        """Single names inside known full names ("Marguerite" in "Marguerite Okonkwo-Reyes") → that person's
        placeholder, for parts of three letters or more that belong to exactly one known person. People are
        referred to by first name after the first mention; without this the short form would slip through."""
        owners: dict[str, set[str]] = {}
        for placeholder, original in self._by_placeholder.items():
            if not placeholder.startswith("<PERSON_"):
                continue
            parts = [p for p in re.split(r"\s+", original.strip()) if len(p) >= 3 and p[:1].isupper()]
            if len(parts) < 2:
                continue
            for part in parts:
                owners.setdefault(part, set()).add(placeholder)
        return {part: next(iter(ps)) for part, ps in owners.items() if len(ps) == 1}

    def _person_for_part(self, candidate: str) -> str | None:
        return self.person_parts().get(candidate.strip())

    def original_for(self, placeholder: str) -> str | None:
        """Return the value behind a canonical placeholder, or None when this vault never issued it."""
        return self._by_placeholder.get(placeholder)

    def placeholders(self) -> list[str]:
        """Issued placeholders in the order they were minted (values are deliberately not exposed in bulk)."""
        return list(self._by_placeholder)

    def known_values(self) -> list[tuple[str, str]]:
        """(placeholder, original) pairs, so a value seen in an earlier turn is hidden again even if missed now."""
        return list(self._by_placeholder.items())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (contains the identifying values: encrypt before storing)."""
        return {
            "version": VAULT_FORMAT_VERSION,
            "entries": [[placeholder, original] for placeholder, original in self._by_placeholder.items()],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Vault:
        """Rebuild a vault stored by ``to_dict``; raises ValueError (without quoting values) when malformed."""
        if not isinstance(data, dict) or data.get("version") != VAULT_FORMAT_VERSION:
            raise ValueError("unsupported vault format version")
        entries = data.get("entries")
        if not isinstance(entries, list):
            raise ValueError("vault entries must be a list")
        vault = cls()
        for index, entry in enumerate(entries):
            if not (isinstance(entry, list | tuple) and len(entry) == 2 and all(isinstance(x, str) for x in entry)):
                raise ValueError(f"vault entry {index} must be a [placeholder, original] pair of strings")
            placeholder, original = entry
            match = PLACEHOLDER_RE.fullmatch(placeholder)
            if match is None:
                raise ValueError(f"vault entry {index} has a malformed placeholder")
            if placeholder in vault._by_placeholder:
                raise ValueError(f"vault entry {index} repeats a placeholder")
            label, number = match.group(1), int(match.group(2))
            vault._by_placeholder[placeholder] = original
            vault._by_key.setdefault(value_key(label, original), placeholder)
            vault._counters[label] = max(vault._counters.get(label, 0), number)
        return vault
