"""Reading a person's free-text answer to a check-in item (0-3) or a screener question (yes / no / declined /
unclear).

The word lists are data (``care/data/answers.yaml``). The readers are deliberately unsure: an answer they cannot
place is ``unclear`` and the person is asked again, never scored 0 or read as "no". A screener answer is also read
by the risk engine (the caller passes the answer's :class:`~mindrail.risk.types.Assessment`): "i've looked up how
many of my meds it would take" names a method without the word "yes".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache

from pydantic import Field

from mindrail.datafiles import StrictModel, load_model
from mindrail.risk.types import Assessment, Category, Level

_NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
        ]
    )
}
_NUM = r"(\d{1,2}|" + "|".join(_NUMBER_WORDS) + r")"
_OUT_OF = re.compile(rf"\b{_NUM}\s*(?:out of|of|/)\s*(?:the\s*|those\s*|them\s*)?(?:14|fourteen)\b")
_COUNT = re.compile(
    rf"\b{_NUM}(?:\s*(?:-|to|or|/)\s*{_NUM})?\s*(?:days?|nights?|times?|mornings?|evenings?|x)\b"
    r"(?:\s*(?:a|per|each|every|in a|out of the|of the)\s*(week|wk))?"
)
_PER_WEEK = re.compile(r"\b(once|twice)\s*(?:a|per|each|every)\s*week\b")
_PERCENT = re.compile(r"\b(\d{1,3})\s*(?:%|percent|per cent)")
_BARE = re.compile(r"^\(?([0-3])\)?(?:\s*[-:.)/]?\s*[a-z ]*)?[.!]*$")


class Reading(StrEnum):
    YES = "yes"
    NO = "no"
    DECLINED = "declined"
    UNCLEAR = "unclear"


@dataclass(frozen=True, slots=True)
class FrequencyReading:
    value: int | None
    """0-3, or None when the answer cannot be placed (ask again)."""
    why: str
    """Which rule read it (``digit``, ``days:10``, ``phrase``, ``contrast``, ``conflict``, ``unclear``, ``none``):
    for the evaluation's error analysis, never the person's words."""


class FrequencyLists(StrictModel):
    phrases: dict[int, tuple[str, ...]]
    """Frequency words: they place an answer."""
    weak: dict[int, tuple[str, ...]]
    """Words that place an answer only when no frequency word does ("no", "fine", "barely")."""
    unclear: tuple[str, ...]
    contrast: str
    correction: str
    negators: str


class YesNoLists(StrictModel):
    yes: tuple[str, ...] = Field(min_length=1)
    no: tuple[str, ...] = Field(min_length=1)
    declined: tuple[str, ...] = Field(min_length=1)
    unclear: tuple[str, ...] = Field(min_length=1)
    recent_yes: tuple[str, ...] = Field(min_length=1)
    recent_no: tuple[str, ...] = Field(min_length=1)


class AnswersFile(StrictModel):
    version: int
    abbreviations: dict[str, str] = Field(default_factory=dict)
    frequency: FrequencyLists
    yes_no: YesNoLists


def normalise(text: str) -> str:
    t = text.lower().replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
    t = re.sub(r"[\u200b-\u200f\u2060\ufeff]", "", t)
    return re.sub(r"\s+", " ", t).strip()


def _compile(entries: Sequence[str]) -> re.Pattern[str]:
    # Entries that end in a non-word character ("\?") must not demand a word boundary after them.
    parts = [rf"(?<![\w']){e}(?![\w'])" if re.search(r"[\w)]$", e) else rf"(?<![\w']){e}" for e in entries]
    return re.compile("|".join(f"(?:{p})" for p in parts))


@dataclass(frozen=True, slots=True)
class _Hit:
    label: str
    start: int
    end: int


def _hits(text: str, patterns: Mapping[str, re.Pattern[str]]) -> list[_Hit]:
    """Every match of every label, then the longest non-overlapping ones (``not often`` beats ``often``)."""
    found = [
        _Hit(label, m.start(), m.end())
        for label, p in patterns.items()
        for m in p.finditer(text)
        if m.end() > m.start()
    ]
    found.sort(key=lambda h: (-(h.end - h.start), h.start))
    kept: list[_Hit] = []
    for h in found:
        if all(h.end <= k.start or h.start >= k.end for k in kept):
            kept.append(h)
    return sorted(kept, key=lambda h: h.start)


def _days_value(days: float) -> int | None:
    """Days out of the last 14: 0 → 0, 1-6 → 1, exactly 7 → unclear (half), 8-11 → 2, 12+ → 3."""
    if days <= 0:
        return 0
    if days < 7:
        return 1
    if days == 7:
        return None
    return 2 if days < 12 else 3


def _number(token: str) -> int:
    return int(token) if token.isdigit() else _NUMBER_WORDS[token]


class AnswerReader:
    """Compiled word lists; one instance serves every conversation."""

    def __init__(self, spec: AnswersFile) -> None:
        self.spec = spec
        abbr = spec.abbreviations
        self._abbr = re.compile(r"(?<![\w'])(" + "|".join(map(re.escape, abbr)) + r")(?![\w'])") if abbr else None
        f = spec.frequency
        self._freq = {
            **{f"s{v}": _compile(p) for v, p in sorted(f.phrases.items())},
            **{f"w{v}": _compile(p) for v, p in sorted(f.weak.items())},
            "u": _compile(f.unclear),
        }
        self._contrast = re.compile(f.contrast)
        self._correction = re.compile(f.correction)
        self._negated = re.compile(rf"(?:\b{f.negators}\b|n't)\s+(?:\w+\s+)?$")
        y = spec.yes_no
        self._yn = {"yes": _compile(y.yes), "no": _compile(y.no)}
        self._declined = _compile(y.declined)
        self._yn_unclear = _compile(y.unclear)
        self._recent = {"yes": _compile(y.recent_yes), "no": _compile(y.recent_no)}

    # ------------------------------------------------------------------ check-in items
    def _normalise(self, text: str) -> str:
        t = normalise(text)
        return self._abbr.sub(lambda m: self.spec.abbreviations[m.group(1)], t) if self._abbr else t

    def frequency(self, text: str) -> FrequencyReading:
        t = self._normalise(text)
        parts = [p for p in self._correction.split(t) if p.strip(" ,.-!?")]
        if len(parts) > 1:
            corrected = self._frequency(parts[-1])
            if corrected.value is not None:
                return FrequencyReading(corrected.value, f"corrected:{corrected.why}")
        return self._frequency(t)

    def _frequency(self, t: str) -> FrequencyReading:
        if not t:
            return FrequencyReading(None, "none")
        days = self._days(t)  # before the bare digit: "3 days" is a day count, not the score 3
        if days is not None:
            v = _days_value(days)
            return FrequencyReading(v, f"days:{days:g}")
        m = _BARE.match(t)
        if m:
            return FrequencyReading(int(m.group(1)), "digit")
        pct = _PERCENT.search(t)
        if pct:
            p = int(pct.group(1))
            v = 0 if p == 0 else 1 if p < 50 else None if p == 50 else 2 if p < 85 else 3
            return FrequencyReading(v, "percent")
        strong, weak, unsure = self._phrase_values(t)
        if len(strong) == 1:
            # "sometimes... half the time maybe?": a frequency word beside an unsure one is asked again.
            return FrequencyReading(None, "unclear") if unsure else FrequencyReading(strong.pop(), "phrase")
        if len(strong) > 1 or (not strong and len(weak) > 1):
            # A contrast ("every day at first, but a few days lately") is read from its last clause or sentence.
            clauses = [c for c in self._contrast.split(t) if c.strip()]
            for piece in (clauses[-1] if clauses else t, re.split(r"[.!?;]\s", t.rstrip(".!? "))[-1]):
                last = self._phrase_values(piece)
                if len(last[0]) == 1 and not last[2]:
                    return FrequencyReading(last[0].pop(), "contrast")
            return FrequencyReading(None, "conflict")
        if len(weak) == 1 and not unsure:
            return FrequencyReading(weak.pop(), "weak")
        return FrequencyReading(None, "unclear" if unsure else "none")

    def _phrase_values(self, t: str) -> tuple[set[int], set[int], bool]:
        """Frequency-word values, weak-word values, and whether an unsure word ("about half", "depends") stands."""
        strong: set[int] = set()
        weak: set[int] = set()
        unsure = False
        for h in _hits(t, self._freq):
            if h.label == "u":
                unsure = True
                continue
            value = int(h.label[1:])
            if value != 0 and self._negated.search(t[: h.start]):
                continue  # "not every day": negated, so not read at all
            (strong if h.label[0] == "s" else weak).add(value)
        return strong, weak, unsure

    @staticmethod
    def _days(t: str) -> float | None:
        m = _OUT_OF.search(t)
        if m:
            return float(_number(m.group(1)))
        m = _PER_WEEK.search(t)
        if m:
            return 2.0 if m.group(1) == "once" else 4.0
        m = _COUNT.search(t)
        if m:
            a = _number(m.group(1))
            b = _number(m.group(2)) if m.group(2) else a
            n = (a + b) / 2
            if m.group(3):  # "3 days a week": two weeks
                n *= 2
            return n if n <= 14 else 14.0
        return None

    # ------------------------------------------------------------------ screener questions
    def yes_no(self, text: str, question: str | None = None, assessment: Assessment | None = None) -> Reading:
        """Yes / no / declined / unclear. ``question`` (a screener id: wish_dead, thoughts, method, intent, plan,
        behaviour, recent) and ``assessment`` (the risk engine on this answer) let the answer's own risk content
        count as a yes."""
        t = self._normalise(text)
        if not t:
            return Reading.UNCLEAR
        if question == "recent":
            recent = self._labels(t, self._recent)
            if len(recent) == 1:
                return Reading(recent.pop())
        if self._declined.search(t):
            return Reading.DECLINED
        if question is not None and assessment is not None and shows(question, assessment):
            return Reading.YES
        hits = _hits(t, {**self._yn, "u": self._yn_unclear})
        said = {h.label for h in hits} - {"u"}
        unsure = any(h.label == "u" for h in hits)
        if len(said) != 1:
            return Reading.UNCLEAR  # nothing, or both ("yes, though i'd never...", "no... well sometimes"): ask again
        label = said.pop()
        if unsure and not _starts_with(t, label):
            return Reading.UNCLEAR  # "i didn't really mean it? i don't know how to answer that"
        return Reading(label)

    @staticmethod
    def _labels(t: str, patterns: Mapping[str, re.Pattern[str]]) -> set[str]:
        return {h.label for h in _hits(t, patterns)}


_FIRST_WORD = {
    "yes": re.compile(r"^\W*(?:yes|yeah|yep|yup|ya|yea)(?![\w'])"),
    "no": re.compile(r"^\W*(?:no|nope|nah|never)(?![\w'])"),
}


def _starts_with(t: str, label: str) -> bool:
    """The answer opens with a plain yes or no: a hedge after it ("yeah, i guess") does not undo it."""
    return bool(_FIRST_WORD[label].match(t))


SSH = Category.SUICIDE_SELF_HARM

_QUESTION_ITEMS: dict[str, frozenset[str]] = {
    "wish_dead": frozenset({"wish_dead", "active_nonspecific", "method", "intent", "plan", "behaviour", "imminent"}),
    "thoughts": frozenset({"active_nonspecific", "method", "intent", "plan", "behaviour", "imminent"}),
    "method": frozenset({"method", "plan", "imminent"}),
    "intent": frozenset({"intent", "plan", "imminent"}),
    "plan": frozenset({"plan", "behaviour", "imminent"}),
    "behaviour": frozenset({"behaviour", "behaviour_lifetime", "imminent"}),
}
_QUESTION_SLOTS: dict[str, frozenset[str]] = {
    "method": frozenset({"method", "amount"}),
    "plan": frozenset({"prepared", "time"}),
    "behaviour": frozenset({"prepared", "under_way"}),
}


def shows(question: str, assessment: Assessment) -> bool:
    """Whether the risk engine's reading of an answer is itself a yes to ``question``: a suicide phrase of the
    matching C-SSRS item (``:cssrs=<item>`` reasons), a ladder cue (``cssrs_ladder:<slots>``) or a means question
    for the method item. Third-party and past-only readings do not count (the engine does not put them on the
    person's own level)."""
    result = assessment.message.get(Category.SUICIDE_SELF_HARM)
    if result is None or result.level == Level.NONE:
        return False
    items: set[str] = set()
    slots: set[str] = set()
    means = False
    for r in result.reasons:
        if ":cssrs=" in r:
            items.add(r.rsplit("=", 1)[1])
        elif r.startswith("cssrs_ladder:"):
            slots.update(r.split(":", 1)[1].split(","))
        elif r.startswith("means_seeking:"):
            means = True
    if items & _QUESTION_ITEMS.get(question, frozenset()) or slots & _QUESTION_SLOTS.get(question, frozenset()):
        return True
    return question == "method" and means


@cache
def default_reader() -> AnswerReader:
    return AnswerReader(load_model(AnswersFile, "data/answers.yaml", package="mindrail.care"))
