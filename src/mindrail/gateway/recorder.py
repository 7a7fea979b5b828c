"""Writes each finished turn to the store (sealed text, review items, audit event, and an escalation's notification
jobs, all in one transaction) from the async pipeline."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
from typing import Any

from mindrail.gateway.pipeline import Session, Source, TurnResult
from mindrail.policy.schema import Action
from mindrail.store import Store, TurnInput


class StoreRecorder:
    def __init__(self, store: Store, channels: tuple[str, ...] = ()) -> None:
        """``channels``: the notifiers ("webhook", "email") each escalation gets a job for (gateway.jobs)."""
        self.store = store
        self.channels = channels

    def to_input(self, user_text: str, result: TurnResult, request_key: str | None = None) -> TurnInput:
        d, a = result.decision, result.assessment
        review: list[str] = []
        if d is not None and d.has(Action.ESCALATE):
            review.append("escalation")
        if result.source == Source.HELD:
            review.append("hold")
        return TurnInput(
            user_text=user_text,
            reply=result.reply,
            source=result.source.value,
            level=int(d.level if d is not None else (a.top_level if a is not None else 0)),
            category=(d.category.value if d is not None and d.category else None),
            actions=tuple(sorted(x.value for x in d.actions)) if d is not None else (),
            assessment=a.to_dict() if a is not None else None,
            decision=d.to_dict() if d is not None else None,
            verdict=result.verdict.to_dict() if result.verdict is not None else None,
            withheld=result.withheld,
            backend=dict(result.backend),
            error=result.error,
            review=tuple(review),
            notify=self.channels if "escalation" in review else (),
            notice=_notice(result) if "escalation" in review else {},
            request_key=request_key,
        )

    async def record_turn(self, session: Session, user_text: str, result: TurnResult) -> None:
        turn = self.to_input(user_text, result, session.turn_key)
        seq = await asyncio.to_thread(functools.partial(self.store.record_turn, session.id, turn, actor=session.actor))
        session.stored_turns = seq
        for w in result.care:
            await asyncio.to_thread(
                functools.partial(
                    self.store.add_care_record,
                    session.id,
                    w.kind,
                    w.payload,
                    instrument=w.instrument,
                    actor=session.actor,
                    review=w.review,
                )
            )
        if session.vault is not None and hasattr(session.vault, "to_dict") and len(session.vault):
            await asyncio.to_thread(self.store.save_vault, session.id, session.vault.to_dict())


def _notice(result: TurnResult) -> dict[str, Any]:
    """An escalation notice's facts (the store adds the conversation, turn and review item): never text."""
    d = result.decision
    return {
        "event": "escalation",
        "level": d.level.label if d is not None else None,
        "category": d.category.value if d is not None and d.category else None,
        "actions": sorted(x.value for x in d.actions) if d is not None else [],
        "at": dt.datetime.now(dt.UTC).isoformat(),
    }
