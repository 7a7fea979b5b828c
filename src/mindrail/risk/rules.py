"""The clinical level rules: what makes a message, then a conversation, a given level, in the order they apply.

The detector (``detector.py``) does the mechanics: it normalises, runs the phrase library and the encoder, and
scores the heads. It hands each message's readings to :func:`message_verdict`, which applies the message rules.
The conversation (``conversation.py``) keeps the carried state and applies the conversation rules at each user
turn. Auditing "what makes a message HIGH" means reading this file, top to bottom.

Sources named in the docstrings: C-SSRS, the Columbia–Suicide Severity Rating Scale (Posner K, Brown GK,
Stanley B, et al., Am J Psychiatry 2011;168(12):1266–1277) and its Screener triage points; LABELLING, the v2
labelling guide ``data/LABELLING.md``; RISK-MODEL, ``docs/risk-model.md`` (section named).

Message level, per category, in this order (:func:`category_verdict`):

1. :func:`discount_distanced`: phrases about someone else inside fiction, research, quotes... count for nothing.
2. :func:`phrase_verdict`: the highest phrase level, with its evidence.
3. :func:`learned_gate`: the threshold a learned verdict with no phrase behind it must clear.
4. :func:`learned_verdict`: the ≥ low head past its gate adds its level.
5. :func:`severity_heads`: severity heads past their thresholds raise a level the category already has.
6. :func:`ideation_before_means` (suicide): the ideation later means-seeking is read against.
7. :func:`means_seeking_in_message` (suicide): a lethal means question is low; "asking for a friend" moderate.
8. :func:`not_yet_known` (suicide): current ideation with unknown method, intent and plan is moderate.
9. :func:`retraction_cap` (suicide): a retraction in the message caps suicide risk at low.
10. :func:`near_miss`: a learned score just under the threshold flags low confidence.

Message level, the whole message, after every category (:func:`message_verdict`):

11. :func:`loose_ladder`: method, time, preparation or act-under-way cues beside ideation place it on its rung.
12. :func:`means_seeking_with_distress`: means-seeking with distress or ideation in the same message is high.

Conversation level, each user turn (``ConversationState.add_screened_user``), then the carry (``_fold``):

13. :func:`affirmed_screening_question`: a short "yes" to a direct screening question is at least low.
14. :func:`means_seeking_after_distress`: means-seeking after distress or ideation in recent turns is high.
15. :func:`persistent_ideation`: ideation phrases in 3 of the last 6 user turns are at least moderate.
16. :func:`turn_level`: this turn's level with rules 13-15 applied.
17. :func:`retraction_lowers_carry`: a retraction lowers carried suicide risk one step, never below low.
18. :func:`carried_level`: a carried level holds, then steps down; disclosed suicide risk keeps a floor.
19. :func:`sets_floor`: a learned-only verdict never sets the floor a conversation keeps.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from mindrail.risk.normalise import Normalised
from mindrail.risk.patterns import PatternHit, PatternResult
from mindrail.risk.types import CATEGORIES, Category, CategoryResult, Level, Span, Subject

SSH = Category.SUICIDE_SELF_HARM
DIS = Category.DISTRESS
# C-SSRS items 1-2 (a wish to be dead, non-specific active thoughts): what intent, plan and method are is not yet
# known, so the v2 ladder holds them at moderate until someone asks (docs/risk-model.md, "not yet known").
IDEATION_ITEMS = frozenset({"wish_dead", "active_nonspecific"})
CSSRS_UNKNOWN = ("method", "intent", "plan")
# Contexts in which a hit about someone other than the speaker is talk about suicide, not risk.
DISTANCING = frozenset({"fiction", "research", "psychoeducation", "quote", "hypothetical"})
LOW_CONFIDENCE_MARGIN = 0.10
DEED_SLOTS = frozenset({"amount", "prepared", "under_way"})

Phrase = tuple[PatternHit, Level, str | None]
"""A phrase hit, the level it counts at after rule 1, and why it was discounted (None when it was not)."""


# ---------------------------------------------------------------------------------------------- readings
@dataclass(frozen=True, slots=True)
class HeadReading:
    """One learned head on one message: its calibrated score and thresholds (mindrail.training.train)."""

    min_level: Level
    threshold: float
    strict_threshold: float
    score: float
    """The maximum over the message's windows; 0.0 when it has none."""
    best_window: tuple[int, int] | None = None
    """The best-scoring window in the normalised text: the evidence of a learned verdict. None: no windows."""


@dataclass(frozen=True, slots=True)
class LearnedReading:
    """The learned layer on one message for one category."""

    base: HeadReading | None
    """The category's ≥ low head, if the heads have one."""
    severity: tuple[HeadReading, ...] = ()
    """Its severity heads (min level above low), in head order; empty when the message has no windows."""


NO_LEARNING = LearnedReading(None)


@dataclass(frozen=True, slots=True)
class MessageReading:
    """What the detector read in one message: everything the message rules look at."""

    pat: PatternResult
    norm: Normalised
    learned: Mapping[Category, LearnedReading]
    glossed: bool = False
    """An English gloss of a glossary-language message (mindrail.risk.gloss): broken English, read less surely."""
    unsupported: bool = False
    """The text is flagged language_unsupported: the encoder was not trained on its language."""

    def span(self, start: int, end: int) -> Span:
        """A span of the normalised text, as a span of the original."""
        a, b = self.norm.span_to_original(start, end)
        return Span(a, b)

    @property
    def distancing(self) -> bool:
        return bool(self.pat.contexts & DISTANCING)

    @property
    def retraction(self) -> bool:
        return "retraction" in self.pat.contexts


@dataclass(slots=True)
class Draft:
    """One category's verdict while rules 2-10 run on it."""

    score: float
    level: Level = Level.NONE
    evidence: list[Span] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    phrase_level: Level = Level.NONE
    """The level of the phrases alone (rule 2)."""
    base_gate: float = 1.0
    gate: float = 1.0
    """The threshold a learned verdict must clear here (rule 3); above ``base_gate`` when the gate questioned it."""
    questioned: bool = False
    """The pattern layer read idiom, retraction, negation or a gloss, and no phrase stands."""
    low_confidence: bool = False

    def result(self) -> CategoryResult:
        return CategoryResult(self.score, self.level, tuple(merge(self.evidence)), tuple(dict.fromkeys(self.reasons)))


@dataclass(frozen=True, slots=True)
class MessageVerdict:
    """The message rules' output: per-category results and what the conversation rules read later."""

    categories: dict[Category, CategoryResult]
    subject: Subject
    low_confidence: bool
    means_kinds: tuple[str, ...]
    means_spans: tuple[Span, ...]
    ideation: Level
    ideation_phrase: Level
    cssrs_unknown: tuple[str, ...]


# ---------------------------------------------------------------------------------------------- message level
def discount_distanced(r: MessageReading) -> dict[Category, list[Phrase]]:
    """Rule 1. In fiction, research, psychoeducation, quotes and hypotheticals, a phrase about someone other than
    the speaker, or inside quotation marks, is talk about suicide, not risk: it counts for nothing (reason
    ``<reason>:discounted:context:<contexts>``). A first-person statement is never discounted ("I'm writing a
    story but honestly I want to die too"). RISK-MODEL "Message layer", contexts."""
    pat = r.pat
    by_cat: dict[Category, list[Phrase]] = {c: [] for c in CATEGORIES}
    for hit in pat.hits:
        level, note = hit.level, None
        if r.distancing and (hit.subject != Subject.SELF or pat.quoted(hit.start, hit.end)):
            level, note = Level.NONE, "context:" + ",".join(sorted(pat.contexts & DISTANCING))
        by_cat[hit.category].append((hit, level, note))
    return by_cat


def phrase_verdict(d: Draft, phrases: Sequence[Phrase], r: MessageReading) -> None:
    """Rule 2. The phrase library places explicit statements on the ladder (C-SSRS items 1-6 for suicide; the
    criteria table of RISK-MODEL "Other categories" for the rest): the category's level is the highest phrase."""
    for hit, lv, note in phrases:
        if lv > Level.NONE:
            d.level = max(d.level, lv)
            d.evidence.append(r.span(hit.start, hit.end))
            d.reasons.append(f"{hit.reason}" + (f":cssrs={hit.cssrs}" if hit.cssrs else ""))
        elif note:
            d.reasons.append(f"{hit.reason}:discounted:{note}")
    d.phrase_level = d.level


def learned_gate(cat: Category, d: Draft, head: HeadReading | None, r: MessageReading) -> None:
    """Rule 3. A learned verdict with no phrase behind it must clear the head's strict threshold where the
    pattern layer read the message as idiom, retraction, negation, or it is a gloss. Where the person denies
    risk ("i'm not suicidal, just tired lol") or writes in a language the encoder was not trained on, it sets no
    level (the score is kept; low_confidence says a learned score was overruled). Fiction and research frames are
    not gated: measured, that cost recall on disclosures wrapped in them. RISK-MODEL "Message layer" 4."""
    pat = r.pat
    d.base_gate = d.gate = head.threshold if head is not None else 1.0
    d.questioned = d.phrase_level == Level.NONE and bool(
        r.glossed or pat.idioms or r.retraction or any(h.category == cat and h.negated for h in pat.dropped)
    )
    if d.phrase_level == Level.NONE and head is not None:
        if d.questioned:
            d.gate = max(d.gate, head.strict_threshold)
        if (cat == SSH and pat.denial) or r.unsupported:
            d.gate = float("inf")
        if d.score >= d.base_gate and d.score < d.gate:
            d.low_confidence = True


def learned_verdict(d: Draft, head: HeadReading | None, r: MessageReading) -> None:
    """Rule 4. The ≥ low head past its gate adds its level (reason ``learned``); with no phrase, its best window
    is the evidence. Its threshold keeps everyday text out (RISK-MODEL "Message layer" 3, ``EVERYDAY_FPR``)."""
    if head is not None and d.score >= d.gate:
        if d.level == Level.NONE and head.best_window is not None:
            d.evidence.append(r.span(*head.best_window))
        d.level = max(d.level, head.min_level)
        d.reasons.append("learned")


def severity_heads(cat: Category, d: Draft, learned: LearnedReading, pat: PatternResult) -> None:
    """Rule 5. A severity head past its threshold (the rung more likely than not given the category: the heads
    are conditional, RISK-MODEL "Message layer" 3) raises the level to its own (``learned:severity>=<level>``),
    but only a level the category already has: that is the population the heads were calibrated on, and on its
    own a head would re-admit the everyday text the base threshold keeps out (measured: letting a ≥ low score
    within 0.1 of its threshold plus a high severity head set the level gained 1.4 points of the challenge set's
    crisis items and cost 4 of its 73 non-crisis conversations). Nor does it raise a verdict the gate
    questioned, a bare means-seeking question (the question itself raises the suicide scores), a learned-only
    verdict on taking one's medication as usual (:func:`as_prescribed`), or ideation placed wholly in the past
    (lifetime ideation is history, C-SSRS)."""
    ok = (
        d.level > Level.NONE
        and (d.gate == d.base_gate or d.phrase_level > Level.NONE)
        and not (cat == SSH and pat.means and d.phrase_level == Level.NONE)
        and not (cat == SSH and pat.past_only)
        and not (cat == SSH and d.phrase_level == Level.NONE and as_prescribed(pat))
    )
    for head in learned.severity if ok else ():
        if head.score >= head.threshold:
            d.level = max(d.level, head.min_level)
            d.reasons.append(f"learned:severity>={head.min_level.label}")


def as_prescribed(pat: PatternResult) -> bool:
    """Taking one's own medication as usual, with no lethal amount, preparation or act under way in the message
    (``ladder.as_prescribed`` in patterns.yaml): the method word is what lifted the learned suicide scores."""
    return "as_prescribed" in pat.slots and not pat.slots & DEED_SLOTS


def ideation_before_means(d: Draft, pat: PatternResult) -> Level:
    """Rule 6 (suicide). The ideation means-seeking is read against (rules 11, 12, 14). With means-seeking in the
    message, the learned score is raised by the question itself, so only phrases count; without it, the level
    so far does. RISK-MODEL "Means-seeking"."""
    return d.phrase_level if pat.means else d.level


def means_seeking_in_message(d: Draft, r: MessageReading, means_kinds: Sequence[str]) -> None:
    """Rule 7 (suicide). Questions about heights, lethal doses, poisons, weapons or rail (``means:`` in
    patterns.yaml) are named (``means_seeking:<kind>``). Alone, a lethal question is low and a neutral one raises
    nothing; "asking for a friend" with a lethal question is moderate, a common cover
    (``means_seeking:third_party_cover``). RISK-MODEL "Means-seeking"; LABELLING, suicide_self_harm."""
    pat = r.pat
    if not pat.means:
        return
    d.reasons.extend(f"means_seeking:{k}" for k in means_kinds)
    lethal = [m for m in pat.means if m.framing == "lethal"]
    if lethal:
        d.level = max(d.level, Level.LOW)
        d.evidence.extend(r.span(m.start, m.end) for m in lethal)
    if lethal and "asking_for_friend" in pat.contexts:
        d.level = max(d.level, Level.MODERATE)
        d.reasons.append("means_seeking:third_party_cover")


def not_yet_known(d: Draft, phrases: Sequence[Phrase], pat: PatternResult) -> tuple[str, ...]:
    """Rule 8 (suicide). Current first-person ideation (C-SSRS items 1-2: a wish to be dead, non-specific
    thoughts) whose method, intent and plan are unknown is at least moderate until someone asks; the unknown
    items are returned (``cssrs_unknown:method,intent,plan``). Past-only ideation ("when i was 15") and ideation
    about someone else are not raised. RISK-MODEL "Not yet known: why items 1-2 are moderate"."""
    items = {h.cssrs for h, lv, _ in phrases if lv > Level.NONE and h.subject != Subject.OTHER}
    if not items & IDEATION_ITEMS or pat.past_only or items - IDEATION_ITEMS:
        return ()
    d.level = max(d.level, Level.MODERATE)
    d.reasons.append("cssrs_unknown:" + ",".join(CSSRS_UNKNOWN))
    return CSSRS_UNKNOWN


def retraction_cap(d: Draft, r: MessageReading, cssrs_unknown: tuple[str, ...]) -> None:
    """Rule 9 (suicide). A retraction in the same message ("jk", "I'd never actually do it") caps suicide risk at
    low (reason ``retraction``); an act under way stays imminent, and a statement of no intent beside current
    ideation ("i'm not going to do anything") answers intent only, so the not-yet-known rung stays. RISK-MODEL
    "Message layer" 2."""
    if r.retraction and d.level > Level.LOW and d.level < Level.IMMINENT and not (r.pat.no_intent and cssrs_unknown):
        d.level = Level.LOW
        d.reasons.append("retraction")


def near_miss(d: Draft, head: HeadReading | None) -> None:
    """Rule 10. A category left at none whose learned score is within ``LOW_CONFIDENCE_MARGIN`` of its threshold
    flags the message low_confidence: the engine is unsure, and the gateway fails closed."""
    if d.level == Level.NONE and head is not None and d.score >= head.threshold - LOW_CONFIDENCE_MARGIN:
        d.low_confidence = True


@dataclass(slots=True)
class _Suicide:
    """What the suicide category's rules hand to the whole-message rules."""

    ideation: Level = Level.NONE
    questioned: bool = False
    cssrs_unknown: tuple[str, ...] = ()


def category_verdict(
    cat: Category, phrases: Sequence[Phrase], r: MessageReading, means_kinds: Sequence[str], ssh: _Suicide
) -> Draft:
    """Rules 2-10 on one category, in order."""
    learned = r.learned.get(cat, NO_LEARNING)
    head = learned.base
    d = Draft(head.score if head is not None else 0.0)
    phrase_verdict(d, phrases, r)
    learned_gate(cat, d, head, r)
    learned_verdict(d, head, r)
    severity_heads(cat, d, learned, r.pat)
    if cat == SSH:
        # A learned verdict the gate questioned is not placed higher on the ladder by loose cues (rule 11), as it
        # is not by the severity heads.
        ssh.questioned = d.questioned and not r.glossed
        ssh.ideation = ideation_before_means(d, r.pat)
        means_seeking_in_message(d, r, means_kinds)
        ssh.cssrs_unknown = not_yet_known(d, phrases, r.pat) or ssh.cssrs_unknown
        retraction_cap(d, r, ssh.cssrs_unknown)
    near_miss(d, head)
    return d


def ladder_rung(slots: frozenset[str]) -> Level:
    """The rung loose cues show beside ideation: an act under way is imminent; preparations, or a method (or a
    lethal amount) with a time, high (C-SSRS items 4-6); a method alone, C-SSRS item 3 (moderate)."""
    if "under_way" in slots:
        return Level.IMMINENT
    method = bool(slots & {"method", "amount"})
    if "prepared" in slots or (method and "time" in slots):
        return Level.HIGH
    if method:
        return Level.MODERATE
    return Level.NONE


def loose_ladder(
    results: dict[Category, CategoryResult], r: MessageReading, ssh: _Suicide, ssh_phrase: Level
) -> tuple[str, ...]:
    """Rule 11. Ideation the message shows, with a method, a time, means at hand, preparations or an act under way
    (``ladder:`` in patterns.yaml), is placed on the rung they show (reason ``cssrs_ladder:<cues>``; a method
    answers "method" of what is not yet known). Where the learned head is the only sign of ideation, a method or
    a time cannot place it: those words are what raised its score ("i took my pills tonight"); a lethal amount,
    preparations or an act under way still can, and then a time counts with them. Not read in fiction, research,
    quotes, talk about someone else, past-only ideation, denial or retraction. RISK-MODEL "Suicide and
    self-harm: the C-SSRS ladder", loose ladder cues; C-SSRS items 3-6. Returns the C-SSRS items still unknown."""
    pat = r.pat
    cssrs_unknown = ssh.cssrs_unknown
    cues = pat.slots if ssh_phrase > Level.NONE or pat.slots & DEED_SLOTS else frozenset()
    rung = ladder_rung(cues)
    if (
        rung > results[SSH].level
        and ssh.ideation >= Level.LOW
        and not ssh.questioned
        and not r.distancing
        and not pat.past_only
        and not pat.denial
        and not r.retraction
        and subject_of(pat, results) != Subject.OTHER
    ):
        res = results[SSH]
        cssrs_unknown = () if rung >= Level.HIGH else tuple(u for u in cssrs_unknown if u != "method")
        reasons = [x for x in res.reasons if not x.startswith("cssrs_unknown")]
        reasons.append("cssrs_ladder:" + ",".join(sorted(pat.slots)))
        if cssrs_unknown:
            reasons.append("cssrs_unknown:" + ",".join(cssrs_unknown))
        results[SSH] = CategoryResult(res.score, rung, res.evidence, tuple(reasons))
    return cssrs_unknown


def means_seeking_with_distress(
    results: dict[Category, CategoryResult], pat: PatternResult, ideation: Level, means_spans: Sequence[Span]
) -> None:
    """Rule 12. Means-seeking in the same message as distress or ideation is high (``means_seeking_with_distress``):
    "I just lost my job … which bridges in NYC are taller than 25 m?". Within one message only a distress PHRASE
    counts: the learned distress score of a bare lethal-dose question is raised by the question itself. Rule 14
    does the same across turns. RISK-MODEL "Means-seeking"."""
    ssh = results[SSH]
    distress_phrase = any(h.category == DIS for h in pat.hits)
    if pat.means and (distress_phrase or ideation >= Level.LOW):
        results[SSH] = CategoryResult(
            max(ssh.score, results[DIS].score),
            max(ssh.level, Level.HIGH),
            tuple(merge([*ssh.evidence, *means_spans])),
            (*ssh.reasons, "means_seeking_with_distress"),
        )


def message_verdict(r: MessageReading) -> MessageVerdict:
    """Rules 1-12 on one message, in order."""
    pat = r.pat
    means_spans = tuple(r.span(m.start, m.end) for m in pat.means)
    means_kinds = tuple(sorted({m.kind for m in pat.means}))
    by_cat = discount_distanced(r)
    ssh_phrase = max((lv for _, lv, _ in by_cat[SSH]), default=Level.NONE)
    ssh = _Suicide()
    results: dict[Category, CategoryResult] = {}
    low_confidence = False
    for cat in CATEGORIES:
        d = category_verdict(cat, by_cat[cat], r, means_kinds, ssh)
        low_confidence = low_confidence or d.low_confidence
        results[cat] = d.result()
    cssrs_unknown = loose_ladder(results, r, ssh, ssh_phrase)
    means_seeking_with_distress(results, pat, ssh.ideation, means_spans)
    return MessageVerdict(
        results,
        subject_of(pat, results),
        low_confidence,
        means_kinds,
        means_spans,
        ssh.ideation,
        ssh_phrase,
        cssrs_unknown,
    )


def distress_signal(pat: PatternResult, distress: LearnedReading) -> bool:
    """Distress strong enough to make later means-seeking high risk (rule 14): a distress phrase, or the distress
    head past its strict threshold."""
    head = distress.base
    return any(h.category == DIS for h in pat.hits) or (
        head is not None and head.best_window is not None and head.score >= head.strict_threshold
    )


def subject_of(pat: PatternResult, results: Mapping[Category, CategoryResult]) -> Subject:
    """Whose risk the message shows: the speaker's when a counted phrase is about them; unclear behind "asking
    for a friend"; someone else's when the counted phrases, or the text, name only someone else."""
    active = [h for h in pat.hits if results[h.category].level > Level.NONE]
    if any(h.subject == Subject.SELF for h in active):
        return Subject.SELF
    if "asking_for_friend" in pat.contexts:
        return Subject.UNCLEAR
    if any(h.subject == Subject.OTHER for h in active):
        return Subject.OTHER
    if pat.third_party and not pat.first_person:
        return Subject.OTHER
    return Subject.SELF if pat.first_person else Subject.UNCLEAR


def merge(spans: Iterable[Span]) -> list[Span]:
    """Overlapping or touching evidence spans, merged."""
    out: list[Span] = []
    for s in sorted(spans, key=lambda s: (s.start, s.end)):
        if out and s.start <= out[-1].end:
            out[-1] = Span(out[-1].start, max(out[-1].end, s.end))
        else:
            out.append(s)
    return out


# ---------------------------------------------------------------------------------------------- conversation level
_AFFIRMATIVE = re.compile(
    r"^\s*(?:yes|yeah|yea|yep|yup|y|ya|i have|i do|i am|i'm|sometimes|often|a lot|kind of|kinda|sort of|maybe|"
    r"a little|every day|all the time|honestly yes|i guess|i think so|more than i'd like)\b(?!\s+not)",
    re.IGNORECASE,
)
_NEGATIVE_ANSWER = re.compile(r"^\s*(?:no|nope|nah|never|not really|not at all|i'm not|i am not)\b", re.IGNORECASE)
AFFIRMED = "affirmed_screening_question"
MEANS_AFTER_DISTRESS = "means_seeking_after_distress"


def affirmed_screening_question(asked_just_before: bool, text: str) -> bool:
    """Rule 13. When the assistant's previous turn asked directly about suicide or self-harm (the C-SSRS is asked
    as questions), a short "yes" / "sometimes" (normalised ``text``) is ideation: at least low
    (``affirmed_screening_question``). RISK-MODEL "Conversation layer"."""
    return asked_just_before and bool(_AFFIRMATIVE.match(text)) and not _NEGATIVE_ANSWER.match(text)


def means_seeking_after_distress(
    means_kinds: Sequence[str], signal_turns: Iterable[int], turn: int, memory: int
) -> tuple[Level, str] | None:
    """Rule 14. Means-seeking after distress or ideation in any of the last ``memory`` user turns
    (``signal_turns``, earlier turns only) is high, even when the question itself reads as neutral
    (``means_seeking_after_distress:turnN``, the latest such turn). RISK-MODEL "Means-seeking"."""
    recent = [k for k in signal_turns if turn - k <= memory]
    if means_kinds and recent:
        return Level.HIGH, f"{MEANS_AFTER_DISTRESS}:turn{max(recent)}"
    return None


def means_evidence(result: CategoryResult, means_spans: Sequence[Span]) -> CategoryResult:
    """With rule 14, the evidence points the reviewer at the question itself, even when it reads as neutral."""
    if not any(r.startswith(MEANS_AFTER_DISTRESS) for r in result.reasons):
        return result
    spans = tuple(sorted(set(result.evidence) | set(means_spans), key=lambda sp: sp.start))
    return CategoryResult(result.score, result.level, spans, result.reasons)


def persistent_ideation(phrase_turns: Iterable[int], turn: int, window: int, count: int) -> bool:
    """Rule 15. Ideation *phrases* (or a "yes" to a screening question) in ``count`` of the last ``window`` user
    turns are at least moderate (``persistent_ideation``). A learned-only verdict never counts, so everyday
    turns cannot add up to a level; turns about someone else are not counted. RISK-MODEL "Conversation layer"."""
    return sum(1 for k in phrase_turns if turn - k < window) >= count


def turn_level(
    cat: Category, now: CategoryResult, raised: tuple[Level, str] | None, persistent: bool
) -> tuple[Level, list[str]]:
    """Rule 16. This turn's level for ``cat``: the message's, raised by rule 13 or 14 (``raised``, suicide only)
    and by rule 15 (low ideation held in persistent turns becomes moderate)."""
    level, reasons = now.level, list(now.reasons)
    if raised is not None:
        level = max(level, raised[0])
        reasons.append(raised[1])
    if cat == SSH and persistent and level < Level.MODERATE and level >= Level.LOW:
        level = Level.MODERATE
        reasons.append("persistent_ideation")
    return level, reasons


def retraction_lowers_carry(cat: Category, retraction: bool, carried: Level, level_now: Level) -> Level | None:
    """Rule 17. A retraction ("just kidding", "I'd never actually do it") lowers carried suicide risk one level,
    never below low (``retraction:lowered_not_reset``; the conversation also scales the carried score). People
    often retract after disclosing: a retraction is information, not an all-clear. RISK-MODEL "Conversation
    layer". Returns the lowered level, or None when the rule does not apply."""
    if cat == SSH and retraction and carried >= Level.LOW and level_now <= Level.LOW:
        return Level(max(Level.LOW, carried - 1))
    return None


def carried_level(cat: Category, level: Level, since: int, peak: Level, turn: int, hold_turns: int) -> Level:
    """Rule 18. A carried level holds for ``hold_turns`` user turns, then steps down one level per ``hold_turns``.
    For suicide risk, a disclosed plan, intent, preparation or act (peak high or imminent) holds at high through
    calm turns (nothing calm says the plan is gone; only a retraction lowers it), and moderate never decays below
    low within a conversation. RISK-MODEL "Conversation layer", slow decay; C-SSRS items 4-6."""
    if level == Level.NONE:
        return Level.NONE
    steps = max(0, (turn - since) // hold_turns)
    out = Level(max(Level.NONE, level - steps))
    if cat == SSH and peak >= Level.HIGH:
        out = max(out, Level.HIGH)
    elif cat == SSH and peak >= Level.MODERATE:
        out = max(out, Level.LOW)
    return out


def sets_floor(reasons: Iterable[str]) -> bool:
    """Rule 19. A learned verdict with no phrase or rule behind it is carried like any other (held, then stepping
    down) but never sets the floor a conversation keeps (rule 18's peak): one everyday message the model misread
    fades, and it is escalated once. RISK-MODEL "Conversation layer", accumulation without inflation."""
    return not all(r.startswith(("learned", "carried_from")) for r in reasons)
