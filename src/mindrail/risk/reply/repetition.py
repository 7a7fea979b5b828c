"""Degenerate repetition: the same sentence, or the same run of words, coming round again (the local backend stops
such loops while generating; this check catches a looping reply from any backend before the person sees it)."""

from __future__ import annotations

from mindrail.repetition import LoopSettings, find_loop
from mindrail.risk.normalise import Normalised
from mindrail.risk.reply.base import CheckSpec, Finding, PatternCheck, ReplyContext


class RepetitionCheck(PatternCheck):
    name = "repetition"

    def __init__(self, spec: CheckSpec | None = None, defs: dict[str, str] | None = None) -> None:
        super().__init__(spec, defs)
        loop = self.spec.loop
        if loop is None:
            raise ValueError("reply_checks.yaml: check 'repetition' needs a `loop` section")
        self.settings = LoopSettings(loop.min_repeats, loop.min_loop_words, loop.min_sentence_words)

    def scan(self, norm: Normalised, ctx: ReplyContext) -> list[Finding]:
        out = super().scan(norm, ctx)
        loop = find_loop(norm.text, self.settings)
        if loop is not None:
            a, b = norm.span_to_original(loop.start, loop.end)
            out.append(Finding(self.name, f"{self.name}:loop:{loop.kind}", a, b))
        return out
