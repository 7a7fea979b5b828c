"""Conversation-level risk: the state a conversation carries from one user turn to the next.

A turn is one message of the person, numbered from 1 (docs/architecture.md, "Turns"); assistant messages are
remembered, not counted. Each turn is screened once (turn N never re-embeds turns 1..N-1); the state keeps a small
carried record per category, in two carries: the person's own risk and someone else's (a friend's attempt, a
patient's ideation). A message whose evidence is about someone else feeds only the second, so it never raises the
person's own level; it is reported as a third-party concern (``Assessment.third_party``), and as the assessment
itself only while the person shows no risk of their own. The conversation's level for a category is the higher of
this turn's level and the carried level; its score the higher of this turn's score and the carried score, which
decays geometrically. ``Assessment.rose`` names the categories whose level is above the previous turn's: the
policy escalates to a clinician only then.

The level rules this state applies (a "yes" to a screening question, means-seeking after distress, persistent
ideation, retraction, hold and decay, floors) are rules 13-19 of ``mindrail.risk.rules``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mindrail.risk import rules
from mindrail.risk.detector import Detector, MessageResult
from mindrail.risk.types import CATEGORIES, EMPTY_RESULT, Assessment, Category, CategoryResult, Level, Subject

SSH = Category.SUICIDE_SELF_HARM


@dataclass(frozen=True, slots=True)
class ConversationConfig:
    hold_turns: int = 6
    score_decay: float = 0.9
    persist_window: int = 6
    persist_count: int = 3
    distress_memory: int = 12
    retraction_factor: float = 0.6


@dataclass(slots=True)
class _Carry:
    level: Level = Level.NONE
    score: float = 0.0
    since: int = 0  # turn at which this level was last reinforced
    peak: Level = Level.NONE


@dataclass(slots=True)
class RiskTurn:
    """One turn as the risk state holds it: a user turn's screening and assessment, or whether an assistant turn
    asked a screening question. Not the store's sealed ``Turn``."""

    role: str
    message_index: int
    """Its place among every message the state has seen (user and assistant), from 0: not a turn number."""
    message: MessageResult | None = None
    assessment: Assessment | None = None
    screening_question: bool = False


@dataclass
class ConversationState:
    """One conversation's risk: a detector screens each user turn; the state carries levels between turns."""

    detector: Detector
    config: ConversationConfig = field(default_factory=ConversationConfig)
    turns: list[RiskTurn] = field(default_factory=list)
    _carry: dict[Category, _Carry] = field(default_factory=lambda: {c: _Carry() for c in CATEGORIES})
    _carry_other: dict[Category, _Carry] = field(default_factory=lambda: {c: _Carry() for c in CATEGORIES})
    _user_turns: int = 0
    _ideation_turns: list[int] = field(default_factory=list)
    _phrase_turns: list[int] = field(default_factory=list)
    _distress_turns: list[int] = field(default_factory=list)
    _own_subject: Subject = Subject.UNCLEAR
    _last_levels: dict[Category, Level] = field(default_factory=dict)

    def add_user(self, text: str) -> Assessment:
        message = self.detector.screen([text])[0]
        return self.add_screened_user(message)

    def add_screened_user(self, message: MessageResult) -> Assessment:
        """Fold an already screened message into the state (lets callers batch the screening). The level rules
        applied here (13-16) and in ``_fold`` (17-19) are in mindrail.risk.rules; this keeps the state."""
        self._user_turns += 1
        t = self._user_turns
        cfg = self.config
        prev_assistant = next((x for x in reversed(self.turns) if x.role == "assistant"), None)
        asked = bool(
            prev_assistant is not None
            and prev_assistant.screening_question
            and prev_assistant.message_index == len(self.turns) - 1
        )
        affirmed = rules.affirmed_screening_question(asked, message.norm.text)
        raised = (Level.LOW, rules.AFFIRMED) if affirmed else None
        raised = (
            rules.means_seeking_after_distress(
                message.means_kinds, self._distress_turns + self._ideation_turns, t, cfg.distress_memory
            )
            or raised
        )

        about_other = message.subject == Subject.OTHER
        if not about_other:
            if message.ideation >= Level.LOW or affirmed:
                self._ideation_turns.append(t)
            if message.ideation_phrase >= Level.LOW or affirmed:
                self._phrase_turns.append(t)
            if message.distress_signal:
                self._distress_turns.append(t)
        persistent = not about_other and rules.persistent_ideation(
            self._phrase_turns, t, cfg.persist_window, cfg.persist_count
        )
        retraction = "retraction" in message.patterns.contexts

        empty = dict.fromkeys(CATEGORIES, EMPTY_RESULT)
        own = self._fold(self._carry, empty if about_other else message.categories, raised, persistent, retraction, t)
        other = self._fold(self._carry_other, message.categories if about_other else empty, None, False, False, t)
        own[SSH] = rules.means_evidence(own[SSH], message.means_spans)

        if not about_other and message.subject == Subject.SELF:
            self._own_subject = Subject.SELF
        own_risk = max((r.level for r in own.values()), default=Level.NONE)
        other_risk = max((r.level for r in other.values()), default=Level.NONE)
        third_party = {c: r for c, r in other.items() if r.level > Level.NONE}
        if own_risk == Level.NONE and other_risk > Level.NONE:
            categories, subject = other, Subject.OTHER
        else:
            categories, subject = own, self._own_subject
        assessment = Assessment(
            categories=categories,
            subject=subject,
            flags=frozenset(message.flags),
            model_version=self.detector.version,
            turn=t,
            message=dict(message.categories),
            third_party=third_party,
            cssrs_unknown=message.cssrs_unknown if not about_other else (),
            rose=frozenset(c for c, r in categories.items() if r.level > self._last_levels.get(c, Level.NONE)),
        )
        self._last_levels = {c: r.level for c, r in categories.items()}
        self.turns.append(RiskTurn("user", len(self.turns), message, assessment))
        return assessment

    def _fold(
        self,
        carries: dict[Category, _Carry],
        now_by_cat: dict[Category, CategoryResult],
        raised: tuple[Level, str] | None,
        persistent: bool,
        retraction: bool,
        t: int,
    ) -> dict[Category, CategoryResult]:
        """This turn's results folded into one carry (the person's own, or someone else's). ``raised``: rule 13
        or 14's suicide level for this turn."""
        cfg = self.config
        out: dict[Category, CategoryResult] = {}
        for cat in CATEGORIES:
            now = now_by_cat[cat]
            carry = carries[cat]
            level_now, reasons = rules.turn_level(cat, now, raised if cat == SSH else None, persistent)
            carried_level = rules.carried_level(cat, carry.level, carry.since, carry.peak, t, cfg.hold_turns)
            carried_score = carry.score * cfg.score_decay
            lowered = rules.retraction_lowers_carry(cat, retraction, carried_level, level_now)
            if lowered is not None:
                carried_level = lowered
                carried_score *= cfg.retraction_factor
                carry.level, carry.since = carried_level, t
                carry.peak = min(carry.peak, carried_level)
                reasons.append("retraction:lowered_not_reset")
            level = max(level_now, carried_level)
            score = max(now.score, carried_score)
            if level > level_now:
                reasons.append(f"carried_from_turn{carry.since}")
            # What this turn hands to later turns: the level it reached, from now (rule 18 steps it down).
            kept = level_now
            if kept > Level.NONE and kept >= carried_level:
                carry.level, carry.since = kept, t
            carry.score = score
            if rules.sets_floor(reasons):
                carry.peak = max(carry.peak, kept)
            out[cat] = CategoryResult(min(score, 1.0), level, now.evidence, tuple(dict.fromkeys(reasons)))
        return out

    def add_assistant(self, text: str) -> None:
        """Assistant turns are not scored for the person's risk; only whether they asked a screening question."""
        asked = self.detector.is_screening_question(text)
        self.turns.append(RiskTurn("assistant", len(self.turns), screening_question=asked))

    @property
    def last(self) -> Assessment | None:
        return next((x.assessment for x in reversed(self.turns) if x.assessment is not None), None)
