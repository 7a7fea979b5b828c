"""Degenerate repetition: the same sentence, or the same run of words, coming round again (the local backend stops
such loops while generating; this check catches a looping reply from any backend before the person sees it). The
reply_checks.yaml section with a ``loop`` key is built as this check."""

from __future__ import annotations

from mindrail.repetition import LoopSettings, find_loop
from mindrail.risk.normalise import Normalised
from mindrail.risk.reply.base import CheckSpec, PatternCheck, ReplyContext, ReplyFinding


class RepetitionCheck(PatternCheck):
    def __init__(self, name: str, spec: CheckSpec | None = None, defs: dict[str, str] | None = None) -> None:
        super().__init__(name, spec, defs)
        loop = self.spec.loop
        if loop is None:
            raise ValueError(f"reply_checks.yaml: check {name!r} needs a `loop` section")
        self.settings = LoopSettings(loop.min_repeats, loop.min_loop_words, loop.min_sentence_words)

    def scan(self, norm: Normalised, ctx: ReplyContext) -> list[ReplyFinding]:
        out = super().scan(norm, ctx)
        loop = find_loop(norm.text, self.settings)
        if loop is not None:
            a, b = norm.span_to_original(loop.start, loop.end)
            out.append(ReplyFinding(self.name, f"{self.name}:loop:{loop.kind}", a, b))
        return out
