"""Pattern layer: a curated, documented phrase library (``data/patterns.yaml``) run on normalised text.

The learned layer generalises; this layer is exact and explainable. It places a statement on the C-SSRS
ladder (method, intent, plan, behaviour), finds means-seeking, and reads the context that changes what words
mean: negation, idioms, fiction, research, quotes, "asking for a friend" and retractions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import Field, field_validator

from mindrail.datafiles import DataFileError, StrictModel, expand_defs, load_model
from mindrail.risk.types import Category, Level, Subject

M = TypeVar("M", bound=StrictModel)

DEFAULT_PATTERNS = "patterns.yaml"
DEFAULT_MULTILINGUAL = "multilingual.yaml"

CONTEXT_NAMES = (
    "hypothetical",
    "fiction",
    "research",
    "psychoeducation",
    "quote",
    "asking_for_friend",
    "retraction",
)


class _PatternSpec(StrictModel):
    id: str
    category: Category
    level: Literal["low", "moderate", "high", "imminent"]
    reason: str = Field(pattern=r"^[a-z_]+$")
    regex: str
    cssrs: str | None = None
    subject: Literal["self", "other", "auto"] = "auto"
    negatable: bool = True
    examples: list[str] = Field(default_factory=list)
    counter: list[str] = Field(default_factory=list)


class _MeansSpec(StrictModel):
    id: str
    kind: Literal["heights", "water", "medication", "poison", "weapons", "rail_traffic", "other"]
    framing: Literal["neutral", "lethal"]
    regex: str
    examples: list[str] = Field(default_factory=list)
    counter: list[str] = Field(default_factory=list)


def _check_unique_ids(items: list[Any]) -> list[Any]:
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            raise ValueError(f"duplicate id {item.id!r}")
        seen.add(item.id)
    return items


LADDER_SLOTS = ("method", "amount", "time", "prepared", "under_way")


class _SlotSpec(StrictModel):
    """A loose C-SSRS ladder cue (``ladder:``): read only beside ideation the message already shows."""

    id: str
    slot: Literal["method", "amount", "time", "prepared", "under_way", "as_prescribed"]
    regex: str
    examples: list[str] = Field(default_factory=list)
    counter: list[str] = Field(default_factory=list)


class _MultilingualSpec(StrictModel):
    id: str
    category: Category
    level: Literal["low", "moderate", "high", "imminent"]
    reason: str
    regex: str
    lang: list[str] = Field(default_factory=list)
    subject: Literal["self", "other", "unclear"] = "unclear"
    examples: list[str] = Field(default_factory=list)
    counter: list[str] = Field(default_factory=list)


class _MultilingualFile(StrictModel):
    """``multilingual.yaml``: phrases of the languages the encoder cannot read, on the same ladder."""

    version: int
    defs: dict[str, str] = Field(default_factory=dict)
    patterns: list[_MultilingualSpec]

    @field_validator("patterns")
    @classmethod
    def _unique_ids(cls, v: list[_MultilingualSpec]) -> list[_MultilingualSpec]:
        return _check_unique_ids(v)


class _Contexts(StrictModel):
    negation: str
    uncertainty_after_negation: str
    hypothetical: str
    fiction: str
    research: str
    psychoeducation: str
    quote: str
    asking_for_friend: str
    retraction: str
    denial: str
    past_frame: str
    present_frame: str
    no_intent: str
    third_party_subject: str
    first_person: str


class _PatternFile(StrictModel):
    version: int
    defs: dict[str, str] = Field(default_factory=dict)
    patterns: list[_PatternSpec]
    means: list[_MeansSpec]
    ladder: list[_SlotSpec] = Field(default_factory=list)
    multilingual: list[_MultilingualSpec] = Field(default_factory=list)
    contexts: _Contexts
    idioms: list[str]

    @field_validator("patterns", "means", "ladder")
    @classmethod
    def _unique_ids(cls, v: list[Any]) -> list[Any]:
        return _check_unique_ids(v)


@dataclass(frozen=True, slots=True)
class PatternHit:
    """One matched phrase, with offsets into the NORMALISED text."""

    pattern_id: str
    category: Category
    level: Level
    reason: str
    start: int
    end: int
    subject: Subject
    cssrs: str | None = None
    negated: bool = False
    in_idiom: bool = False


@dataclass(frozen=True, slots=True)
class MeansHit:
    pattern_id: str
    kind: str
    framing: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class PatternResult:
    hits: tuple[PatternHit, ...]
    """Hits that count: not negated and not inside an idiom."""
    dropped: tuple[PatternHit, ...]
    """Negated or idiomatic hits, kept because their presence is informative to the learned layer."""
    means: tuple[MeansHit, ...]
    idioms: tuple[tuple[int, int], ...]
    contexts: frozenset[str] = field(default_factory=frozenset)
    third_party: bool = False
    first_person: bool = False
    quotes: tuple[tuple[int, int], ...] = ()
    """Spans of double-quoted text: words someone else said or wrote."""
    no_intent: bool = False
    """Every retraction cue is a statement of no intent ("i'm not going to do anything"), not a taking back:
    the thought stays, only intent is answered, so the ladder keeps current ideation at moderate."""
    past_only: bool = False
    """The text speaks of the past ("when i was 15 i wanted to die") with no marker of now ("still", "again",
    "lately"): ideation then is history, not current ideation of unknown intent."""
    slots: frozenset[str] = frozenset()
    """C-SSRS ladder cues in the text (``method``, ``amount``, ``time``, ``prepared``, ``under_way``), not negated: the
    detector reads them only beside suicidal ideation the message already shows."""
    denial: bool = False
    """The person says they are not at risk ("i'm not suicidal", "haven't cut in 4 years"). Unlike a retraction
    it lowers nothing the patterns found; it only asks more of a learned verdict with no phrase behind it."""

    def quoted(self, start: int, end: int) -> bool:
        return any(s <= start and end <= e for s, e in self.quotes)


@dataclass(frozen=True, slots=True)
class _Compiled:
    spec: _PatternSpec
    rx: re.Pattern[str]
    level: Level
    category: Category


_CLAUSE_BREAK = re.compile(r"[.!?;:\n]|\b(?:and|but|so|because|though|although|yet|or|then|cause|cuz)\b")
_TOKEN = re.compile(r"[a-z']+")
_REFLEXIVE_SELF = re.compile(r"\b(?:my\s?self|me|my (?:own )?life)\b")
_REFLEXIVE_OTHER = re.compile(
    r"\b(?:him\s?self|her\s?self|them\s?selves|them\s?self|their\s?self|(?:his|her|their) (?:own )?life)\b"
)
_FIRST_PERSON_PREFIX = re.compile(r"\b(?:i|i'm|im|i've|i'd|i'll|me|my)\b")


class PatternDetector:
    """Compiled pattern library; ``detect(normalised_text)`` is pure and thread-safe."""

    def __init__(self, source: Path | None = None) -> None:
        path_label, spec = _load(_PatternFile, source, DEFAULT_PATTERNS)
        self.version = spec.version
        self.spec = spec
        defs = {k: f"(?:{expand_defs(v, spec.defs)})" for k, v in spec.defs.items()}

        def compile_(where: str, rx: str) -> re.Pattern[str]:
            return _compile(path_label, where, expand_defs(rx, defs))

        self._patterns = [
            _Compiled(p, compile_(f"pattern {p.id!r} field 'regex'", p.regex), Level.parse(p.level), p.category)
            for p in spec.patterns
        ]
        self._means = [(m, compile_(f"means {m.id!r} field 'regex'", m.regex)) for m in spec.means]
        self._ladder = [(m, compile_(f"ladder {m.id!r} field 'regex'", m.regex)) for m in spec.ladder]
        ml_label, ml = _load(_MultilingualFile, source, DEFAULT_MULTILINGUAL)
        self.multilingual_spec = ml
        ml_defs = {**defs, **{k: f"(?:{expand_defs(v, ml.defs)})" for k, v in ml.defs.items()}}
        self._multilingual = [
            (m, _compile(ml_label, f"pattern {m.id!r} field 'regex'", expand_defs(m.regex, ml_defs)))
            for m in [*spec.multilingual, *ml.patterns]
        ]
        self._idioms = [compile_(f"idioms[{i}]", rx) for i, rx in enumerate(spec.idioms)]
        ctx = spec.contexts
        self._negation = compile_("contexts.negation", ctx.negation)
        self._uncertain = compile_("contexts.uncertainty_after_negation", ctx.uncertainty_after_negation)
        self._contexts = {name: compile_(f"contexts.{name}", getattr(ctx, name)) for name in CONTEXT_NAMES}
        self._third_party = compile_("contexts.third_party_subject", ctx.third_party_subject)
        self._first_person = compile_("contexts.first_person", ctx.first_person)
        self._denial = compile_("contexts.denial", ctx.denial)
        self._past = compile_("contexts.past_frame", ctx.past_frame)
        self._no_intent = compile_("contexts.no_intent", ctx.no_intent)
        self._present = compile_("contexts.present_frame", ctx.present_frame)

    # ------------------------------------------------------------------ public
    def detect(self, text: str) -> PatternResult:
        idioms = tuple((m.start(), m.end()) for rx in self._idioms for m in rx.finditer(text))
        hits: list[PatternHit] = []
        dropped: list[PatternHit] = []
        for c in self._patterns:
            for m in c.rx.finditer(text):
                start, end = m.start(), m.end()
                negated = c.spec.negatable and self._is_negated(text, start)
                in_idiom = any((s <= start and end <= e) or (s < end and start < e) for s, e in idioms)
                hit = PatternHit(
                    pattern_id=c.spec.id,
                    category=c.category,
                    level=c.level,
                    reason=c.spec.reason,
                    start=start,
                    end=end,
                    subject=self._subject(text, start, end, c.spec.subject),
                    cssrs=c.spec.cssrs,
                    negated=negated,
                    in_idiom=in_idiom,
                )
                (dropped if negated or in_idiom else hits).append(hit)
        for ml, rx in self._multilingual:
            for m in rx.finditer(text):
                level, subject = Level.parse(ml.level), _ML_SUBJECT[ml.subject]
                hits.append(PatternHit(ml.id, ml.category, level, ml.reason, m.start(), m.end(), subject))
        means = tuple(
            MeansHit(spec.id, spec.kind, spec.framing, m.start(), m.end())
            for spec, rx in self._means
            for m in rx.finditer(text)
            if not any(s <= m.start() < e for s, e in idioms)
        )
        contexts = frozenset(name for name, rx in self._contexts.items() if rx.search(text))
        slots = frozenset(
            spec.slot
            for spec, rx in self._ladder
            if any(
                not self._is_negated(text, m.start()) and not any(s <= m.start() < e for s, e in idioms)
                for m in rx.finditer(text)
            )
        )
        retracted = "retraction" in contexts
        retractions = [m.group() for m in self._contexts["retraction"].finditer(text)] if retracted else []
        return PatternResult(
            hits=tuple(hits),
            dropped=tuple(dropped),
            means=means,
            idioms=idioms,
            contexts=contexts,
            third_party=bool(self._third_party.search(text)),
            first_person=bool(self._first_person.search(text)),
            quotes=tuple((m.start(), m.end()) for m in _QUOTED.finditer(text)),
            slots=slots,
            denial=bool(self._denial.search(text)),
            past_only=bool(self._past.search(text)) and not self._present.search(text),
            no_intent=bool(retractions) and all(self._no_intent.fullmatch(m) for m in retractions),
        )

    def is_screening_question(self, text: str) -> bool:
        """Did an assistant turn ask directly about suicide or self-harm? A bare "yes" then means risk."""
        return bool(_SCREENING_Q.search(text))

    # ------------------------------------------------------------------ internals
    def _clause_prefix(self, text: str, start: int, limit: int = 120) -> str:
        prefix = text[max(0, start - limit) : start]
        breaks = list(_CLAUSE_BREAK.finditer(prefix))
        return prefix[breaks[-1].end() :] if breaks else prefix

    def _is_negated(self, text: str, start: int) -> bool:
        clause = self._clause_prefix(text, start)
        tokens = _TOKEN.findall(clause)[-3:]
        for i, tok in enumerate(tokens):
            if self._negation.fullmatch(tok) or tok in {"never", "not", "no"} or tok.endswith("n't"):
                rest = " ".join(tokens[i + 1 :]) + " " + text[start : start + 20]
                return not self._uncertain.match(rest)
        return False

    def _subject(self, text: str, start: int, end: int, declared: str) -> Subject:
        if declared == "self":
            return Subject.SELF
        if declared == "other":
            return Subject.OTHER
        matched = text[start:end]
        if _REFLEXIVE_OTHER.search(matched):
            return Subject.OTHER
        clause = self._clause_prefix(text, start, limit=80)
        third = list(self._third_party.finditer(clause))
        # The "my" of "my friend" is part of naming someone else, not the speaker talking about themself.
        first = [
            f for f in _FIRST_PERSON_PREFIX.finditer(clause) if not any(x.start() <= f.start() < x.end() for x in third)
        ]
        # "my friend wants to kill herself" / "she said she wants to die"
        if (
            third
            and (not first or third[-1].start() > first[-1].start())
            and (not _REFLEXIVE_SELF.search(matched) or third[-1].group(0).startswith("my "))
        ):
            return Subject.OTHER
        if _REFLEXIVE_SELF.search(matched) or first:
            return Subject.SELF
        return Subject.UNCLEAR


_ML_SUBJECT = {"self": Subject.SELF, "other": Subject.OTHER, "unclear": Subject.UNCLEAR}
_QUOTED = re.compile(r'"[^"\n]{2,300}"')
_SCREENING_Q = re.compile(
    r"\b(?:(?:thoughts?|thinking) (?:of|about) (?:suicide|killing yourself|ending your life|taking your (?:own )?life"
    r"|hurting yourself|harming yourself|self[- ]harm|not being here|dying)|(?:are|have) you (?:been )?(?:feeling )?"
    r"suicidal|(?:want|wanting|wish) to (?:die|kill yourself|end your life)|(?:do|did) you have a plan"
    r"|(?:are|do) you (?:have|got) (?:access to|the) (?:pills|a gun|means)|(?:are|is) you(?:r)? safe(?: right now)?)\b"
)


def _compile(label: str, where: str, rx: str) -> re.Pattern[str]:
    try:
        return re.compile(rx)
    except re.error as exc:
        raise DataFileError(f"{label}: {where}: regex does not compile: {exc}") from None


def _load(model: type[M], source: Path | None, name: str) -> tuple[str, M]:
    """The bundled file ``name``, or (with ``source``) the file of that name beside ``source``; a missing
    ``multilingual.yaml`` beside a custom ``patterns.yaml`` reads as empty."""
    if source is None:
        return f"mindrail/risk/data/{name}", load_model(model, f"data/{name}", package="mindrail.risk")
    path = Path(source) if name == DEFAULT_PATTERNS else Path(source).with_name(name)
    if name != DEFAULT_PATTERNS and not path.exists():
        return str(path), model.model_validate({"version": 0, "patterns": []})
    return str(path), load_model(model, path)


@lru_cache(maxsize=4)
def default_detector(source: Path | None = None) -> PatternDetector:
    return PatternDetector(source)
