"""Keep identifying information away from third-party chat models, reversibly.

``Redactor.redact`` swaps names, places, contact details, identifying dates, medication and care-facility names
for placeholders ("<PERSON_1>") recorded in a per-conversation ``Vault``; ``restore`` puts them back into the
model's reply. Importing this package is cheap: Presidio and spaCy load only when ``Redactor`` or
``default_redactor`` is first used. See docs/privacy.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mindrail.privacy.placeholders import LABELS, restore, restore_stable_prefix, unknown_placeholders
from mindrail.privacy.vault import Vault

if TYPE_CHECKING:
    from mindrail.privacy.redactor import PiiFinding, Redactor, default_redactor

__all__ = [
    "LABELS",
    "PiiFinding",
    "Redactor",
    "Vault",
    "default_redactor",
    "restore",
    "restore_stable_prefix",
    "unknown_placeholders",
]

_LAZY = frozenset({"PiiFinding", "Redactor", "default_redactor"})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from mindrail.privacy import redactor

        return getattr(redactor, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
