"""The authored banks of trainee replies: good alternatives offered as feedback (``data/replies.jsonl``, each with
the skill it shows and why it is better) and the mistakes a scripted poor trainee makes
(``data/poor_replies.jsonl``). An alternative is retrieved by similarity between what the person just said and
the situation each good reply was written for, among replies that show the skill the moment calls for."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydantic import Field

from mindrail.datafiles import StrictModel, read_jsonl
from mindrail.practice.cards import Act, Module

Embed = Callable[[Sequence[str]], npt.NDArray[np.float32]]
"""Unit-length sentence vectors, one row per text (``Encoder.embed``)."""


class GoodReply(StrictModel):
    id: str
    act: Act
    module: Module
    openness: tuple[int, ...] = Field(min_length=1)
    context: str = Field(min_length=5)
    text: str = Field(min_length=5)
    why: str = Field(min_length=10)
    written_by: str


class PoorReply(StrictModel):
    id: str
    act: Act
    text: str = Field(min_length=3)
    written_by: str


def _data(name: str) -> Path:
    return Path(str(resources.files("mindrail.practice").joinpath(f"data/{name}")))


@cache
def good_replies() -> tuple[GoodReply, ...]:
    return tuple(read_jsonl(_data("replies.jsonl"), GoodReply))


@cache
def poor_replies() -> tuple[PoorReply, ...]:
    return tuple(read_jsonl(_data("poor_replies.jsonl"), PoorReply))


@dataclass(frozen=True, slots=True)
class Suggestion:
    reply: GoodReply
    similarity: float


class ReplyBank:
    """Good replies with their situations embedded once, searched by cosine similarity."""

    def __init__(self, embed: Embed, replies: Sequence[GoodReply] | None = None) -> None:
        self.replies = tuple(replies if replies is not None else good_replies())
        self._embed = embed
        self._vectors: npt.NDArray[np.float32] | None = None

    @property
    def vectors(self) -> npt.NDArray[np.float32]:
        if self._vectors is None:
            self._vectors = self._embed([r.context for r in self.replies])
        return self._vectors

    def acts(self) -> frozenset[Act]:
        return frozenset(r.act for r in self.replies)

    def ranked(
        self,
        act: Act,
        person_said: str,
        *,
        openness: int,
        module: Module | None = None,
        exclude: frozenset[str] = frozenset(),
    ) -> list[Suggestion]:
        """Replies showing ``act``, best first: those written for the person's openness before the rest, by cosine
        similarity between ``person_said`` and the situation each was written for (the card's module breaks
        near-ties); replies in ``exclude`` (already offered this session) are left out while others remain."""
        idx = [i for i, r in enumerate(self.replies) if r.act == act]
        fresh = [i for i in idx if self.replies[i].id not in exclude] or idx
        if not fresh:
            return []
        query = self._embed([person_said])[0]
        sims = self.vectors[fresh] @ query
        bonus = np.asarray([0.03 if module is not None and self.replies[i].module == module else 0.0 for i in fresh])
        fits = np.asarray([openness in self.replies[i].openness for i in fresh])
        order = np.lexsort((-(sims + bonus), ~fits))
        return [Suggestion(self.replies[fresh[k]], float(sims[k])) for k in order]
