"""Degenerate repetition in generated text: the same sentence, or the same run of words, coming round again and
again ("I'm here to help you find a place to stay." ten times). Small models fall into such loops, and a looping
reply reaches the person cut off mid-sentence by the token limit.

Used twice: the local backend stops generating as soon as a loop shows and keeps the text up to its first
repetition (:class:`LoopDetector`, incremental, so it can run while tokens stream), and the ``repetition`` reply
check fails a looping reply from any backend (:func:`find_loop`). Words are compared lower-cased without
punctuation, so "stay. I'm" and "stay, I'm" are the same words.

Depends on nothing but the standard library, so backends and the risk package can both import it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Loop", "LoopDetector", "LoopSettings", "find_loop", "trim_to_keep"]

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"')\]]*\s+|\n+")
"""The gateway's sentence boundary (``gateway.pipeline``): end punctuation then whitespace, or a line break."""
_TRAILING = " \t\n,;:-–—"


@dataclass(frozen=True, slots=True)
class LoopSettings:
    """When repeated text counts as a loop."""

    min_repeats: int = 3
    """Copies of the same unit (a sentence, or a run of words) that make a loop."""
    min_loop_words: int = 6
    """Consecutive copies must together span at least this many words ("no, no, no" is not a loop)."""
    min_sentence_words: int = 2
    """Sentences shorter than this are not counted ("Yes." may come back)."""
    hold_words: int = 2
    """While streaming, text is held back once this many of its latest words repeat earlier text."""

    def __post_init__(self) -> None:
        if self.min_repeats < 2:
            raise ValueError(f"min_repeats must be at least 2, got {self.min_repeats}")
        if self.min_loop_words < 2 or self.min_sentence_words < 1 or self.hold_words < 1:
            raise ValueError("min_loop_words must be >= 2, min_sentence_words and hold_words >= 1")


@dataclass(frozen=True, slots=True)
class Loop:
    kind: Literal["run", "sentence"]
    """"run": consecutive copies of a run of words; "sentence": the same sentence, anywhere in the text."""
    start: int
    """Character offset of the first repetition (the second copy)."""
    end: int
    """Character offset where the copy that completed the loop ends."""
    keep: int
    """Cut here: ``text[:keep]`` is the text up to the first repetition, ending on a sentence boundary when one
    comes before it."""


@dataclass(slots=True)
class _Word:
    norm: str
    start: int
    end: int


@dataclass(slots=True)
class LoopDetector:
    """Reads text as it arrives (:meth:`feed`) and reports the first loop.

    For every earlier word position ``i`` it keeps how many words ending at ``i`` equal the words ending now
    (updated in time proportional to the earlier occurrences of the newest word). A match ``p`` words back that is
    at least ``(min_repeats - 1) * p`` long means the last copies of a ``p``-word unit follow one another.
    """

    settings: LoopSettings = field(default_factory=LoopSettings)
    text: str = ""
    loop: Loop | None = None
    _words: list[_Word] = field(default_factory=list)
    _positions: dict[str, list[int]] = field(default_factory=dict)
    _match: dict[int, int] = field(default_factory=dict)
    _longest: int = 0
    _scan: int = 0
    """Where the next word may start."""
    _sentence_start: int = 0
    _sentence_word: int = 0
    """Index of the first word of the sentence not yet closed."""
    _sentences: dict[tuple[str, ...], list[int]] = field(default_factory=dict)
    _boundaries: list[int] = field(default_factory=list)
    _second_sentence: int | None = None
    """Where the first sentence to come a second time came again: a stream shows nothing from there on until the
    text ends, since a third copy (a loop, cut at the second) may still come."""
    """Character offsets just after each sentence boundary (where the next sentence may start)."""

    def feed(self, piece: str, *, final: bool = False) -> Loop | None:
        """Add ``piece``; returns the loop once one is complete (and from then on, the same loop)."""
        if self.loop is not None:
            return self.loop
        self.text += piece
        for m in _WORD.finditer(self.text, self._scan):
            rest = len(self.text) - m.end()
            if not final and (rest == 0 or (rest == 1 and self.text[-1] in "'\u2019")):
                break  # the word may go on in the next piece ("I" may become "I'm")
            self._sentences_upto(m.start(), since=self._scan)  # a boundary lies between two words
            self._scan = m.end()
            if self.loop is None:
                self._add_word(m.group().lower().replace("’", "'"), m.start(), m.end())
            if self.loop is not None:
                return self.loop
        self._sentences_upto(len(self.text), final=final)
        return self.loop

    def finish(self) -> Loop | None:
        """The text is complete: its last word and last sentence count too."""
        return self.feed("", final=True)

    def release_point(self) -> int:
        """Text before this offset can no longer turn out to be a repetition that is cut: a stream may show it.

        Held back: the latest words while they repeat earlier text (a second copy in the making), at least the
        last ``hold_words - 1`` words (a repeat too short to notice yet), any unfinished word, and everything from a
        sentence's second copy on.
        """
        if self.loop is not None:
            return self.loop.keep
        held = self._longest if self._longest >= self.settings.hold_words else self.settings.hold_words - 1
        if held == 0:
            point = self._scan
        elif not self._words:
            point = 0
        else:
            point = self._words[max(len(self._words) - held, 0)].start
        if self._second_sentence is not None:
            point = min(point, self._second_sentence)
        while point > 0 and self.text[point - 1].isspace():  # the space before a held word is held too
            point -= 1
        return point

    # ------------------------------------------------------------------------------------------------------
    def _add_word(self, norm: str, start: int, end: int) -> None:
        n = len(self._words)
        self._words.append(_Word(norm, start, end))
        earlier = self._positions.setdefault(norm, [])
        match = {i: self._match.get(i - 1, 0) + 1 for i in earlier}
        earlier.append(n)
        self._match = match
        self._longest = max(match.values(), default=0)
        s = self.settings
        best: tuple[int, int] | None = None  # (period, first word of the periodic run) of the shortest period
        for i, length in match.items():
            period = n - i
            loops = length >= (s.min_repeats - 1) * period and length + period >= s.min_loop_words
            if loops and (best is None or period < best[0]):
                best = (period, n - (length + period) + 1)
        if best is None:
            return
        period, run = best
        second = self._words[run + period].start
        # The latest sentence boundary before the second copy's last word: the text up to there holds one whole
        # copy (of the unit read from some word of it) and nothing of another.
        limit = self._words[run + 2 * period - 1].start
        cuts = [b for b in self._boundaries if b <= limit]
        self.loop = Loop("run", second, end, _trimmed(self.text, cuts[-1] if cuts else second))

    def _sentences_upto(self, limit: int, *, final: bool = False, since: int = 0) -> None:
        """Close the sentences that end before ``limit`` (their boundaries lie after ``since``); a sentence seen
        ``min_repeats`` times is a loop."""
        while self.loop is None:
            m = _SENTENCE_END.search(self.text, max(self._sentence_start, since), limit)
            if m is not None:
                stop, nxt = m.start(), m.end()
                self._boundaries.append(nxt)
            elif final and m is None and self._sentence_start < len(self.text):
                stop = nxt = len(self.text)
            else:
                return
            first = self._sentence_word
            k = first
            while k < len(self._words) and self._words[k].start < stop:
                k += 1
            self._sentence_start, self._sentence_word = nxt, k
            if k - first < self.settings.min_sentence_words:
                continue
            starts = self._sentences.setdefault(tuple(w.norm for w in self._words[first:k]), [])
            starts.append(self._words[first].start)
            if len(starts) == 2 and self._second_sentence is None:
                self._second_sentence = starts[1]
            if len(starts) >= self.settings.min_repeats:
                self.loop = Loop("sentence", starts[1], stop, _trimmed(self.text, starts[1]))


def _trimmed(text: str, cut: int) -> int:
    """``cut`` moved back over trailing whitespace and joining punctuation."""
    while cut > 0 and text[cut - 1] in _TRAILING:
        cut -= 1
    return cut


def find_loop(text: str, settings: LoopSettings | None = None) -> Loop | None:
    """The first loop in a whole text, or None."""
    detector = LoopDetector(settings or LoopSettings())
    return detector.feed(text) or detector.finish()


def trim_to_keep(text: str, settings: LoopSettings | None = None) -> tuple[str, Loop | None]:
    """``text`` up to the first repetition of its first loop (unchanged when it has none)."""
    loop = find_loop(text, settings)
    return (text if loop is None else text[: loop.keep]), loop
