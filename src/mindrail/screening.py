"""Screening outside a guarded turn: a conversation's messages replayed through the risk engine, and JSONL files of
messages or conversations (``mindrail screen``, ``mindrail demo``, ``/v1/screen``).

:func:`replay` is the one place a conversation's messages are fed to a ``ConversationState``: the gateway rebuilding a
session from the store, ``/v1/screen`` and the command line all go through it, so a conversation is assessed the
same way wherever it is read. It lives beside the risk engine rather than in it: it only uses the engine's public
``add_user`` / ``add_assistant``, and the gateway, the command line and tests import it without FastAPI or Typer.

A file is screened in units (:func:`iter_units`: a batch of message lines, or one conversation line) by
:func:`screen_units`; the single-process ``mindrail screen`` and the Ray actors of ``mindrail screen --ray``
(``mindrail.cluster.screen``) both call it, so both write the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from mindrail.risk.io import InputError, Record, SkipCounter, conversation_messages, iter_jsonl, message_text
from mindrail.risk.types import Assessment, Category, CategoryResult, Level

if TYPE_CHECKING:
    from mindrail.risk.conversation import ConversationState
    from mindrail.risk.engine import RiskEngine

Message = tuple[str, str]
"""(role, text) of one message of a conversation. Only the person's messages are turns (docs/architecture.md)."""

NOTABLE_SCORE = 0.2
"""A category below every level is still worth showing (``ScreenedMessage.notable``) from this score."""


@dataclass(frozen=True, slots=True)
class ScreenedMessage:
    """One message of a screened conversation, in order."""

    message_index: int
    """Its place in the conversation, counting every message (any role) from 0: not a turn number."""
    role: str
    text: str
    assessment: Assessment | None
    """The person's messages only, assessed in context; None for the assistant's and any other role's."""

    @property
    def turn(self) -> int | None:
        """The turn number (the person's Nth message, from 1); None for a message that is not a turn."""
        return self.assessment.turn if self.assessment is not None else None

    def notable(self) -> list[tuple[Category, CategoryResult]]:
        """Categories with a level, or a score of at least ``NOTABLE_SCORE``: what a reader should see."""
        if self.assessment is None:
            return []
        return [
            (c, r) for c, r in self.assessment.categories.items() if r.level > Level.NONE or r.score >= NOTABLE_SCORE
        ]

    def reasons(self) -> list[str]:
        """The reasons behind every category with a level, sorted, each once."""
        if self.assessment is None:
            return []
        return sorted({x for r in self.assessment.categories.values() if r.level > Level.NONE for x in r.reasons})


def replay(state: ConversationState, messages: Iterable[Message]) -> list[tuple[int, Assessment]]:
    """Feed ``messages`` to ``state`` in order: the person's (the turns) are assessed in context, the assistant's are
    remembered (a short "yes" to an assistant's question is read against it), any other role (system, tool) is
    skipped. Returns (message index in ``messages``, assessment) for each turn; the assessment's ``turn`` numbers
    it."""
    out: list[tuple[int, Assessment]] = []
    for k, (role, text) in enumerate(messages):
        if role == "user":
            out.append((k, state.add_user(text)))
        elif role == "assistant":
            state.add_assistant(text)
    return out


def screen_conversation(engine: RiskEngine, messages: Sequence[Message]) -> list[ScreenedMessage]:
    """Every message of a conversation with the person's turns assessed in context (``mindrail demo``)."""
    assessed = dict(replay(engine.new_conversation(), messages))
    return [ScreenedMessage(k, role, text, assessed.get(k)) for k, (role, text) in enumerate(messages)]


@dataclass(frozen=True, slots=True)
class MessageBatch:
    """Message lines screened together as one ``engine.iter_assess`` batch.

    Kept as a unit because a message's scores can depend on its batch neighbours (padding moves a score in the 4th
    decimal), so every path that screens a file must cut batches where :func:`iter_units` cuts them."""

    items: tuple[tuple[int, Any, str], ...]
    """(line, id, text) of each message, in input order."""

    @property
    def last_line(self) -> int:
        return self.items[-1][0]


@dataclass(frozen=True, slots=True)
class ConversationLine:
    """One ``{"messages": [...]}`` line: always screened whole, by one engine, in context."""

    line: int
    id: Any
    messages: tuple[Message, ...]

    @property
    def last_line(self) -> int:
        return self.line


ScreenUnit = MessageBatch | ConversationLine
"""What a file is screened in: a batch of message lines or one conversation line. Units are independent of each
other, so they can be screened anywhere (``mindrail.cluster.screen`` sends them to Ray actors) and give the same
records."""


def iter_units(
    records: Iterable[Record],
    label: str,
    *,
    skip_bad: bool = False,
    batch_size: int = 64,
    counter: SkipCounter | None = None,
    on_line: Callable[[], None] | None = None,
) -> Iterator[ScreenUnit]:
    """Parsed lines grouped the way :func:`screen_jsonl` screens them: message lines gather into a batch, which is
    cut at ``batch_size`` messages, before a conversation line and at the end. A line that is neither a message nor
    a conversation raises :class:`InputError`, or with ``skip_bad`` moves from ``counter.ok`` to
    ``counter.skipped``; a batch still being gathered when an error is raised is never yielded. ``on_line`` is
    called after each record."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    counter = counter if counter is not None else SkipCounter()
    pending: list[tuple[int, Any, str]] = []
    for rec in records:
        rid = rec.value.get("id")
        try:
            if "messages" in rec.value:
                messages = conversation_messages(rec.value, label, rec.line)
                if pending:
                    yield MessageBatch(tuple(pending))
                    pending = []
                yield ConversationLine(rec.line, rid, tuple(messages))
            else:
                pending.append((rec.line, rid, message_text(rec.value, label, rec.line)))
                if len(pending) >= batch_size:
                    yield MessageBatch(tuple(pending))
                    pending = []
        except InputError:
            if not skip_bad:
                raise
            counter.skipped += 1
            counter.ok -= 1
        if on_line is not None:
            on_line()
    if pending:
        yield MessageBatch(tuple(pending))


def screen_units(engine: RiskEngine, units: Iterable[ScreenUnit], batch_size: int = 64) -> Iterator[dict[str, Any]]:
    """Output records for ``units``, in order: ``{"line", "id", "assessment"}`` per message, each batch through
    ``engine.iter_assess``; ``{"line", "id", "turns"}`` per conversation, one assessment per turn (the person's
    messages), in context, each with its ``turn`` number and its ``message_index`` in ``messages``. The one place
    a file's lines are screened, in process or on a Ray actor."""
    for unit in units:
        if isinstance(unit, MessageBatch):
            assessed = engine.iter_assess([text for _, _, text in unit.items], batch_size)
            for (line, rid, _), a in zip(unit.items, assessed, strict=True):
                yield {"line": line, "id": rid, "assessment": a.to_dict()}
        else:
            turns = replay(engine.new_conversation(), unit.messages)
            yield {"line": unit.line, "id": unit.id, "turns": [{"message_index": k, **a.to_dict()} for k, a in turns]}


def jsonl_line(record: dict[str, Any]) -> str:
    """One output record as the JSONL line ``mindrail screen`` writes (every path writes the same bytes)."""
    return json.dumps(record, ensure_ascii=False) + "\n"


def screen_jsonl(
    engine: RiskEngine,
    fh: BinaryIO,
    label: str,
    *,
    skip_bad: bool = False,
    batch_size: int = 64,
    counter: SkipCounter | None = None,
    on_line: Callable[[], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """Output records for a JSONL file, in input order, in constant memory.

    A line is a message (``{"text": ...}`` or ``{"role": "user", "content": ...}``), screened in batches of
    ``batch_size`` and answered ``{"line", "id", "assessment"}``; or a conversation in OpenAI format
    (``{"messages": [...]}``), answered ``{"line", "id", "turns"}`` with one assessment per turn (the person's
    messages), in context, each with its ``turn`` number and its ``message_index`` in ``messages``.
    A bad line raises :class:`InputError` naming the line, or with ``skip_bad`` is counted in ``counter`` and
    skipped. ``on_line`` is called after each line read (progress)."""
    counter = counter if counter is not None else SkipCounter()
    records = iter_jsonl(fh, label, skip_bad=skip_bad, counter=counter)
    units = iter_units(records, label, skip_bad=skip_bad, batch_size=batch_size, counter=counter, on_line=on_line)
    yield from screen_units(engine, units, batch_size)
