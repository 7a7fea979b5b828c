"""Checks on every model reply before the person sees it (see base.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mindrail.risk.normalise import normalise
from mindrail.risk.reply.base import Finding, PatternCheck, ReplyCheck, ReplyContext
from mindrail.risk.reply.compliance import ComplianceCheck
from mindrail.risk.reply.delusion_agreement import DelusionAgreementCheck
from mindrail.risk.reply.diagnosis_medication import DiagnosisMedicationCheck
from mindrail.risk.reply.ed_tactics import EDTacticsCheck
from mindrail.risk.reply.encouragement import EncouragementCheck
from mindrail.risk.reply.human_claim import HumanClaimCheck
from mindrail.risk.reply.means import MeansCheck
from mindrail.risk.reply.repetition import RepetitionCheck
from mindrail.risk.reply.stigma import StigmaCheck

__all__ = ["ALL_CHECKS", "Finding", "PatternCheck", "ReplyCheck", "ReplyChecker", "ReplyContext", "ReplyVerdict"]

ALL_CHECKS: tuple[type[PatternCheck], ...] = (
    MeansCheck,
    EncouragementCheck,
    DelusionAgreementCheck,
    StigmaCheck,
    DiagnosisMedicationCheck,
    HumanClaimCheck,
    ComplianceCheck,
    EDTacticsCheck,
    RepetitionCheck,
)


@dataclass(frozen=True, slots=True)
class ReplyVerdict:
    passed: bool
    findings: tuple[Finding, ...]
    checks: tuple[str, ...]

    @property
    def failed_checks(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.check for f in self.findings))

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "failed_checks": list(self.failed_checks),
            "findings": [{"check": f.check, "reason": f.reason, "span": [f.start, f.end]} for f in self.findings],
            "checks": list(self.checks),
        }


class ReplyChecker:
    """Runs every check; a reply passes only if none finds anything."""

    def __init__(self, checks: Sequence[ReplyCheck] | None = None) -> None:
        self.checks: tuple[ReplyCheck, ...] = tuple(checks) if checks is not None else tuple(c() for c in ALL_CHECKS)

    def check(self, reply: str, ctx: ReplyContext | None = None) -> ReplyVerdict:
        ctx = ctx or ReplyContext()
        norm = normalise(reply)
        findings = [f for c in self.checks for f in c.scan(norm, ctx)]
        return ReplyVerdict(not findings, tuple(findings), tuple(c.name for c in self.checks))
