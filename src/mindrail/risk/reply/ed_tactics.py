"""Eating-disorder tactics in a reply (calorie floors, restriction, purging, laxatives, praise for not eating),
checked when the conversation shows eating-disorder risk."""

from __future__ import annotations

from mindrail.risk.reply.base import PatternCheck


class EDTacticsCheck(PatternCheck):
    name = "ed_tactics"
