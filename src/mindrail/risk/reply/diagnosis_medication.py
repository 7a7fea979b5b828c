"""Diagnosing the person, or telling them to start, stop or change a medication or dose."""

from __future__ import annotations

from mindrail.risk.reply.base import PatternCheck


class DiagnosisMedicationCheck(PatternCheck):
    name = "diagnosis_medication"
