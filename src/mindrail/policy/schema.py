"""The policy file's schema: what the gateway does at each category × level (× subject), the safety system prompt
and the vetted messages. A policy is data; ``policy/data/default.yaml`` documents each choice against its sources.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Literal

from pydantic import Field, field_validator, model_validator

from mindrail.datafiles import StrictModel
from mindrail.risk.types import Category, Flag, Level, Subject


class Action(StrEnum):
    RESPOND = "respond"
    """The model replies under the safety system prompt."""
    RESPOND_WITH_SUPPORT = "respond_with_support"
    """The model replies, and vetted resources are appended."""
    CRISIS_PROTOCOL = "crisis_protocol"
    """The model is not called: a vetted crisis message, a direct safety question, resources, an offer to talk."""
    ESCALATE = "escalate"
    """A review item for clinicians (and the optional webhook)."""
    HOLD_FOR_REVIEW = "hold_for_review"
    """The reply waits for a clinician's approval (deployments with live oversight)."""


class When(StrictModel):
    """A rule matches when every given condition holds."""

    category: Category | None = None
    min_level: Literal["low", "moderate", "high", "imminent"] | None = None
    subject: Subject | None = None
    flag: Flag | None = None

    @model_validator(mode="after")
    def _something(self) -> When:
        if self.category is None and self.flag is None:
            raise ValueError("a rule needs a category or a flag")
        if self.category is not None and self.min_level is None:
            raise ValueError("a category rule needs min_level")
        return self

    @property
    def level(self) -> Level:
        return Level.parse(self.min_level) if self.min_level else Level.NONE


class Rule(StrictModel):
    id: str = Field(pattern=r"^[a-z0-9_.-]+$")
    when: When
    actions: tuple[Action, ...] = Field(min_length=1)
    why: str = Field(min_length=10)
    """The guidance this choice follows; shown in docs and audit records."""


class SystemPrompt(StrictModel):
    version: str = Field(min_length=1)
    text: str = Field(min_length=50)


class Messages(StrictModel):
    """Vetted texts. ``{resources}`` is replaced by the locale's resources, ``{emergency}`` by its emergency line."""

    crisis: str
    crisis_other: str
    """For a person worried about someone else at imminent risk."""
    safety_question: str
    offer_to_talk: str
    support_footer: str
    fallback: str
    """What the person gets when anything fails before a reply is checked (fail closed)."""
    backend_unavailable: str
    reply_replaced: str
    hold_pending: str
    over_reliance_nudge: str
    consent_required: str
    ai_disclosure: str = "I'm an AI, not a person."
    safety_plan_offer: str = (
        "When you feel ready, a safety plan can help: a short list, in your own words, of warning signs, things that"
        " help, people to contact and how to stay safe. You can make one under Safety plan."
    )
    safety_plan_reminder: str = "Here is the safety plan you made. It might help to look at it now:"
    checkin_offer: str = (
        "Would you like to do a quick check-in on how the last two weeks have been? It takes a couple of minutes, and"
        " you can see how things change over time."
    )
    """Offered when the policy's ``care.checkin_every_days`` have passed since the last check-in."""
    """Shown, with the person's own plan, when risk returns after they made one."""
    """Added to a model reply when the person asks whether they are talking to a human and the reply does not say."""

    @field_validator("*")
    @classmethod
    def _placeholders(cls, v: str) -> str:
        unknown = set(re.findall(r"\{([a-z_]+)\}", v)) - {"resources", "emergency"}
        if unknown:
            raise ValueError(f"unknown placeholder(s): {', '.join(sorted(unknown))}")
        return v


class OverReliance(StrictModel):
    """Boundaries against over-reliance: nudge toward people and professional care."""

    turns_per_conversation: int = Field(ge=1)
    turns_per_day: int = Field(ge=1)


class InquiryPolicy(StrictModel):
    """The structured risk inquiry (C-SSRS screener, docs/care.md): on by default, for the person's own suicide risk
    from ``from_level`` to ``to_level``. High and imminent risk always get the crisis protocol instead."""

    enabled: bool = True
    from_level: Literal["low", "moderate"] = "low"
    to_level: Literal["low", "moderate"] = "moderate"


class CarePolicy(StrictModel):
    """When the care tools step into a conversation."""

    inquiry: InquiryPolicy = Field(default_factory=InquiryPolicy)
    offer_safety_plan: bool = True
    """After a crisis protocol or a moderate risk, offer the safety plan; show the person's plan when risk returns."""
    checkin_every_days: int | None = Field(default=None, ge=1)
    """Offer a check-in when the last one is older than this (None: only on request)."""


class PolicyFile(StrictModel):
    version: int = Field(ge=1)
    id: str = Field(pattern=r"^[a-z0-9_.-]+$")
    description: str
    sources: dict[str, str]
    """Guidance cited by the rules' ``why``: short key → full citation with URL."""
    default_actions: tuple[Action, ...] = (Action.RESPOND,)
    rules: tuple[Rule, ...]
    system_prompt: SystemPrompt
    messages: Messages
    over_reliance: OverReliance
    default_locale: str = "INTL"
    care: CarePolicy = Field(default_factory=CarePolicy)

    @model_validator(mode="after")
    def _consistent(self) -> PolicyFile:
        ids = [r.id for r in self.rules]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate rule id(s): {', '.join(dupes)}")
        for r in self.rules:
            cited = set(re.findall(r"\[([a-z0-9_-]+)\]", r.why))
            missing = cited - set(self.sources)
            if missing:
                raise ValueError(f"rule {r.id!r} cites unknown source(s): {', '.join(sorted(missing))}")
        return self
