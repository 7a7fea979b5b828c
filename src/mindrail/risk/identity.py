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
    starts: tuple[int, ...] | None
    """starts[i] / ends[i]: the source range in the unmasked text that masked char i stands for; None when
    nothing was masked."""
    ends: tuple[int, ...] | None = None

    def span_to_source(self, start: int, end: int) -> tuple[int, int]:
        if self.starts is None or self.ends is None:
            return start, end
        if not self.starts or end <= start:
            return (0, 0) if not self.starts else (self.starts[min(start, len(self.starts) - 1)],) * 2
        return self.starts[start], self.ends[min(end, len(self.ends)) - 1]


@lru_cache(maxsize=1)
def _mask_regex() -> tuple[re.Pattern[str], str]:
    raw = resources.files("mindrail.risk").joinpath("data").joinpath("identity_mask.yaml").read_text("utf-8")
    spec = yaml.safe_load(raw)
    terms = {str(t).lower() for group in spec["groups"].values() for t in group} | {str(n) for n in spec["names"]}
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
    starts: list[int] = []
    ends: list[int] = []
    pos = 0
    for m in rx.finditer(text):
        pieces.append(text[pos : m.start()])
        starts.extend(range(pos, m.start()))
        ends.extend(range(pos + 1, m.start() + 1))
        pieces.append(repl)
        starts.extend([m.start()] * len(repl))
        ends.extend([m.end()] * len(repl))
        pos = m.end()
    if not pieces:
        return Masked(text, None)
    pieces.append(text[pos:])
    starts.extend(range(pos, len(text)))
    ends.extend(range(pos + 1, len(text) + 1))
    return Masked("".join(pieces), tuple(starts), tuple(ends))
