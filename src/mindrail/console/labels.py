"""Clinicians' judgements back into training: resolved escalations, de-identified, as labelled examples in the
JSONL format `mindrail train --extra FILE` reads.

Only the category a clinician reviewed is labelled ("known"): a false alarm says the message was not that risk;
any other outcome confirms the level the item was raised at. Text is redacted (names, places, contact details...)
before it leaves the store, and ids are one-way hashes, so the file can be shared with whoever trains models. An
export covers only the tenants it is given (a staff member's grants, or ``--tenant``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from mindrail.risk.types import Level
from mindrail.store import Store
from mindrail.store.tenancy import EVERYTHING, Grants


class _Redactor(Protocol):
    def redact(self, text: str, vault: Any) -> str: ...


def _pseudonym(value: str) -> str:
    return hashlib.sha256(b"mindrail-label-export\x00" + value.encode()).hexdigest()[:16]


def labelled_examples(
    store: Store, redactor: _Redactor, vault_factory: Any, grants: Grants = EVERYTHING
) -> Iterator[dict[str, Any]]:
    for item, text in store.reviewed_messages(grants):
        level = "none" if item.outcome == "false_alarm" else Level(item.level).label
        yield {
            "id": f"clin-{_pseudonym(f'{item.conversation_id}/{item.id}')}",
            "text": redactor.redact(text, vault_factory()),
            "labels": {item.category: level},
            "known": [item.category],
            "tags": ["clinician_review", item.outcome or "other"],
            "group": f"clin-{_pseudonym(item.conversation_id)}",
        }


def export_labels(
    store: Store,
    out: Path,
    redactor: _Redactor,
    vault_factory: Any,
    grants: Grants = EVERYTHING,
    actor: str = "cli",
) -> int:
    """Write the examples of the ``grants``' tenants; the audit event names who exported which tenants."""
    n = 0
    with out.open("w", encoding="utf-8") as f:
        for row in labelled_examples(store, redactor, vault_factory, grants):
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    store.audit("labels_exported", actor, None, {"examples": n, "tenants": sorted(grants.tenants)})
    return n
