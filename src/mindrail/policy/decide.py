"""Assessment × policy → Decision: which actions the gateway takes this turn, and the vetted texts it shows.

Rules combine (every matching rule adds its actions), then two simplifications apply: a crisis protocol replaces
any model reply, and a reply with support replaces a plain reply. With no matching rule the policy's default
actions apply. ``escalate`` stays only where a matching rule's category rose this turn (``Assessment.rose``): a
concern that holds through a conversation reaches a clinician once, not once per turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from mindrail.datafiles import load_model
from mindrail.policy.resources import ResourceBook, default_resources
from mindrail.policy.schema import Action, CarePolicy, PolicyFile, Rule
from mindrail.risk.types import Assessment, Category, Level, Subject


@dataclass(frozen=True, slots=True)
class Decision:
    actions: frozenset[Action]
    rules: tuple[str, ...]
    """Ids of the rules that matched, in file order: the audit trail of why."""
    level: Level
    category: Category | None
    subject: Subject
    locale: str
    """The resource locale actually used (``INTL`` when the requested one is unknown)."""
    policy: str
    system_prompt_version: str
    crisis_about_other: bool = False

    @property
    def calls_model(self) -> bool:
        return Action.CRISIS_PROTOCOL not in self.actions

    def has(self, action: Action) -> bool:
        return action in self.actions

    def to_dict(self) -> dict[str, Any]:
        return {
            "actions": sorted(a.value for a in self.actions),
            "rules": list(self.rules),
            "level": self.level.label,
            "category": self.category.value if self.category else None,
            "subject": self.subject.value,
            "locale": self.locale,
            "policy": self.policy,
            "system_prompt_version": self.system_prompt_version,
        }


class PolicyEngine(Protocol):
    """What the gateway needs from a policy: decisions, and the vetted texts it shows in their place."""

    name: str
    resources: ResourceBook

    @property
    def care(self) -> CarePolicy: ...

    @property
    def system_prompt(self) -> str: ...

    def decide(self, assessment: Assessment, locale: str | None = None) -> Decision: ...

    def message(self, name: str, locale: str | None) -> str: ...

    def crisis_reply(self, decision: Decision) -> str: ...

    def support_footer(self, locale: str | None) -> str: ...

    def over_reliance_due(self, turns_in_conversation: int, turns_today: int) -> bool: ...


def _subject_matches(rule: Rule, subject: Subject) -> bool:
    want = rule.when.subject
    if want is None:
        return True
    if want == Subject.SELF:
        return subject in (Subject.SELF, Subject.UNCLEAR)
    return subject == want


def _matches(rule: Rule, assessment: Assessment) -> bool:
    w = rule.when
    if w.flag is not None and w.flag not in assessment.flags:
        return False
    if w.category is not None and assessment.level(w.category) < w.level:
        return False
    return _subject_matches(rule, assessment.subject)


class Policy:
    def __init__(self, spec: PolicyFile, resources: ResourceBook | None = None) -> None:
        self.spec = spec
        self.resources = resources or default_resources()
        self.name = f"{spec.id}@{spec.version}"

    @classmethod
    def load(cls, path: Path | None = None, resources: ResourceBook | None = None) -> Policy:
        spec = (
            load_model(PolicyFile, "data/default.yaml", package="mindrail.policy")
            if path is None
            else load_model(PolicyFile, path)
        )
        return cls(spec, resources)

    @property
    def system_prompt(self) -> str:
        return self.spec.system_prompt.text

    @property
    def care(self) -> CarePolicy:
        return self.spec.care

    def decide(self, assessment: Assessment, locale: str | None = None) -> Decision:
        matched = [r for r in self.spec.rules if _matches(r, assessment)]
        actions: set[Action] = {a for r in matched for a in r.actions} or set(self.spec.default_actions)
        # A clinician is told when a concern is new or rises, not again on every turn it holds.
        if Action.ESCALATE in actions and not any(
            Action.ESCALATE in r.actions and (r.when.category is None or assessment.is_rising(r.when.category))
            for r in matched
        ):
            actions.discard(Action.ESCALATE)
        if Action.CRISIS_PROTOCOL in actions:
            actions -= {Action.RESPOND, Action.RESPOND_WITH_SUPPORT}
        elif Action.RESPOND_WITH_SUPPORT in actions:
            actions.discard(Action.RESPOND)
        crisis_rules = [r for r in matched if Action.CRISIS_PROTOCOL in r.actions]
        about_other = bool(crisis_rules) and all(r.when.subject == Subject.OTHER for r in crisis_rules)
        key, _ = self.resources.for_locale(locale or self.spec.default_locale)
        return Decision(
            actions=frozenset(actions),
            rules=tuple(r.id for r in matched),
            level=assessment.top_level,
            category=assessment.top_category,
            subject=assessment.subject,
            locale=key,
            policy=self.name,
            system_prompt_version=self.spec.system_prompt.version,
            crisis_about_other=about_other,
        )

    # ------------------------------------------------------------------ vetted texts
    def message(self, name: str, locale: str | None) -> str:
        """A vetted message with the locale's resources and emergency line filled in."""
        template: str = getattr(self.spec.messages, name)
        _, loc = self.resources.for_locale(locale)
        return template.replace("{resources}", self.resources.render(locale)).replace(
            "{emergency}", loc.emergency.describe()
        )

    def crisis_reply(self, decision: Decision) -> str:
        """The crisis protocol: vetted message, a direct safety question, resources, and an offer to keep talking.
        The conversation never ends abruptly."""
        if decision.crisis_about_other:
            parts = [self.message("crisis_other", decision.locale), self.message("offer_to_talk", decision.locale)]
        else:
            parts = [
                self.message("crisis", decision.locale),
                self.message("safety_question", decision.locale),
                self.message("offer_to_talk", decision.locale),
            ]
        return "\n\n".join(parts)

    def support_footer(self, locale: str | None) -> str:
        return self.message("support_footer", locale)

    def over_reliance_due(self, turns_in_conversation: int, turns_today: int) -> bool:
        o = self.spec.over_reliance
        return turns_in_conversation >= o.turns_per_conversation or turns_today >= o.turns_per_day


@lru_cache(maxsize=1)
def default_policy() -> Policy:
    return Policy.load()
