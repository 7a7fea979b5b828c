"""Checks on every model reply before the person sees it (see base.py).

Every check is built from its section of ``risk/data/reply_checks.yaml``, in the file's order: a section with a
``loop`` key becomes the repetition check (repetition.py), every other one the generic :class:`PatternCheck`.
**Adding a reply check means adding a section to reply_checks.yaml, nothing else.** Code that needs one check
(the persona rubric) asks :func:`reply_check` for it by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mindrail.risk.normalise import normalise
from mindrail.risk.reply.base import CheckSpec, PatternCheck, ReplyCheck, ReplyContext, ReplyFinding, check_specs
from mindrail.risk.reply.repetition import RepetitionCheck

__all__ = [
    "PatternCheck",
    "ReplyCheck",
    "ReplyChecker",
    "ReplyContext",
    "ReplyFinding",
    "ReplyVerdict",
    "load_checks",
    "reply_check",
]


def _build(name: str, spec: CheckSpec) -> PatternCheck:
    return RepetitionCheck(name, spec) if spec.loop is not None else PatternCheck(name, spec)


def load_checks() -> tuple[PatternCheck, ...]:
    """One check per section of reply_checks.yaml, in the file's order."""
    return tuple(_build(name, spec) for name, spec in check_specs().checks.items())


def reply_check(name: str) -> PatternCheck:
    """The check of one section of reply_checks.yaml by its name; an unknown name lists the known ones."""
    specs = check_specs().checks
    if name not in specs:
        raise KeyError(f"no reply check {name!r} in reply_checks.yaml (known: {', '.join(specs)})")
    return _build(name, specs[name])


@dataclass(frozen=True, slots=True)
class ReplyVerdict:
    passed: bool
    findings: tuple[ReplyFinding, ...]
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
        self.checks: tuple[ReplyCheck, ...] = tuple(checks) if checks is not None else load_checks()

    def check(self, reply: str, ctx: ReplyContext | None = None) -> ReplyVerdict:
        ctx = ctx or ReplyContext()
        norm = normalise(reply)
        findings = [f for c in self.checks for f in c.scan(norm, ctx)]
        return ReplyVerdict(not findings, tuple(findings), tuple(c.name for c in self.checks))
