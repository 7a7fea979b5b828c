"""Identity masking for the learned layer (see data/identity_mask.yaml for why and what)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml


@dataclass(frozen=True, slots=True)
class Masked:
    text: str
    offsets: tuple[int, ...] | None
    """offsets[i] = index in the unmasked text of masked char i; None when nothing was masked."""

    def span_to_source(self, start: int, end: int) -> tuple[int, int]:
        if self.offsets is None:
            return start, end
        if not self.offsets:
            return 0, 0
        a = self.offsets[min(start, len(self.offsets) - 1)]
        b = self.offsets[max(min(end, len(self.offsets)) - 1, 0)] + 1
        return a, max(a, b)


@lru_cache(maxsize=1)
def _mask_regex() -> tuple[re.Pattern[str], str]:
    raw = resources.files("mindrail.risk").joinpath("data").joinpath("identity_mask.yaml").read_text("utf-8")
    spec = yaml.safe_load(raw)
    terms = {str(t).lower() for group in spec["groups"].values() for t in group} | {
        str(n) for n in spec["names"]
    }
    alts = "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True))
    # A run of identity words, with a trailing "person"/"people", becomes one neutral word, so "a Black person",
    # "a gay trans man" and "a lesbian" all read "a person".
    term = rf"(?:{spec['age_pattern']}|\b(?:{alts})\b)"
    rx = re.compile(rf"{term}(?:[\s-]+(?:{term}|person\b|people\b|folks?\b))*")
    return rx, str(spec["replacement"])


def mask_identity(text: str) -> Masked:
    """Replace identity terms in (normalised, lower-case) text with a neutral word, keeping an offset map."""
    rx, repl = _mask_regex()
    pieces: list[str] = []
    offsets: list[int] = []
    pos = 0
    for m in rx.finditer(text):
        pieces.append(text[pos : m.start()])
        offsets.extend(range(pos, m.start()))
        pieces.append(repl)
        offsets.extend([m.start()] * len(repl))
        pos = m.end()
    if pos == 0:
        return Masked(text, None)
    pieces.append(text[pos:])
    offsets.extend(range(pos, len(text)))
    return Masked("".join(pieces), tuple(offsets))
