"""Counts over a period for the console's dashboard, as SQL aggregates (constant memory, fast on 10,000s of
conversations). Only the granted tenants are counted; nothing sealed is read.
"""

from __future__ import annotations

import datetime as dt
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mindrail.store.models import Conversation, ReviewItem, Turn, as_utc
from mindrail.store.tenancy import EVERYTHING, Grants


@dataclass
class PeriodCounts:
    """Conversations started, crisis protocols run and review items acknowledged or resolved in a period."""

    conversations: int = 0
    per_day: list[tuple[dt.date, int]] = field(default_factory=list)
    top_levels: dict[int, int] = field(default_factory=dict)
    """Conversations by their highest level (Level int)."""
    crisis_protocols: int = 0
    ack_waits_min: list[float] = field(default_factory=list)
    """Minutes from opening to acknowledging, for items opened in the period, ascending."""
    outcomes: dict[str | None, int] = field(default_factory=dict)
    """Items resolved in the period, by outcome."""


class Reports:
    """The store's reporting methods (``Store`` inherits them)."""

    if TYPE_CHECKING:

        def _read(self) -> AbstractContextManager[Session]: ...

    def period_counts(self, start: dt.datetime, end: dt.datetime, grants: Grants = EVERYTHING) -> PeriodCounts:
        d = PeriodCounts()
        granted = grants.clause(Conversation.tenant)
        own = Conversation.id
        with self._read() as s:
            in_period = (Conversation.created_at >= start) & (Conversation.created_at < end) & granted
            d.conversations = int(
                s.execute(select(func.count()).select_from(Conversation).where(in_period)).scalar_one()
            )
            day = func.date(Conversation.created_at)
            rows = s.execute(select(day, func.count()).where(in_period).group_by(day).order_by(day)).all()
            d.per_day = [
                (r[0] if isinstance(r[0], dt.date) else dt.date.fromisoformat(str(r[0])), int(r[1])) for r in rows
            ]
            levels = s.execute(
                select(Conversation.top_level, func.count()).where(in_period).group_by(Conversation.top_level)
            ).all()
            d.top_levels = {int(lv): int(n) for lv, n in levels}
            d.crisis_protocols = int(
                s.execute(
                    select(func.count())
                    .select_from(Turn)
                    .join(Conversation, own == Turn.conversation_id)
                    .where(Turn.source == "crisis_protocol", Turn.at >= start, Turn.at < end, granted)
                ).scalar_one()
            )
            acks = s.execute(
                select(ReviewItem.created_at, ReviewItem.acknowledged_at)
                .join(Conversation, own == ReviewItem.conversation_id)
                .where(
                    ReviewItem.created_at >= start,
                    ReviewItem.created_at < end,
                    ReviewItem.acknowledged_at.is_not(None),
                    granted,
                )
            ).all()
            d.ack_waits_min = sorted((as_utc(a) - as_utc(c)).total_seconds() / 60 for c, a in acks if a is not None)
            resolved = s.execute(
                select(ReviewItem.outcome, func.count())
                .join(Conversation, own == ReviewItem.conversation_id)
                .where(ReviewItem.resolved_at >= start, ReviewItem.resolved_at < end, granted)
                .group_by(ReviewItem.outcome)
            ).all()
            d.outcomes = {o: int(n) for o, n in resolved}
        return d
