"""Practice sessions (docs/practice.md) and trainers' comments on them. The trainee's turns, the finished report
and comments are sealed like every other text the store keeps; the audit chain records that a session started,
finished or was commented on, never what was said."""

from __future__ import annotations

import datetime as dt
import uuid
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mindrail.store import audit as chain
from mindrail.store.errors import Conflict, NotFound
from mindrail.store.models import PracticeComment, PracticeSessionRow, as_utc, utcnow

if TYPE_CHECKING:
    from mindrail.store.crypto import KeyRing

MAX_COMMENT = 4000


def practice_aad(sid: str, part: str) -> str:
    return f"practice_sessions/{sid}/{part}"


def comment_aad(sid: str, comment_id: int) -> str:
    return f"practice_comments/{sid}/{comment_id}"


@dataclass(frozen=True, slots=True)
class PracticeEntry:
    id: str
    trainee: str
    card_id: str
    seed: int
    feedback_on: bool
    started_at: dt.datetime
    finished_at: dt.datetime | None
    rating: str | None
    turns: list[str]
    report: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class CommentEntry:
    id: int
    author: str
    at: dt.datetime
    text: str


class PracticeRecords:
    """The store's practice methods (``Store`` inherits them)."""

    if TYPE_CHECKING:
        keys: KeyRing

        def _tx(self) -> AbstractContextManager[Session]: ...

        def _read(self) -> AbstractContextManager[Session]: ...

    def start_practice(self, trainee: str, card_id: str, *, seed: int = 0, feedback_on: bool = True) -> str:
        sid = uuid.uuid4().hex
        with self._tx() as s:
            s.add(
                PracticeSessionRow(
                    id=sid,
                    trainee=trainee,
                    card_id=card_id,
                    seed=seed,
                    feedback_on=feedback_on,
                    turns=0,
                    turns_enc=self.keys.seal_json([], practice_aad(sid, "turns")),
                )
            )
            s.flush()
            chain.append(s, "practice_started", f"staff:{trainee}", None, {"session": sid, "card": card_id})
        return sid

    def _entry(self, r: PracticeSessionRow) -> PracticeEntry:
        turns = self.keys.open_json(r.turns_enc, practice_aad(r.id, "turns"))
        report = self.keys.open_json(r.report_enc, practice_aad(r.id, "report")) if r.report_enc else None
        assert isinstance(turns, list) and (report is None or isinstance(report, dict))
        return PracticeEntry(
            r.id,
            r.trainee,
            r.card_id,
            r.seed,
            r.feedback_on,
            as_utc(r.started_at),
            as_utc(r.finished_at),
            r.rating,
            [str(t) for t in turns],
            report,
        )

    def practice_session(self, sid: str) -> PracticeEntry:
        with self._read() as s:
            r = s.get(PracticeSessionRow, sid)
            if r is None:
                raise NotFound(f"practice session {sid} does not exist")
            return self._entry(r)

    def add_practice_turn(self, sid: str, text: str, *, expected_turns: int) -> None:
        """Append the trainee's next turn. ``expected_turns`` is how many the caller replayed: a double submit or a
        race with another instance is a Conflict, never a turn recorded twice."""
        with self._tx() as s:
            r = s.get(PracticeSessionRow, sid, with_for_update=True)
            if r is None:
                raise NotFound(f"practice session {sid} does not exist")
            if r.finished_at is not None:
                raise Conflict("the practice session has finished")
            if r.turns != expected_turns:
                raise Conflict("the practice session has moved on; reload it")
            turns = self.keys.open_json(r.turns_enc, practice_aad(sid, "turns"))
            assert isinstance(turns, list)
            r.turns_enc = self.keys.seal_json([*turns, text], practice_aad(sid, "turns"))
            r.turns = len(turns) + 1

    def finish_practice(self, sid: str, report: dict[str, Any], rating: str) -> None:
        with self._tx() as s:
            r = s.get(PracticeSessionRow, sid, with_for_update=True)
            if r is None:
                raise NotFound(f"practice session {sid} does not exist")
            if r.finished_at is not None:
                return
            r.finished_at = utcnow()
            r.rating = rating
            r.report_enc = self.keys.seal_json(report, practice_aad(sid, "report"))
            chain.append(s, "practice_finished", f"staff:{r.trainee}", None, {"session": sid, "rating": rating})

    def practice_sessions(self, trainee: str | None = None) -> list[PracticeEntry]:
        """Sessions, newest first; one trainee's, or everyone's (for trainers)."""
        with self._read() as s:
            q = select(PracticeSessionRow)
            if trainee is not None:
                q = q.where(PracticeSessionRow.trainee == trainee)
            rows = s.execute(q.order_by(PracticeSessionRow.started_at.desc())).scalars().all()
            return [self._entry(r) for r in rows]

    def add_practice_comment(self, sid: str, author: str, text: str) -> int:
        if not text.strip() or len(text) > MAX_COMMENT:
            raise ValueError(f"a comment is 1-{MAX_COMMENT} characters")
        with self._tx() as s:
            if s.get(PracticeSessionRow, sid) is None:
                raise NotFound(f"practice session {sid} does not exist")
            c = PracticeComment(session_id=sid, author=author, text_enc=b"")
            s.add(c)
            s.flush()
            c.text_enc = self.keys.seal_text(text, comment_aad(sid, c.id))
            chain.append(s, "practice_commented", f"staff:{author}", None, {"session": sid, "comment": c.id})
            return c.id

    def practice_comments(self, sid: str) -> list[CommentEntry]:
        with self._read() as s:
            rows = (
                s.execute(select(PracticeComment).where(PracticeComment.session_id == sid).order_by(PracticeComment.id))
                .scalars()
                .all()
            )
            return [
                CommentEntry(c.id, c.author, as_utc(c.at), self.keys.open_text(c.text_enc, comment_aad(sid, c.id)))
                for c in rows
            ]

    def _rotate_practice(self, s: Session, new: KeyRing) -> int:
        """Re-seal practice values under ``new``'s active key (called by ``Store.rotate_keys``)."""
        n = 0
        for r in s.execute(select(PracticeSessionRow)).scalars():
            for col, part in (("turns_enc", "turns"), ("report_enc", "report")):
                val = getattr(r, col)
                fresh = None if val is None else new.reseal(val, practice_aad(r.id, part), self.keys)
                if fresh is not None:
                    setattr(r, col, fresh)
                    n += 1
        for c in s.execute(select(PracticeComment)).scalars():
            fresh = new.reseal(c.text_enc, comment_aad(c.session_id, c.id), self.keys)
            if fresh is not None:
                c.text_enc = fresh
                n += 1
        return n
