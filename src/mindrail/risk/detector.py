"""Message-level hybrid detector: normalise → pattern layer → embedding windows → calibrated heads → levels.

The two layers are combined, not averaged: the pattern layer places explicit statements on the C-SSRS ladder
and reads context; the heads catch indirect phrasing and give every category a calibrated score. This module is
the mechanics (normalise, patterns, encoder windows, heads); the clinical rules that turn their readings into
levels are in ``mindrail.risk.rules``.
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
from mindrail.risk.patterns import PatternDetector, PatternResult
from mindrail.risk.rules import HeadReading, LearnedReading, MessageReading, distress_signal, message_verdict
from mindrail.risk.types import CATEGORIES, Category, CategoryResult, Flag, Level, Span, Subject

SSH = Category.SUICIDE_SELF_HARM
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
        """The heads' scores read per category, then the clinical level rules (mindrail.risk.rules) applied."""
        flags: set[Flag] = set()
        if truncated:
            flags.add(Flag.TRUNCATED)
        if not original.strip():
            empty = {c: CategoryResult(0.0, Level.NONE) for c in CATEGORIES}
            return MessageResult(norm, pat, empty, Subject.UNCLEAR, flags)
        learned = self._read_heads(scores, spans)
        signal = distress_signal(pat, learned[Category.DISTRESS])
        if not glossed and not is_supported(original):
            flags.add(Flag.LANGUAGE_UNSUPPORTED)
            flags.add(Flag.LOW_CONFIDENCE)
        v = message_verdict(MessageReading(pat, norm, learned, glossed, Flag.LANGUAGE_UNSUPPORTED in flags))
        if v.low_confidence:
            flags.add(Flag.LOW_CONFIDENCE)
        return MessageResult(
            norm,
            pat,
            v.categories,
            v.subject,
            flags,
            v.means_kinds,
            v.means_spans,
            v.ideation,
            signal,
            v.ideation_phrase,
            v.cssrs_unknown,
        )

    def _read_heads(
        self, scores: npt.NDArray[np.float64], spans: list[tuple[int, int]]
    ) -> dict[Category, LearnedReading]:
        """Per category, the ≥ low head's score (maximum over windows) and best window, and the severity heads'
        scores; no windows reads 0.0 and no severity heads."""
        windows = len(scores) > 0
        top = scores.max(axis=0) if windows else None
        best = scores.argmax(axis=0) if windows else None
        heads = self.heads.heads

        def reading(j: int) -> HeadReading:
            h = heads[j]
            if top is None or best is None:
                return HeadReading(h.min_level, h.threshold, h.strict_threshold, 0.0)
            return HeadReading(h.min_level, h.threshold, h.strict_threshold, float(top[j]), spans[int(best[j])])

        out: dict[Category, LearnedReading] = {}
        for cat in CATEGORIES:
            j = self._head_index.get((cat, Level.LOW))
            severity = tuple(reading(sj) for sj in self._severity.get(cat, ())) if windows else ()
            out[cat] = LearnedReading(reading(j) if j is not None else None, severity)
        return out


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
