"""Conversation-level risk: accumulation, slow decay, retraction, and means-seeking after distress.

Each user turn is screened once (turn N never re-embeds turns 1..N-1); the state keeps a small carried
record per category. Rules, each documented in docs/risk-model.md:

* Two carries: the person's own risk and someone else's (a friend's attempt, a patient's ideation). A message
  whose evidence is about someone else feeds only the second, so it never raises the person's own level; it
  is reported as a third-party concern (``Assessment.third_party``), and as the assessment itself only while
  the person shows no risk of their own.
* Carry: the conversation's level for a category is the higher of this turn's level and the carried level.
  The carried level holds for ``hold_turns`` user turns, then steps down one level; the carried score decays
  geometrically. Suicide risk that reached moderate never decays below low in the same conversation, and a
  disclosed plan, intent or act (high or imminent) stays at high through later calm turns: nothing calm
  says the plan is gone.
* Accumulation: ideation *phrases* in ``persist_count`` of the last ``persist_window`` user turns are at least
  moderate. A learned-only verdict never counts, so everyday turns cannot add up to a level; it is carried like
  any other (held, then stepping down) but never sets the floor a conversation keeps.
  The conversation score is the higher of this turn's score and the decayed carried score.
* Retraction ("just kidding", "I'd never actually do it") lowers the carried suicide level by one step and the
  score by ``retraction_factor``, but never below low: people often retract after disclosing.
* Means-seeking (heights, medication amounts, poisons, weapons, rail) after distress or ideation in any of the
  last ``distress_memory`` user turns is high, even when the question itself reads as neutral.
* A short "yes" to an assistant's direct question about suicide or self-harm is ideation (at least low).
* ``Assessment.rose`` names the categories whose level is above the previous user turn's: the policy escalates
  to a clinician only then, so a level that holds through later turns is one escalation, not one per turn.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mindrail.risk.detector import Detector, MessageResult
from mindrail.risk.types import CATEGORIES, EMPTY_RESULT, Assessment, Category, CategoryResult, Level, Subject

SSH = Category.SUICIDE_SELF_HARM
DIS = Category.DISTRESS

_AFFIRMATIVE = re.compile(
    r"^\s*(?:yes|yeah|yea|yep|yup|y|ya|i have|i do|i am|i'm|sometimes|often|a lot|kind of|kinda|sort of|maybe|"
    r"a little|every day|all the time|honestly yes|i guess|i think so|more than i'd like)\b(?!\s+not)",
    re.IGNORECASE,
)
_NEGATIVE_ANSWER = re.compile(r"^\s*(?:no|nope|nah|never|not really|not at all|i'm not|i am not)\b", re.IGNORECASE)


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
    since: int = 0  # user turn at which this level was last reinforced
    peak: Level = Level.NONE


@dataclass(slots=True)
class Turn:
    role: str
    index: int
    message: MessageResult | None = None
    assessment: Assessment | None = None
    screening_question: bool = False


@dataclass
class ConversationState:
    """One conversation's risk: a detector screens each user turn; the state carries levels between turns."""

    detector: Detector
    config: ConversationConfig = field(default_factory=ConversationConfig)
    turns: list[Turn] = field(default_factory=list)
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
        """Fold an already screened message into the state (lets callers batch the screening)."""
        self._user_turns += 1
        t = self._user_turns
        cfg = self.config
        prev_assistant = next((x for x in reversed(self.turns) if x.role == "assistant"), None)
        extra: dict[Category, tuple[Level, str]] = {}

        affirmed = bool(
            prev_assistant is not None
            and prev_assistant.screening_question
            and prev_assistant.index == len(self.turns) - 1
            and _AFFIRMATIVE.match(message.norm.text)
            and not _NEGATIVE_ANSWER.match(message.norm.text)
        )
        if affirmed:
            extra[SSH] = (Level.LOW, "affirmed_screening_question")

        recent_distress = [k for k in self._distress_turns + self._ideation_turns if t - k <= cfg.distress_memory]
        if message.means_kinds and recent_distress:
            extra[SSH] = (Level.HIGH, f"means_seeking_after_distress:user_turn{max(recent_distress)}")

        about_other = message.subject == Subject.OTHER
        if not about_other:
            if message.ideation >= Level.LOW or affirmed:
                self._ideation_turns.append(t)
            if message.ideation_phrase >= Level.LOW or affirmed:
                self._phrase_turns.append(t)
            if message.distress_signal:
                self._distress_turns.append(t)
        persistent = (
            not about_other and sum(1 for k in self._phrase_turns if t - k < cfg.persist_window) >= cfg.persist_count
        )
        retraction = "retraction" in message.patterns.contexts

        empty = dict.fromkeys(CATEGORIES, EMPTY_RESULT)
        own = self._fold(self._carry, empty if about_other else message.categories, extra, persistent, retraction, t)
        other = self._fold(self._carry_other, message.categories if about_other else empty, {}, False, False, t)
        if any(r.startswith("means_seeking_after_distress") for r in own[SSH].reasons):
            # Point the reviewer at the question itself, even when it reads as neutral on its own.
            r = own[SSH]
            spans = tuple(sorted(set(r.evidence) | set(message.means_spans), key=lambda sp: sp.start))
            own[SSH] = CategoryResult(r.score, r.level, spans, r.reasons)

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
            turn=len(self.turns),
            message=dict(message.categories),
            third_party=third_party,
            cssrs_unknown=message.cssrs_unknown if not about_other else (),
            rose=frozenset(c for c, r in categories.items() if r.level > self._last_levels.get(c, Level.NONE)),
        )
        self._last_levels = {c: r.level for c, r in categories.items()}
        self.turns.append(Turn("user", len(self.turns), message, assessment))
        return assessment

    def _fold(
        self,
        carries: dict[Category, _Carry],
        now_by_cat: dict[Category, CategoryResult],
        extra: dict[Category, tuple[Level, str]],
        persistent: bool,
        retraction: bool,
        t: int,
    ) -> dict[Category, CategoryResult]:
        """This turn's results folded into one carry (the person's own, or someone else's)."""
        cfg = self.config
        out: dict[Category, CategoryResult] = {}
        for cat in CATEGORIES:
            now = now_by_cat[cat]
            carry = carries[cat]
            level_now, reasons = now.level, list(now.reasons)
            if cat in extra and extra[cat][0] > level_now:
                level_now = extra[cat][0]
                reasons.append(extra[cat][1])
            elif cat in extra:
                reasons.append(extra[cat][1])
            if cat == SSH and persistent and level_now < Level.MODERATE and level_now >= Level.LOW:
                level_now = Level.MODERATE
                reasons.append("persistent_ideation")

            carried_level = self._decayed_level(cat, carry, t)
            carried_score = carry.score * cfg.score_decay
            if cat == SSH and retraction and carried_level >= Level.LOW and level_now <= Level.LOW:
                carried_level = Level(max(Level.LOW, carried_level - 1))
                carried_score *= cfg.retraction_factor
                carry.level, carry.since = carried_level, t
                carry.peak = min(carry.peak, carried_level)
                reasons.append("retraction:lowered_not_reset")
            level = max(level_now, carried_level)
            score = max(now.score, carried_score)
            if level > level_now:
                reasons.append(f"carried_from_user_turn{carry.since}")
            # What this turn hands to later turns: every verdict holds for ``hold_turns`` and then steps down, but
            # a learned verdict with no phrase or rule behind it never sets the floor a conversation keeps
            # (peak): one everyday message the model misread fades, and it is escalated once (when it rose),
            # not on every turn it holds.
            learned_only = all(r.startswith(("learned", "carried_from")) for r in reasons)
            kept = level_now
            if kept > Level.NONE and kept >= carried_level:
                carry.level, carry.since = kept, t
            carry.score = score
            if not learned_only:
                carry.peak = max(carry.peak, kept)
            out[cat] = CategoryResult(min(score, 1.0), level, now.evidence, tuple(dict.fromkeys(reasons)))
        return out

    def add_assistant(self, text: str) -> None:
        """Assistant turns are not scored for the person's risk; only whether they asked a screening question."""
        asked = self.detector.is_screening_question(text)
        self.turns.append(Turn("assistant", len(self.turns), screening_question=asked))

    @property
    def last(self) -> Assessment | None:
        return next((x.assessment for x in reversed(self.turns) if x.assessment is not None), None)

    def _decayed_level(self, cat: Category, carry: _Carry, t: int) -> Level:
        if carry.level == Level.NONE:
            return Level.NONE
        steps = max(0, (t - carry.since) // self.config.hold_turns)
        level = Level(max(Level.NONE, carry.level - steps))
        if cat == SSH and carry.peak >= Level.HIGH:
            level = max(level, Level.HIGH)
        elif cat == SSH and carry.peak >= Level.MODERATE:
            level = max(level, Level.LOW)
        return level
