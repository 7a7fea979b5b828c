"""Streaming readers for JSONL and CSV inputs, with errors that name the line and never echo its text.

Input may hold sensitive text, so an error says where and what kind of problem, not what the line said.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO


class InputError(ValueError):
    """Bad input; ``line`` is 1-based."""

    def __init__(self, path: str, line: int, problem: str) -> None:
        super().__init__(f"{path}:{line}: {problem}")
        self.path, self.line, self.problem = path, line, problem


@dataclass(frozen=True, slots=True)
class Record:
    line: int
    value: dict[str, Any]


@dataclass(slots=True)
class SkipCounter:
    skipped: int = 0
    ok: int = 0


def _decode(raw: bytes, path: str, lineno: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            path, lineno, f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"
        ) from None


def iter_jsonl(
    fh: BinaryIO, path: str, *, skip_bad: bool = False, counter: SkipCounter | None = None
) -> Iterator[Record]:
    """One JSON object per line; blank lines are ignored. Streams: memory does not grow with the file."""
    for lineno, raw in enumerate(fh, 1):
        try:
            text = _decode(raw, path, lineno).strip()
            if not text:
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InputError(path, lineno, f"invalid JSON ({exc.msg} at column {exc.colno})") from None
            if not isinstance(value, dict):
                raise InputError(path, lineno, f"expected a JSON object, got {type(value).__name__}")
        except InputError:
            if not skip_bad:
                raise
            if counter:
                counter.skipped += 1
            continue
        if counter:
            counter.ok += 1
        yield Record(lineno, value)


def iter_table(path: Path, *, skip_bad: bool = False, counter: SkipCounter | None = None) -> Iterator[Record]:
    """CSV (header row) or JSONL, chosen by extension; CSV rows are numbered by their physical line."""
    label = str(path)
    if path.suffix.lower() in {".jsonl", ".ndjson", ".json"}:
        with path.open("rb") as fh:
            yield from iter_jsonl(fh, label, skip_bad=skip_bad, counter=counter)
        return
    with path.open("rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", errors="strict", newline="")
        reader = csv.DictReader(text)
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError:
                raise InputError(label, reader.line_num + 1, "not valid UTF-8") from None
            except csv.Error as exc:
                if not skip_bad:
                    raise InputError(label, reader.line_num, f"malformed CSV ({exc})") from None
                if counter:
                    counter.skipped += 1
                continue
            if counter:
                counter.ok += 1
            yield Record(reader.line_num, dict(row))


def message_text(value: dict[str, Any], path: str, line: int) -> str:
    for key in ("text", "content", "message"):
        if key in value:
            v = value[key]
            if not isinstance(v, str):
                raise InputError(path, line, f"field {key!r} must be a string, got {type(v).__name__}")
            return v
    raise InputError(path, line, "expected a 'text', 'content' or 'messages' field")


def conversation_messages(value: dict[str, Any], path: str, line: int) -> list[tuple[str, str]]:
    """(role, text) of every message of an OpenAI-format conversation, in order (index k is ``messages[k]``)."""
    msgs = value.get("messages")
    if not isinstance(msgs, list):
        raise InputError(path, line, "field 'messages' must be a list of {role, content} objects")
    out: list[tuple[str, str]] = []
    for k, m in enumerate(msgs):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise InputError(path, line, f"messages[{k}] needs a string 'role'")
        content = m.get("content", "")
        if isinstance(content, list):  # OpenAI content parts
            content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
        if not isinstance(content, str):
            raise InputError(path, line, f"messages[{k}].content must be a string or a list of text parts")
        out.append((m["role"], content))
    return out
