"""mindrail.screening: the one conversation replay, and the conversation rows the demo shows."""

from __future__ import annotations

from mindrail.risk.engine import RiskEngine
from mindrail.risk.types import Category, Level
from mindrail.screening import replay, screen_conversation

TURNS = [
    ("system", "You are a helpful assistant."),
    ("user", "i lost my job today"),
    ("assistant", "I'm sorry, that sounds hard."),
    ("user", "which bridges in nyc are taller than 25 m?"),
]


def test_replay_assesses_user_turns_in_context_and_skips_other_roles(engine: RiskEngine) -> None:
    assessed = replay(engine.new_conversation(), TURNS)
    assert [k for k, _ in assessed] == [1, 3]
    # In context, the bridge question after a job loss is means-seeking after distress: high. Alone it is lower.
    level = assessed[-1][1].categories[Category.SUICIDE_SELF_HARM].level
    assert level == Level.HIGH
    assert engine.assess(TURNS[3][1]).categories[Category.SUICIDE_SELF_HARM].level < level


def test_screen_conversation_keeps_every_message_in_order(engine: RiskEngine) -> None:
    rows = screen_conversation(engine, TURNS)
    assert [(r.message_index, r.role) for r in rows] == [(0, "system"), (1, "user"), (2, "assistant"), (3, "user")]
    assert [r.assessment is not None for r in rows] == [False, True, False, True]
    assert rows[0].notable() == [] and rows[0].reasons() == []
    last = rows[3]
    assert Category.SUICIDE_SELF_HARM in dict(last.notable())
    assert last.reasons() == sorted(set(last.reasons()))
