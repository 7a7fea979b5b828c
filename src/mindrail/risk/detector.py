"""Message-level hybrid detector: normalise → pattern layer → embedding windows → calibrated heads → levels.

The two layers are combined, not averaged: the pattern layer places explicit statements on the C-SSRS ladder
and reads context; the heads catch indirect phrasing and give every category a calibrated score. A category's
level is the higher of the two, after context rules (fiction, research, negation, retraction) are applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np
import numpy.typing as npt

from mindrail.risk.encoder import Encoder
from mindrail.risk.features import N_FEATURES, pattern_features
from mindrail.risk.gloss import Gloss, Glossary
from mindrail.risk.heads import HeadSet
from mindrail.risk.identity import mask_identity
from mindrail.risk.language import foreign_leaning, is_supported
from mindrail.risk.normalise import Normalised, normalise, scrub
from mindrail.risk.patterns import PatternDetector, PatternHit, PatternResult
from mindrail.risk.types import CATEGORIES, Category, CategoryResult, Flag, Level, Span, Subject

SSH = Category.SUICIDE_SELF_HARM
# C-SSRS items 1-2 (a wish to be dead, non-specific active thoughts): what intent, plan and method are is not yet
# known, so the v2 ladder holds them at moderate until someone asks (docs/risk-model.md, "not yet known").
_IDEATION_ITEMS = frozenset({"wish_dead", "active_nonspecific"})
CSSRS_UNKNOWN = ("method", "intent", "plan")
# Contexts in which a hit about someone other than the speaker is talk about suicide, not risk.
_DISTANCING = frozenset({"fiction", "research", "psychoeducation", "quote", "hypothetical"})
_LOW_CONFIDENCE_MARGIN = 0.10
_DEED_SLOTS = frozenset({"amount", "prepared", "under_way"})
LAYERS = frozenset({"patterns", "learned"})
_NO_PATTERNS = PatternResult(hits=(), dropped=(), means=(), idioms=())


@dataclass(slots=True)
class MessageResult:
    """Everything the conversation layer needs about one message, with spans in original offsets."""

    norm: Normalised
    patterns: PatternResult
    categories: dict[Category, CategoryResult]
    subject: Subject
    flags: set[Flag] = field(default_factory=set)
    means_kinds: tuple[str, ...] = ()
    means_spans: tuple[Span, ...] = ()
    ideation: Level = Level.NONE
    """Suicide/self-harm level before any means-seeking rule: what later means-seeking is read against."""
    distress_signal: bool = False
    """Distress strong enough to make means-seeking high risk: a distress phrase, or a confident head score."""
    ideation_phrase: Level = Level.NONE
    """Suicide/self-harm level of the phrases alone (no learned verdict): what persistence counts."""
    cssrs_unknown: tuple[str, ...] = ()
    """C-SSRS items not yet known for current ideation (method, intent, plan): what a person should ask."""

    def level(self, category: Category) -> Level:
        r = self.categories.get(category)
        return r.level if r else Level.NONE


class Detector(Protocol):
    """What the conversation layer reads from a detector: it screens a batch of messages independently of
    conversation context, names its version, and tells whether an assistant's turn asked a screening question
    (the conversation reads a short "yes" after one as ideation)."""

    version: str

    def screen(self, texts: Sequence[str]) -> list[MessageResult]: ...

    def is_screening_question(self, text: str) -> bool:
        """Whether ``text`` (raw, as the assistant wrote it) asks directly about suicide or self-harm."""
        ...


class HybridDetector:
    def __init__(
        self,
        encoder: Encoder,
        heads: HeadSet,
        patterns: PatternDetector,
        *,
        max_windows: int = 4096,
        layers: frozenset[str] = LAYERS,
        glossary: Glossary | None = None,
    ):
        """``layers`` drops the pattern or the learned layer, for the ablation in ``make bench`` only.
        ``glossary``: Spanish, French, German and Portuguese are also screened through it (mindrail.risk.gloss);
        without one they are only flagged unsupported."""
        if not layers or layers - LAYERS:
            raise ValueError(f"layers must be a non-empty subset of {sorted(LAYERS)}, got {sorted(layers)}")
        self.layers = layers
        self.encoder = encoder
        self.heads = heads
        self.patterns = patterns
        self.max_windows = max_windows
        self.glossary = glossary
        gloss_tag = "+gloss" if glossary is not None else ""
        self.version = f"mindrail-risk/{heads.version}+{encoder.version}+patterns-v{patterns.version}{gloss_tag}"
        self._head_index = {(h.category, h.min_level): j for j, h in enumerate(heads.heads)}
        self._severity: dict[Category, list[int]] = {}
        for j, h in enumerate(heads.heads):
            if h.min_level > Level.LOW:
                self._severity.setdefault(h.category, []).append(j)

    def is_screening_question(self, text: str) -> bool:
        return self.patterns.is_screening_question(normalise(text).text)

    # ------------------------------------------------------------------ batch API
    def screen(self, texts: Sequence[str]) -> list[MessageResult]:
        texts = [scrub(t) for t in texts]
        glosses = [self._gloss(t) for t in texts]
        extra = [g.text for g in glosses if g is not None]
        if not extra:
            return self._screen(texts)
        screened = self._screen([*texts, *extra], glosses_from=len(texts))
        out = screened[: len(texts)]
        k = len(texts)
        for i, g in enumerate(glosses):
            if g is not None:
                out[i] = _with_gloss(out[i], screened[k], g)
                k += 1
        return out

    def _gloss(self, text: str) -> Gloss | None:
        """Texts the language check does not take for English, and short ones that lean foreign ("ich möchte
        sterben" is under the four words it needs), are glossed when their words name a glossary language."""
        if self.glossary is None or (is_supported(text) and not foreign_leaning(text)):
            return None
        lang = self.glossary.identify(text)
        return self.glossary.gloss(text, lang) if lang else None

    def _screen(self, texts: list[str], glosses_from: int | None = None) -> list[MessageResult]:
        """``texts[glosses_from:]`` are English glosses: read as English whatever words they kept, with the learned
        verdict held to the head's strict threshold (a gloss is broken English; the encoder is less sure of it)."""
        norms = [normalise(t) for t in texts]
        pats = [self.patterns.detect(n.text) if "patterns" in self.layers else _NO_PATTERNS for n in norms]
        truncated = [False] * len(texts)
        masked = [mask_identity(n.text) for n in norms]
        wins = self.encoder.embed_windows([m.text for m in masked])
        owner = wins.owner
        keep = self._cap_windows(owner, truncated)
        vectors, owner = wins.vectors[keep], owner[keep]
        spans = [masked[int(wins.owner[i])].span_to_source(*wins.char_spans[i]) for i in np.flatnonzero(keep)]
        feats = np.stack([pattern_features(p) for p in pats]) if pats else np.zeros((0, N_FEATURES), np.float32)
        x = np.concatenate([vectors, feats[owner]], axis=1).astype(np.float32)
        if len(x) and "learned" in self.layers:
            scores = self.heads.predict(x, vectors)
        else:
            scores = np.zeros((len(x), len(self.heads.heads)))
        results = []
        for i, (text, norm, pat) in enumerate(zip(texts, norms, pats, strict=True)):
            rows = np.flatnonzero(owner == i)
            glossed = glosses_from is not None and i >= glosses_from
            results.append(
                self._combine(text, norm, pat, scores[rows], [spans[r] for r in rows], truncated[i], glossed)
            )
        return results

    def _cap_windows(self, owner: npt.NDArray[np.intp], truncated: list[bool]) -> npt.NDArray[np.bool_]:
        """Very long texts keep their first and last windows; the pattern layer still reads all of it."""
        keep = np.ones(len(owner), dtype=bool)
        if len(owner) <= self.max_windows:
            return keep
        for i in np.unique(owner):
            rows = np.flatnonzero(owner == i)
            if len(rows) > self.max_windows:
                half = self.max_windows // 2
                keep[rows[half:-half]] = False
                truncated[int(i)] = True
        return keep

    # ------------------------------------------------------------------ combination
    def _combine(
        self,
        original: str,
        norm: Normalised,
        pat: PatternResult,
        scores: npt.NDArray[np.float64],
        spans: list[tuple[int, int]],
        truncated: bool,
        glossed: bool = False,
    ) -> MessageResult:
        flags: set[Flag] = set()
        if truncated:
            flags.add(Flag.TRUNCATED)
        if not original.strip():
            empty = {c: CategoryResult(0.0, Level.NONE) for c in CATEGORIES}
            return MessageResult(norm, pat, empty, Subject.UNCLEAR, flags)
        dj = self._head_index.get((Category.DISTRESS, Level.LOW))
        distress_signal = any(h.category == Category.DISTRESS for h in pat.hits) or (
            dj is not None and len(scores) > 0 and float(scores[:, dj].max()) >= self.heads.heads[dj].strict_threshold
        )
        if not glossed and not is_supported(original):
            flags.add(Flag.LANGUAGE_UNSUPPORTED)
            flags.add(Flag.LOW_CONFIDENCE)

        def to_span(s: int, e: int) -> Span:
            a, b = norm.span_to_original(s, e)
            return Span(a, b)

        distancing = bool(pat.contexts & _DISTANCING)
        by_cat: dict[Category, list[tuple[PatternHit, Level, str | None]]] = {c: [] for c in CATEGORIES}
        for hit in pat.hits:
            level, note = hit.level, None
            if distancing and (hit.subject != Subject.SELF or pat.quoted(hit.start, hit.end)):
                level, note = Level.NONE, "context:" + ",".join(sorted(pat.contexts & _DISTANCING))
            by_cat[hit.category].append((hit, level, note))

        means_lethal = [m for m in pat.means if m.framing == "lethal"]
        means_spans = tuple(to_span(m.start, m.end) for m in pat.means)
        means_kinds = tuple(sorted({m.kind for m in pat.means}))
        results: dict[Category, CategoryResult] = {}
        ideation = Level.NONE
        ideation_questioned = False
        ssh_phrase = max((lv for _, lv, _ in by_cat[SSH]), default=Level.NONE)
        cssrs_unknown: tuple[str, ...] = ()
        for cat in CATEGORIES:
            j = self._head_index.get((cat, Level.LOW))
            score = float(scores[:, j].max()) if j is not None and len(scores) else 0.0
            level = Level.NONE
            evidence: list[Span] = []
            reasons: list[str] = []
            for hit, lv, note in by_cat[cat]:
                if lv > Level.NONE:
                    level = max(level, lv)
                    evidence.append(to_span(hit.start, hit.end))
                    reasons.append(f"{hit.reason}" + (f":cssrs={hit.cssrs}" if hit.cssrs else ""))
                elif note:
                    reasons.append(f"{hit.reason}:discounted:{note}")
            phrase_level = level
            # A learned verdict with no phrase behind it must clear the strict threshold where the pattern layer
            # read the message as idiom or retraction. Where the person denies risk ("i'm not suicidal, just tired
            # lol") or writes in a language the encoder was not trained on, it sets no level (the pattern layer's
            # verdict stands; low_confidence says a learned score was overruled). Fiction and research frames
            # are not gated: measured, that cost recall on disclosures wrapped in them.
            base_gate = learned_gate = self.heads.heads[j].threshold if j is not None else 1.0
            questioned = phrase_level == Level.NONE and bool(
                glossed
                or pat.idioms
                or "retraction" in pat.contexts
                or any(h.category == cat and h.negated for h in pat.dropped)
            )
            if phrase_level == Level.NONE and j is not None:
                if questioned:
                    learned_gate = max(learned_gate, self.heads.heads[j].strict_threshold)
                if (cat == SSH and pat.denial) or Flag.LANGUAGE_UNSUPPORTED in flags:
                    learned_gate = float("inf")
                if score >= base_gate and score < learned_gate:
                    flags.add(Flag.LOW_CONFIDENCE)
            if j is not None and score >= learned_gate:
                if level == Level.NONE:
                    best = int(np.argmax(scores[:, j]))
                    evidence.append(to_span(*spans[best]))
                level = max(level, self.heads.heads[j].min_level)
                reasons.append("learned")
            # Severity heads raise a level to their own (high and imminent heads are thresholded at precision 0.9
            # and 0.95 on calib, mindrail.training.train). A bare means-seeking question raises the learned scores
            # by itself, so it cannot raise severity.
            # A severity head only raises a level the category already has (a phrase, or the base head past its
            # threshold, which is held to a low false-positive rate on everyday text): on its own it would
            # re-admit the everyday text the base threshold keeps out.
            # Nor does it raise a verdict the gate had to question (idiom, retraction, negation) or ideation the
            # person places in the past ("when I was fifteen ...": lifetime ideation is history, C-SSRS).
            severity_ok = (
                level > Level.NONE
                and (learned_gate == base_gate or phrase_level > Level.NONE)
                and not (cat == SSH and pat.means and phrase_level == Level.NONE)
                and not (cat == SSH and pat.past_only)
            )
            for sj in self._severity.get(cat, ()) if severity_ok else ():
                if len(scores) and float(scores[:, sj].max()) >= self.heads.heads[sj].threshold:
                    level = max(level, self.heads.heads[sj].min_level)
                    reasons.append(f"learned:severity>={self.heads.heads[sj].min_level.label}")
            if cat == SSH:
                # A learned verdict the gate had to question (idiom, retraction, negation) is not placed higher on
                # the ladder by loose cues, as it is not by the severity heads.
                ideation_questioned = questioned and not glossed
                # With means-seeking in the message, the learned score is raised by the question itself, so
                # only phrases count as ideation; without it, everything does.
                ideation = ssh_phrase if pat.means else level
            if cat == SSH and pat.means:
                reasons.extend(f"means_seeking:{k}" for k in means_kinds)
                if means_lethal:
                    level = max(level, Level.LOW)
                    evidence.extend(to_span(m.start, m.end) for m in means_lethal)
                if means_lethal and "asking_for_friend" in pat.contexts:
                    level = max(level, Level.MODERATE)
                    reasons.append("means_seeking:third_party_cover")
            if cat == SSH:
                level, unknown = _ideation_rung(level, by_cat[cat], pat)
                if unknown:
                    reasons.append("cssrs_unknown:" + ",".join(unknown))
                    cssrs_unknown = unknown
            if (
                cat == SSH
                and "retraction" in pat.contexts
                and level > Level.LOW
                and level < Level.IMMINENT
                and not (pat.no_intent and cssrs_unknown)
            ):
                level = Level.LOW
                reasons.append("retraction")
            if (
                level == Level.NONE
                and j is not None
                and score >= self.heads.heads[j].threshold - _LOW_CONFIDENCE_MARGIN
            ):
                flags.add(Flag.LOW_CONFIDENCE)
            results[cat] = CategoryResult(score, level, tuple(_merge(evidence)), tuple(dict.fromkeys(reasons)))

        # The C-SSRS ladder on loose cues: ideation this message shows, with a method, a time, means at hand,
        # preparations or an act under way, is placed on the rung they show (patterns.yaml, ``ladder:``).
        # Where the learned head is the only sign of ideation, a method or a time cannot place it: those words are
        # what raised its score ("i took my pills tonight"). A lethal amount ("all the pills"), preparations or an
        # act under way still can, and then a time counts with them.
        cues = pat.slots if ssh_phrase > Level.NONE or pat.slots & _DEED_SLOTS else frozenset()
        rung = _ladder_rung(cues)
        if (
            rung > results[SSH].level
            and ideation >= Level.LOW
            and not ideation_questioned
            and not distancing
            and not pat.past_only
            and not pat.denial
            and "retraction" not in pat.contexts
            and _subject(pat, results) != Subject.OTHER
        ):
            r = results[SSH]
            cssrs_unknown = () if rung >= Level.HIGH else tuple(u for u in cssrs_unknown if u != "method")
            reasons = [x for x in r.reasons if not x.startswith("cssrs_unknown")]
            reasons.append("cssrs_ladder:" + ",".join(sorted(pat.slots)))
            if cssrs_unknown:
                reasons.append("cssrs_unknown:" + ",".join(cssrs_unknown))
            results[SSH] = CategoryResult(r.score, rung, r.evidence, tuple(reasons))

        # Means-seeking in the same message as distress or ideation is high risk (conversation.py does the
        # same across turns). Within one message only a distress PHRASE counts: the learned distress score of a
        # bare lethal-dose question is raised by the question itself.
        ssh = results[SSH]
        distress_phrase = any(h.category == Category.DISTRESS for h in pat.hits)
        if pat.means and (distress_phrase or ideation >= Level.LOW):
            results[SSH] = CategoryResult(
                max(ssh.score, results[Category.DISTRESS].score),
                max(ssh.level, Level.HIGH),
                tuple(_merge([*ssh.evidence, *means_spans])),
                (*ssh.reasons, "means_seeking_with_distress"),
            )
        return MessageResult(
            norm,
            pat,
            results,
            _subject(pat, results),
            flags,
            means_kinds,
            means_spans,
            ideation,
            distress_signal,
            ssh_phrase,
            cssrs_unknown,
        )


def _with_gloss(own: MessageResult, read: MessageResult, gloss: Gloss) -> MessageResult:
    """A message in a glossary language: per category, the higher of its own phrases' verdict and the English
    gloss's, with the gloss's evidence shown on the original text. It is flagged glossed, not unsupported."""

    def back(spans: Sequence[Span]) -> tuple[Span, ...]:
        return tuple(Span(*gloss.span_to_source(s.start, s.end)) for s in spans)

    categories = dict(own.categories)
    for cat, r in read.categories.items():
        mine = categories.get(cat)
        if mine is None or r.level > mine.level or (r.level == mine.level and r.score > mine.score):
            categories[cat] = CategoryResult(r.score, r.level, back(r.evidence), (*r.reasons, "glossed:" + gloss.lang))
    read_wins = max((r.level for r in read.categories.values()), default=Level.NONE) > max(
        (r.level for r in own.categories.values()), default=Level.NONE
    )
    flags = (own.flags - {Flag.LANGUAGE_UNSUPPORTED, Flag.LOW_CONFIDENCE}) | read.flags | {Flag.GLOSSED}
    ssh_read = read.level(SSH) > own.level(SSH)
    return MessageResult(
        own.norm,
        replace(own.patterns, contexts=own.patterns.contexts | read.patterns.contexts),
        categories,
        read.subject if read_wins else own.subject,
        flags,
        tuple(sorted({*own.means_kinds, *read.means_kinds})),
        (*own.means_spans, *back(read.means_spans)),
        max(own.ideation, read.ideation),
        own.distress_signal or read.distress_signal,
        max(own.ideation_phrase, read.ideation_phrase),
        read.cssrs_unknown if ssh_read else own.cssrs_unknown,
    )


def _ladder_rung(slots: frozenset[str]) -> Level:
    """The rung loose cues show beside ideation: an act under way is imminent; preparations, or a method (or a
    lethal amount) with a time, high; a method alone, C-SSRS item 3 (moderate)."""
    if "under_way" in slots:
        return Level.IMMINENT
    method = bool(slots & {"method", "amount"})
    if "prepared" in slots or (method and "time" in slots):
        return Level.HIGH
    if method:
        return Level.MODERATE
    return Level.NONE


def _ideation_rung(
    level: Level, hits: list[tuple[PatternHit, Level, str | None]], pat: PatternResult
) -> tuple[Level, tuple[str, ...]]:
    """Current first-person ideation (C-SSRS 1-2) whose method, intent and plan are unknown is at least
    moderate; past-only ideation ("when i was 15") and ideation about someone else are not raised."""
    items = {h.cssrs for h, lv, _ in hits if lv > Level.NONE and h.subject != Subject.OTHER}
    if not items & _IDEATION_ITEMS or pat.past_only or items - _IDEATION_ITEMS:
        return level, ()
    return max(level, Level.MODERATE), CSSRS_UNKNOWN


def _subject(pat: PatternResult, results: dict[Category, CategoryResult]) -> Subject:
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


def _merge(spans: list[Span]) -> list[Span]:
    out: list[Span] = []
    for s in sorted(spans, key=lambda s: (s.start, s.end)):
        if out and s.start <= out[-1].end:
            out[-1] = Span(out[-1].start, max(out[-1].end, s.end))
        else:
            out.append(s)
    return out
