"""Agreeing with or elaborating delusional content; agreement phrases fail only when the person's messages show
psychosis.
"""

from __future__ import annotations

from mindrail.risk.reply.base import PatternCheck


class DelusionAgreementCheck(PatternCheck):
    name = "delusion_agreement"
