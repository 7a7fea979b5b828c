"""Spanish, French, German and Portuguese read through a bilingual glossary into English.

The encoder and the phrase library read English. No multilingual encoder whose weights ship offline was usable
here (docs/encoder.md), so a message in one of these four languages is glossed: lower-cased, diacritics
folded, tokenised, and each longest known phrase replaced by its English (``data/gloss/<lang>.yaml``, longest
match first, unknown words passed through). The detector then screens the gloss as English beside the
original (whose own phrases, ``multilingual.yaml``, still run) and keeps the higher verdict per category.

A gloss is broken English ("i want to die tonight with the pills of my mother"), which the encoder still
places near what it means; this is why it works at all. Every glossed token keeps the character range of
the source words it came from, so evidence found in the gloss is shown on the original text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from mindrail.datafiles import StrictModel, load_model
from mindrail.risk.normalise import fold_latin

GLOSS_LANGS: tuple[str, ...] = ("es", "fr", "de", "pt")
_PACKAGE = "mindrail.risk.data"
_TOKEN = re.compile(r"\w+(?:['-]\w+)*")
_MIN_KNOWN = 2


def fold(text: str) -> str:
    """Lower case without diacritics, one output string per input character (so offsets can be kept)."""
    return "".join(_fold_char(c) for c in text)


@lru_cache(maxsize=4096)
def _fold_char(c: str) -> str:
    if c.isascii():
        return c.lower()
    if c == "ß":
        return "ss"
    if c in "\u2019\u2018\u02bc`":
        return "'"
    return fold_latin(c).lower()


class GlossFile(StrictModel):
    """``data/gloss/<lang>.yaml``: a language's function words (to recognise it) and its phrase glossary."""

    lang: Literal["es", "fr", "de", "pt"]
    checked: date
    function_words: list[str] = Field(min_length=10)
    entries: list[tuple[str, str]] = Field(min_length=1)

    @field_validator("function_words")
    @classmethod
    def _folded_words(cls, v: list[str]) -> list[str]:
        for i, w in enumerate(v):
            if fold(w) != w or not w.strip():
                raise ValueError(f"function word {i} ({w!r}) must be lower case without diacritics")
        return v

    @field_validator("entries")
    @classmethod
    def _folded_unique(cls, v: list[tuple[str, str]]) -> list[tuple[str, str]]:
        seen: dict[str, int] = {}
        for i, (src, en) in enumerate(v):
            if not src.strip() or not en.strip():
                raise ValueError(f"entry {i}: source and gloss must both be non-empty")
            if fold(src) != src:
                raise ValueError(f"entry {i} ({src!r}): the source must be lower case without diacritics")
            key = " ".join(_TOKEN.findall(src))
            if key in seen:
                raise ValueError(f"entry {i} ({src!r}) repeats entry {seen[key]}")
            seen[key] = i
        return v


@dataclass(frozen=True, slots=True)
class Gloss:
    """An English reading of a message, with each gloss character range's source range."""

    lang: str
    text: str
    align: tuple[tuple[int, int, int, int], ...]
    """(gloss start, gloss end, source start, source end) per glossed unit, in order."""

    def span_to_source(self, start: int, end: int) -> tuple[int, int]:
        """The source range of the units that overlap ``[start, end)`` of the gloss."""
        hit = [(s, e) for gs, ge, s, e in self.align if gs < end and start < ge]
        if not hit:
            return (0, 0)
        return (min(s for s, _ in hit), max(e for _, e in hit))


class Glossary:
    """All four languages' glossaries; ``identify`` picks one, ``gloss`` rewrites a text with it."""

    def __init__(self, files: dict[str, GlossFile]):
        self.files = files
        self._lex: dict[str, dict[tuple[str, ...], str]] = {}
        self._longest: dict[str, int] = {}
        self._votes: dict[str, frozenset[str]] = {}
        for lang, f in files.items():
            lex = {tuple(_TOKEN.findall(src)): en for src, en in f.entries}
            self._lex[lang] = lex
            self._longest[lang] = max(len(k) for k in lex)
            self._votes[lang] = frozenset(f.function_words)

    @classmethod
    def load(cls, folder: Path | None = None) -> Glossary:
        files = {}
        for lang in GLOSS_LANGS:
            if folder is None:
                files[lang] = load_model(GlossFile, f"gloss/{lang}.yaml", package=_PACKAGE)
            else:
                files[lang] = load_model(GlossFile, folder / f"{lang}.yaml")
        return cls(files)

    def identify(self, text: str) -> str | None:
        """The glossary language the text is in, or None: the most function words of that language, ties
        broken by how many of the words its glossary knows ("que" is Spanish and Portuguese)."""
        words = _TOKEN.findall(fold(text[:3000]))
        scores = {
            lang: (sum(w in votes for w in words), sum((w,) in self._lex[lang] for w in words))
            for lang, votes in self._votes.items()
        }
        ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
        best, (votes, known) = ranked[0]
        if votes < 1 or known < _MIN_KNOWN or ranked[1][1] == (votes, known):
            return None
        return best

    def gloss(self, text: str, lang: str) -> Gloss:
        folded, offsets = _fold_with_offsets(text)
        tokens = [(m.group(0), m.start(), m.end()) for m in _TOKEN.finditer(folded)]
        lex, longest = self._lex[lang], self._longest[lang]
        out: list[str] = []
        align: list[tuple[int, int, int, int]] = []
        pos = 0  # gloss length so far
        prev_end = 0
        i = 0
        while i < len(tokens):
            # A phrase spans only words separated by white space: "no. puedo" is two sentences, not "no puedo".
            n = 1
            while n < min(longest, len(tokens) - i) and not folded[tokens[i + n - 1][2] : tokens[i + n][1]].strip():
                n += 1
            while n > 1 and tuple(t for t, _, _ in tokens[i : i + n]) not in lex:
                n -= 1
            key = tuple(t for t, _, _ in tokens[i : i + n])
            english = lex.get(key, tokens[i][0])
            gap = folded[prev_end : tokens[i][1]] or (" " if out else "")
            out.append(gap)
            pos += len(gap)
            start, end = tokens[i][1], tokens[i + n - 1][2]
            out.append(english)
            align.append((pos, pos + len(english), offsets[start], offsets[end - 1] + 1))
            pos += len(english)
            prev_end = end
            i += n
        out.append(folded[prev_end:])
        return Gloss(lang, "".join(out), tuple(align))


def _fold_with_offsets(text: str) -> tuple[str, list[int]]:
    """The folded text and, per folded character, the index of the source character it came from."""
    parts: list[str] = []
    offsets: list[int] = []
    for i, c in enumerate(text):
        f = _fold_char(c)
        parts.append(f)
        offsets.extend([i] * len(f))
    return "".join(parts), offsets


@lru_cache(maxsize=1)
def default_glossary() -> Glossary:
    return Glossary.load()


def glossary_files() -> list[Path]:
    """The shipped glossary files (for tests and the model card)."""
    root = resources.files(_PACKAGE).joinpath("gloss")
    return [Path(str(root.joinpath(f"{lang}.yaml"))) for lang in GLOSS_LANGS]
