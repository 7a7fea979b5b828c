"""Care records (check-ins, mood ratings, safety plans, risk inquiry answers) as plain records; the store seals and
opens their payloads, as for turns, because the associated data names where a value lives (docs/care.md).

A record that must reach a clinician (PHQ-9 item 9 above 0, a risk inquiry that raised the level) opens a review
item of kind ``care`` in the same transaction, with its audit event.
"""

from __future__ import annotations

import datetime as dt
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mindrail.store import audit as chain
from mindrail.store.errors import ConsentRequired, NotFound
from mindrail.store.models import CareRecord, Consent, Conversation, ReviewItem, as_utc

if TYPE_CHECKING:
    from mindrail.store.crypto import KeyRing

CARE_KINDS = ("checkin", "checkin_progress", "mood", "safety_plan", "inquiry")


def care_aad(cid: str, record_id: int) -> str:
    """Where a care record's sealed payload lives: the associated data it is sealed with."""
    return f"care_records/{cid}/{record_id}/payload"


@dataclass(frozen=True, slots=True)
class CareEntry:
    id: int
    conversation_id: str
    kind: str
    instrument: str | None
    at: dt.datetime
    payload: dict[str, Any]


class CareRecords:
    """The store's care-record methods (``Store`` inherits them)."""

    if TYPE_CHECKING:
        keys: KeyRing

        def _tx(self) -> AbstractContextManager[Session]: ...

        def _read(self) -> AbstractContextManager[Session]: ...

    def add_care_record(
        self,
        cid: str,
        kind: str,
        payload: dict[str, Any],
        *,
        instrument: str | None = None,
        actor: str = "gateway",
        review: tuple[int, str] | None = None,
    ) -> int:
        """Seal and store one record and append its audit event (kind, instrument, record id: never the answers);
        ``review`` (level, category) also opens a ``care`` review item for a clinician."""
        if kind not in CARE_KINDS:
            raise ValueError(f"kind must be one of {', '.join(CARE_KINDS)}")
        with self._tx() as s:
            conv = s.get(Conversation, cid)
            if conv is None or conv.deleted_at is not None:
                raise NotFound(f"conversation {cid} does not exist")
            q = select(func.count()).select_from(Consent)
            if not s.execute(q.where(Consent.conversation_id == cid, Consent.withdrawn_at.is_(None))).scalar_one():
                raise ConsentRequired(f"conversation {cid} has no active consent")
            row = CareRecord(conversation_id=cid, kind=kind, instrument=instrument, payload_enc=b"")
            s.add(row)
            s.flush()
            row.payload_enc = self.keys.seal_json(payload, care_aad(cid, row.id))
            chain.append(s, "care_recorded", actor, cid, {"record": row.id, "kind": kind, "instrument": instrument})
            if review is not None:
                level, category = review
                item = ReviewItem(conversation_id=cid, turn_seq=conv.turns, kind="care", level=level, category=category)
                s.add(item)
                s.flush()
                conv.top_level = max(conv.top_level, level)
                chain.append(
                    s, "review_opened", actor, cid, {"item": item.id, "kind": "care", "seq": conv.turns, "level": level}
                )
            return row.id

    def care_records(self, cid: str, kind: str | None = None, *, tenant: str | None = None) -> list[CareEntry]:
        """A conversation's records, oldest first, opened. ``tenant``: another tenant's conversation is NotFound."""
        with self._read() as s:
            conv = s.get(Conversation, cid)
            if conv is None or conv.deleted_at is not None or (tenant is not None and conv.tenant != tenant):
                raise NotFound(f"conversation {cid} does not exist")
            q = select(CareRecord).where(CareRecord.conversation_id == cid)
            if kind is not None:
                q = q.where(CareRecord.kind == kind)
            rows = s.execute(q.order_by(CareRecord.id)).scalars().all()
            out = []
            for r in rows:
                payload = self.keys.open_json(r.payload_enc, care_aad(cid, r.id))
                assert isinstance(payload, dict)
                out.append(CareEntry(r.id, cid, r.kind, r.instrument, as_utc(r.at), payload))
            return out
