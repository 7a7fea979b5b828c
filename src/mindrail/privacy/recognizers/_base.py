"""Shared machinery for mindrail's own Presidio recognisers: a compiled regex whose named group is the span."""

from __future__ import annotations

import re

from presidio_analyzer import LocalRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts


def words(text: str) -> frozenset[str]:
    """Whitespace-separated word list, written as prose so long lists stay readable."""
    return frozenset(text.split())


#: Capitalised words that start sentences or phrases but are never part of a name (April, May, June and August
#: are left out on purpose: they are also first names).
NOT_NAMES = words(
    """
    I I'm I've I'd I'll Im Ive Id The A An My Our His Her Their Your Its This That These Those And But Or So Then
    When While After Before Since Until Because If Yesterday Today Tonight Tomorrow Last Next At In On From To Of
    For With By We He She They It You Me Him Them Us Who What Why How Where Which There Here Yes No Not Just Also
    Still Even Only Maybe Please Thanks Thank Hi Hello Hey Dear Ok Okay Well Now Again Sometimes Every Each All
    Some Any Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March July September
    October November December Email Text Call Ring Message Phone Mum Mom Dad Mummy Mommy Daddy Nan Gran Grandma
    Grandad Grandpa God Christmas Easter
    """
)


class RegexRecognizer(LocalRecognizer):
    """A recogniser driven by one regex; the ``span`` group (or the whole match) is the identifying part.

    Subclasses set ``ENTITY``, ``REGEX`` and ``SCORE`` and may override ``span`` to trim or reject a match.
    Unlike Presidio's PatternRecognizer this keeps the regex case-sensitive unless the regex says otherwise,
    which matters: capitalisation is the main evidence that a word is a name.
    """

    ENTITY: str = ""
    REGEX: re.Pattern[str] = re.compile(r"(?!)")
    SCORE: float = 0.9

    def __init__(self) -> None:
        super().__init__(supported_entities=[self.ENTITY], supported_language="en", name=type(self).__name__)

    def load(self) -> None:
        """Nothing to load: the regex is compiled at import."""

    def span(self, match: re.Match[str], text: str) -> tuple[int, int] | None:
        """Character span to report for ``match``, or None to reject it."""
        group = "span" if "span" in self.REGEX.groupindex else 0
        start, end = match.span(group)
        return (start, end) if end > start else None

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        """Report every accepted match as ``ENTITY`` with a fixed score."""
        if entities and self.ENTITY not in entities:
            return []
        results: list[RecognizerResult] = []
        for match in self.REGEX.finditer(text):
            found = self.span(match, text)
            if found is not None:
                results.append(RecognizerResult(self.ENTITY, found[0], found[1], self.SCORE))
        return results


def trim_leading(text: str, start: int, end: int, words: frozenset[str]) -> int:
    """Move ``start`` past leading words of ``text[start:end]`` that are in ``words``."""
    for word in re.finditer(r"\S+", text[start:end]):
        if word.group(0).rstrip(".,") not in words:
            return start + word.start()
    return end
