"""Safety behaviours and missteps in a trainee's utterance: asked directly about suicide, asked about method,
intent and plan, worked on a safety plan, means safety, gave a crisis line; promised secrecy, judged, minimised.

Read two ways, either of which counts: word patterns kept as data (``practice/data/behaviours.yaml``; a trainer can
read why a turn counted, and the Columbia Protocol asks for plain words), and learned heads
(``practice/artifacts/behaviour_heads.json``, made by ``mindrail.training.behaviours``) on the MI encoder's sentence
vector and TF-IDF words, for the many phrasings no word list holds. The heads are used when the caller passes the
turn's sentence vector (the session does: the coder has just embedded it)."""

from __future__ import annotations

import itertools
import json
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import Field, field_validator

from mindrail.datafiles import StrictModel, load_model
from mindrail.practice.cards import MISSTEP_ACTS, SAFETY_ACTS, Act
from mindrail.risk.normalise import normalise

BEHAVIOURS: tuple[Act, ...] = (*SAFETY_ACTS, *MISSTEP_ACTS)


def _regexes(patterns: tuple[str, ...]) -> tuple[str, ...]:
    for i, p in enumerate(patterns):
        try:
            re.compile(p)
        except re.error as exc:
            raise ValueError(f"pattern {i} is not a valid regex ({exc})") from None
    return patterns


class Rule(StrictModel):
    any: tuple[str, ...] = Field(min_length=1)
    unless: tuple[str, ...] = ()

    @field_validator("any", "unless")
    @classmethod
    def _compiles(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        return _regexes(patterns)


class BehaviourFile(StrictModel):
    version: int
    heads_need_risk_context: tuple[Act, ...] = ()
    risk_context: tuple[str, ...] = ()
    refers_back: str = r"\b\B"
    behaviours: dict[Act, Rule]

    @field_validator("risk_context")
    @classmethod
    def _context_compiles(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        return _regexes(patterns)

    @field_validator("refers_back")
    @classmethod
    def _refers_compiles(cls, pattern: str) -> str:
        return _regexes((pattern,))[0]

    @field_validator("behaviours")
    @classmethod
    def _only_behaviours(cls, rules: dict[Act, Rule]) -> dict[Act, Rule]:
        bad = [a.value for a in rules if a not in BEHAVIOURS]
        if bad:
            raise ValueError(f"not behaviours (skill codes come from the coder): {bad}")
        return rules


_WORD = re.compile(r"(?u)\b\w\w+\b")


def word_features(text: str) -> list[str]:
    """Lower-cased words of two or more characters and their bigrams (scikit-learn's default tokens)."""
    words = _WORD.findall(text.lower())
    return words + [f"{a} {b}" for a, b in itertools.pairwise(words)]


@dataclass(frozen=True, slots=True)
class _Compiled:
    act: Act
    any: re.Pattern[str]
    unless: re.Pattern[str] | None


class BehaviourReader:
    def __init__(self, rules: BehaviourFile, heads: dict[str, Any] | None = None) -> None:
        self.version = rules.version
        self._rules = [
            _Compiled(
                act,
                re.compile("|".join(f"(?:{p})" for p in r.any), re.IGNORECASE),
                re.compile("|".join(f"(?:{p})" for p in r.unless), re.IGNORECASE) if r.unless else None,
            )
            for act, r in rules.behaviours.items()
        ]
        self._needs_context = frozenset(rules.heads_need_risk_context)
        self._context = (
            re.compile("|".join(f"(?:{p})" for p in rules.risk_context), re.IGNORECASE) if rules.risk_context else None
        )
        self._refers = re.compile(rules.refers_back, re.IGNORECASE)
        self._heads: dict[str, Any] | None = None
        if heads is not None:
            self.set_heads(heads)

    @classmethod
    def load(cls, path: Path | None = None, *, heads: Path | None = None) -> BehaviourReader:
        """The patterns (``path``, default the shipped file) and, when given, the learned heads' file."""
        if path is None:
            rules = load_model(BehaviourFile, "data/behaviours.yaml", package="mindrail.practice")
        else:
            rules = load_model(BehaviourFile, path)
        learned = json.loads(heads.read_text(encoding="utf-8")) if heads is not None else None
        return cls(rules, learned)

    def set_heads(self, heads: dict[str, Any]) -> None:
        unknown = [k for k in heads["heads"] if k not in {b.value for b in BEHAVIOURS}]
        if unknown:
            raise ValueError(f"behaviour heads: unknown behaviours {unknown}")
        self._heads = heads
        self._index = {t: i for i, t in enumerate(heads["terms"])}
        self._idf = np.asarray(heads["idf"], dtype=np.float64)
        names = [Act(k) for k in heads["heads"]]
        self._head_acts = names
        self._coef = np.asarray([heads["heads"][a.value]["coef"] for a in names], dtype=np.float64)
        self._bias = np.asarray([heads["heads"][a.value]["intercept"] for a in names], dtype=np.float64)
        self.threshold = float(heads["threshold"])

    @property
    def learned(self) -> bool:
        return self._heads is not None

    def word_matrix(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        """TF-IDF rows over the heads' terms: sublinear term frequency times smoothed idf, L2-normalised."""
        out = np.zeros((len(texts), len(self._index)), dtype=np.float64)
        for r, text in enumerate(texts):
            for term, n in Counter(word_features(text)).items():
                j = self._index.get(term)
                if j is not None:
                    out[r, j] = (1.0 + math.log(n)) * self._idf[j]
            norm = float(np.linalg.norm(out[r]))
            if norm:
                out[r] /= norm
        return out

    def scores(self, texts: Sequence[str], vectors: npt.NDArray[np.float32]) -> dict[Act, npt.NDArray[np.float64]]:
        """Each learned head's probability for each text (its sentence vector from the MI encoder)."""
        if self._heads is None:
            return {}
        x = np.hstack([np.asarray(vectors, dtype=np.float64), self.word_matrix(texts)])
        p = 1.0 / (1.0 + np.exp(-(x @ self._coef.T + self._bias)))
        return {a: p[:, k] for k, a in enumerate(self._head_acts)}

    def patterns(self, text: str) -> frozenset[Act]:
        """The behaviours whose patterns match ``text`` or its normalised form (misspellings, leetspeak and
        homoglyphs read as the plain words)."""
        forms = {text, normalise(text).text}
        found: set[Act] = set()
        for rule in self._rules:
            for form in forms:
                if rule.any.search(form) and not (rule.unless and rule.unless.search(form)):
                    found.add(rule.act)
                    break
        return frozenset(found)

    def risk_context(self, *texts: str) -> bool:
        """Whether any of ``texts`` talks about suicide or its means (``risk_context`` in the data file)."""
        return self._context is not None and any(self._context.search(normalise(t).text) for t in texts if t)

    def learned_acts(
        self, text: str, vector: npt.NDArray[np.float32], *, context: str = "", risk: bool = False
    ) -> frozenset[Act]:
        """The confident heads' acts; those in ``heads_need_risk_context`` only when the text talks about suicide or
        its means, or when ``risk`` (suicide came up earlier) or ``context`` (what the person just said) does and the
        text refers back to it."""
        if self._heads is None:
            return frozenset()
        in_context = self.risk_context(text) or (
            (risk or self.risk_context(context)) and self._refers.search(text) is not None
        )
        return frozenset(
            act
            for act, p in self.scores([text], np.asarray(vector).reshape(1, -1)).items()
            if p[0] >= self.threshold and (in_context or act not in self._needs_context)
        )

    def read(
        self, text: str, vector: npt.NDArray[np.float32] | None = None, *, context: str = "", risk: bool = False
    ) -> frozenset[Act]:
        """The behaviours in ``text``: its patterns, and, given its sentence vector, the learned heads' acts."""
        found = self.patterns(text)
        if vector is None:
            return found
        return found | self.learned_acts(text, vector, context=context, risk=risk)


def heads_path() -> Path:
    from importlib import resources

    return Path(str(resources.files("mindrail.practice").joinpath("artifacts/behaviour_heads.json")))


@cache
def default_reader() -> BehaviourReader:
    """The shipped patterns, with the learned heads when their artifact is present."""
    heads = heads_path()
    return BehaviourReader.load(heads=heads if heads.is_file() else None)
