"""Identity masking for the learned layer (see data/identity_mask.yaml for why and what)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from pydantic import Field, StrictStr

from mindrail.datafiles import StrictModel, load_model


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


@dataclass(frozen=True, slots=True)
class _Spec:
    rx: re.Pattern[str]
    replacement: str
    neutral: dict[str, str]
    her_object_before: frozenset[str]
    her_object_after: frozenset[str]
    agreement: dict[str, str]
    verb_after: re.Pattern[str]


class IdentityMaskFile(StrictModel):
    """``data/identity_mask.yaml``: the identity terms masked before the encoder, and the neutral forms."""

    version: int
    replacement: str
    groups: dict[str, list[str]]
    names: list[str]
    age_pattern: str
    neutral: dict[str, str] = Field(default_factory=dict)
    her_object_before: list[StrictStr] = Field(default_factory=list)
    """Strict strings: YAML reads a bare on / off as a boolean, which would match no word ("her on" was left
    unmasked until version 4 quoted them), so a bare one is an error naming the line."""
    her_object_after: list[str] = Field(default_factory=list)
    agreement: dict[str, str] = Field(default_factory=dict)
    agreement_adverbs: list[str] = Field(default_factory=list)


@lru_cache(maxsize=1)
def _spec() -> _Spec:
    f = load_model(IdentityMaskFile, "data/identity_mask.yaml", package="mindrail.risk")
    spec = f.model_dump()
    terms = {str(t).lower() for group in spec["groups"].values() for t in group} | {str(n) for n in spec["names"]}
    alts = "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True))
    # A run of identity words, with a trailing "person"/"people", becomes one neutral word, so "a Black person",
    # "a gay trans man" and "a lesbian" all read "a person".
    term = rf"(?:{spec['age_pattern']}|\b(?:{alts})\b)"
    neutral = {str(k).lower(): str(v) for k, v in (spec.get("neutral") or {}).items()}
    words = "|".join(re.escape(t) for t in sorted([*neutral, "her"], key=len, reverse=True))
    rx = re.compile(
        rf"(?P<id>{term}(?:[\s-]+(?:{term}|person\b|people\b|folks?\b))*)|\b(?P<word>{words})\b(?!')"
        r"(?=(?P<next>\s*(?:[a-z']+|\.))?)"
        r"|\band\s+(?P<coord>is|has|was|does|isn't|hasn't|wasn't|doesn't)\b"
    )
    before = frozenset(str(w) for w in spec.get("her_object_before") or ())
    after = frozenset(str(w) for w in spec.get("her_object_after") or ())
    agreement = {str(k): str(v) for k, v in (spec.get("agreement") or {}).items()}
    adverbs = "|".join(re.escape(str(a)) for a in spec.get("agreement_adverbs") or ())
    verb_after = re.compile(rf"(?P<adv>\s+(?:{adverbs})\b)?(?P<sp>\s+)(?P<verb>[a-z']+)")
    return _Spec(rx, str(spec["replacement"]), neutral, before, after, agreement, verb_after)


_PARTICIPLES = frozenset(
    {"been", "got", "gotten", "had", "gone", "done", "taken", "lost", "left", "stopped", "started"}
)


def _plural_verb(word: str, spec: _Spec) -> str:
    """The verb form that agrees with "they": irregulars from the map, regular -s verbs without the -s."""
    if word in spec.agreement:
        return spec.agreement[word]
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "sses", "xes", "zes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is", "'s")):
        return word[:-1]
    return word


def _replacement(m: re.Match[str], spec: _Spec, text: str) -> tuple[str, int]:
    """The neutral text for one match, and where the replaced part ends (the look-ahead word is kept)."""
    if m.group("id") is not None:
        return spec.replacement, m.end("id")
    word = m.group("word")
    if word == "her":
        nxt = (m.group("next") or "").strip()
        prev = re.search(r"([a-z']+)\s+$", text[: m.start()])
        obj = not nxt or nxt in spec.her_object_before or (prev is not None and prev.group(1) in spec.her_object_after)
        return ("them" if obj else "their"), m.end("word")
    if word in ("he's", "she's") and (m.group("next") or "").strip() in _PARTICIPLES:
        return "they've", m.end("word")  # "he's been" is "he has been"
    if word in ("he", "she"):
        v = spec.verb_after.match(text, m.end("word"))
        if v is not None:
            verb = _plural_verb(v.group("verb"), spec)
            if verb != v.group("verb"):
                return f"they{v.group('adv') or ''}{v.group('sp')}{verb}", v.end("verb")
    return spec.neutral[word], m.end("word")


def mask_identity(text: str) -> Masked:
    """Replace identity terms in (normalised, lower-case) text with a neutral word, and gendered pronouns and
    kinship words with their neutral forms, keeping an offset map."""
    spec = _spec()
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    pos = 0
    subject_at = -1  # where the latest he/she became "they"
    for m in spec.rx.finditer(text):
        if m.start() < pos:
            continue
        if m.group("coord") is not None:
            # "he has been saving pills and is going to...": the second verb agrees with "they" too, but only
            # when a masked he/she is the subject of this sentence.
            if subject_at < 0 or re.search(r"[.!?]", text[subject_at : m.start()]):
                continue
            repl, end = f"{text[m.start() : m.start('coord')]}{_plural_verb(m.group('coord'), spec)}", m.end()
        else:
            repl, end = _replacement(m, spec, text)
            if m.group("word") in ("he", "she"):
                subject_at = m.start()
        pieces.append(text[pos : m.start()])
        starts.extend(range(pos, m.start()))
        ends.extend(range(pos + 1, m.start() + 1))
        pieces.append(repl)
        starts.extend([m.start()] * len(repl))
        ends.extend([end] * len(repl))
        pos = end
    if not pieces:
        return Masked(text, None)
    pieces.append(text[pos:])
    starts.extend(range(pos, len(text)))
    ends.extend(range(pos + 1, len(text) + 1))
    return Masked("".join(pieces), tuple(starts), tuple(ends))
