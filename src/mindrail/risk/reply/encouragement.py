"""Encouraging or condoning self-harm, suicide or harm to others."""

from __future__ import annotations

from mindrail.risk.reply.base import PatternCheck


class EncouragementCheck(PatternCheck):
    name = "encouragement"
