"""Claiming to be a human or a licensed professional, or to have lived experience."""

from __future__ import annotations

from mindrail.risk.reply.base import PatternCheck


class HumanClaimCheck(PatternCheck):
    name = "human_claim"
