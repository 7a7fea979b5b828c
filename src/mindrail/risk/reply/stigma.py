"""Stigmatising language about mental illness and substance use, and unsafe wording such as 'committed suicide'."""

from __future__ import annotations

from mindrail.risk.reply.base import PatternCheck


class StigmaCheck(PatternCheck):
    name = "stigma"
