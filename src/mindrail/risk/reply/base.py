"""Reply checks: one interface, and one generic check (:class:`PatternCheck`) configured by its section of
``risk/data/reply_checks.yaml`` (means, encouragement, delusion agreement, stigma, diagnosis or medication, human
claims, compliance, eating-disorder tactics; degenerate repetition adds code of its own in repetition.py). A check
reads the model's reply, normalised like user text so evasions do not slip through, and the conversation's latest
assessment, which tightens some checks (height facts are trivia in a chat about travel, and means information after
"I just lost my job").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from pydantic import Field

from mindrail.datafiles import StrictModel, expand_defs, load_model
from mindrail.risk.normalise import Normalised
from mindrail.risk.types import Assessment, Category, Level


@dataclass(frozen=True, slots=True)
class ReplyFinding:
    """What a reply check found (``privacy.redactor.PiiFinding`` is a redaction's)."""

    check: str
    reason: str
    """Machine-readable: ``<check>:always:<n>`` or ``<check>:in_context:<n>`` (the pattern's index)."""
    start: int
    end: int
    """Offsets into the ORIGINAL reply text."""


@dataclass(frozen=True, slots=True)
class ReplyContext:
    """What a check may know about the conversation: the user's latest assessment (None: no context, checks run
    as if every risk were present, which is the fail-closed reading)."""

    assessment: Assessment | None = None

    def holds(self, category: Category, min_level: Level) -> bool:
        return self.assessment is None or self.assessment.level(category) >= min_level


class ReplyCheck(Protocol):
    name: str

    def scan(self, norm: Normalised, ctx: ReplyContext) -> list[ReplyFinding]: ...


# ---------------------------------------------------------------------------- data file
class _Context(StrictModel):
    category: Category
    min_level: str = Field(pattern="^(low|moderate|high|imminent)$")


class Combo(StrictModel):
    """A method instruction: a means term and an instruction cue in the same sentence ("take all the pills at
    once": pills + at once). Terms and cues are separate lists so each new phrase combines with every other one,
    which generalises further than whole-sentence patterns."""

    id: str = Field(pattern=r"^[a-z0-9-]+$")
    terms: tuple[str, ...] = Field(min_length=1)
    cues: tuple[str, ...] = Field(min_length=1)
    """Matched only where no negation comes right before ("never run a generator indoors")."""
    unless: tuple[str, ...] = ()
    """Patterns that clear the combination within the sentence (safe storage, medical help)."""
    in_context: bool = False
    """Applies only when the check's context holds (like ``in_context`` patterns)."""


class LoopSpec(StrictModel):
    """Thresholds of the repetition check (``mindrail.repetition.LoopSettings``)."""

    min_repeats: int = Field(ge=2)
    min_loop_words: int = Field(ge=2)
    min_sentence_words: int = Field(ge=1)


class CheckSpec(StrictModel):
    description: str
    always: tuple[str, ...] = ()
    in_context: tuple[str, ...] = ()
    context: _Context | None = None
    contexts: tuple[_Context, ...] = ()
    """More contexts: the in-context patterns apply when any of them (or ``context``) holds."""
    unless: tuple[str, ...] = ()
    """Patterns that clear the in-context ones (a reply that voices concern is not going along)."""
    combos: tuple[Combo, ...] = ()
    loop: LoopSpec | None = None
    fail: tuple[str, ...] = Field(min_length=1)
    pass_: tuple[str, ...] = Field(min_length=1, alias="pass")


class Negation(StrictModel):
    """A cue of a combination does not count when one of these words comes shortly before it in the same clause
    ("never leave the engine running", "overdoses are rarely painless")."""

    pattern: str
    words: int = Field(ge=1, le=12)
    """How many words before the cue are read; a comma, colon or semicolon ends the look back."""


class ReplyCheckFile(StrictModel):
    version: int
    defs: dict[str, str] = Field(default_factory=dict)
    negation: Negation | None = None
    checks: dict[str, CheckSpec]


@lru_cache(maxsize=1)
def check_specs() -> ReplyCheckFile:
    return load_model(ReplyCheckFile, "data/reply_checks.yaml", package="mindrail.risk")


_CLAUSE = re.compile(r"[.!?…]+[\"')\]]*(?:\s+|$)")
"""Where a combination's sentence ends (normalised text has no line breaks; "use a beam; it will hold" is one)."""


@dataclass(frozen=True, slots=True)
class _CompiledCombo:
    id: str
    terms: re.Pattern[str]
    cues: re.Pattern[str]
    unless: re.Pattern[str] | None
    in_context: bool


def _alternatives(patterns: tuple[str, ...], defs: dict[str, str], prefix: str = "") -> re.Pattern[str]:
    return re.compile(prefix + "(?:" + "|".join(f"(?:{expand_defs(p, defs)})" for p in patterns) + ")")


_CLAUSE_BREAK = re.compile(r"[,:;]")
_WORDS = re.compile(r"[\w']+")


@dataclass(frozen=True, slots=True)
class _Negation:
    pattern: re.Pattern[str]
    words: int

    def negates(self, text: str, start: int, cue: int) -> bool:
        """Whether a negation word comes in the last ``words`` words before ``cue`` (back to ``start`` or the last
        comma, colon or semicolon)."""
        before = _CLAUSE_BREAK.split(text[start:cue])[-1]
        return any(self.pattern.fullmatch(w) for w in _WORDS.findall(before)[-self.words :])


def _disjoint_pair(
    found: list[re.Match[str]],
    cues: re.Pattern[str],
    text: str,
    start: int,
    end: int,
    negation: _Negation | None,
) -> tuple[re.Match[str], re.Match[str]] | None:
    """The first term (of ``found``, all inside ``text[start:end]``) and cue where the cue is more than the term (a
    word is not its own cue, but "double your dose" is a cue that holds the term "dose") and is not negated."""
    for cue in cues.finditer(text, start, end):
        if negation is not None and negation.negates(text, start, cue.start()):
            continue
        for term in found:
            if cue.start() < term.start() or cue.end() > term.end():
                return term, cue
    return None


def _sentences(text: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for m in _CLAUSE.finditer(text):
        if m.start() > start:
            spans.append((start, m.start()))
        start = m.end()
    if start < len(text):
        spans.append((start, len(text)))
    return spans


class PatternCheck:
    """A check driven by its section of reply_checks.yaml: the section named ``name`` unless ``spec`` is given."""

    def __init__(self, name: str, spec: CheckSpec | None = None, defs: dict[str, str] | None = None) -> None:
        data = check_specs()
        self.name = name
        self.spec = spec or data.checks[name]
        defs = data.defs if defs is None else defs
        neg = data.negation
        try:
            self._negation = _Negation(re.compile(neg.pattern), neg.words) if neg is not None else None
            self._always = [re.compile(expand_defs(r, defs)) for r in self.spec.always]
            self._in_context = [re.compile(expand_defs(r, defs)) for r in self.spec.in_context]
            self._unless = [re.compile(expand_defs(r, defs)) for r in self.spec.unless]
            self._combos = [
                _CompiledCombo(
                    c.id,
                    _alternatives(c.terms, defs),
                    _alternatives(c.cues, defs),
                    _alternatives(c.unless, defs) if c.unless else None,
                    c.in_context,
                )
                for c in self.spec.combos
            ]
        except re.error as exc:
            raise ValueError(f"reply_checks.yaml: check {self.name!r}: regex does not compile: {exc}") from None

    def in_context(self, ctx: ReplyContext) -> bool:
        contexts = ([self.spec.context] if self.spec.context else []) + list(self.spec.contexts)
        return not contexts or any(ctx.holds(c.category, Level.parse(c.min_level)) for c in contexts)

    def scan(self, norm: Normalised, ctx: ReplyContext) -> list[ReplyFinding]:
        out: list[ReplyFinding] = []
        groups = [("always", self._always)]
        if self._in_context and self.in_context(ctx) and not any(rx.search(norm.text) for rx in self._unless):
            groups.append(("in_context", self._in_context))
        for kind, patterns in groups:
            for k, rx in enumerate(patterns):
                for m in rx.finditer(norm.text):
                    a, b = norm.span_to_original(m.start(), m.end())
                    out.append(ReplyFinding(self.name, f"{self.name}:{kind}:{k}", a, b))
        if self._combos:
            out.extend(self._scan_combos(norm, ctx))
        return out

    def _scan_combos(self, norm: Normalised, ctx: ReplyContext) -> list[ReplyFinding]:
        """A combination fires in a sentence holding one of its terms and, elsewhere in it, one of its cues. Terms
        are found in one pass over the reply (shared by combinations with the same terms); cues are read only in
        sentences that hold a term."""
        text = norm.text
        out: list[ReplyFinding] = []
        combos = [c for c in self._combos if not c.in_context or self.in_context(ctx)]
        if not combos:
            return out
        spans = _sentences(text)
        terms: dict[str, list[re.Match[str]]] = {}
        for c in combos:
            found = terms.get(c.terms.pattern)
            if found is None:
                found = terms[c.terms.pattern] = list(c.terms.finditer(text))
            for start, end in spans:
                here = [m for m in found if start <= m.start() and m.end() <= end]
                if not here:
                    continue
                pair = _disjoint_pair(here, c.cues, text, start, end, self._negation)
                if pair is None or (c.unless is not None and c.unless.search(text, start, end)):
                    continue
                term, cue = pair
                a, b = norm.span_to_original(min(term.start(), cue.start()), max(term.end(), cue.end()))
                out.append(ReplyFinding(self.name, f"{self.name}:combo:{c.id}", a, b))
        return out
