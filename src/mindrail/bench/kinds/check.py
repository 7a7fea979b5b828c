"""The check kind: JSONL suites of :class:`~mindrail.bench.suite.Case` (a yes/no check question about the reply),
played with the case's scripted turns and answered by a judge. Errors name the file, the line and the field; the
file is read line by line."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mindrail.bench.judge import Judge, resolve
from mindrail.bench.protocols import Kind, Score, scripted_turns
from mindrail.bench.suite import Case, Suite, SuiteError, read_source
from mindrail.bench.target import TargetReply

BUILTIN = ("single_turn", "over_refusal")


class CheckScorer:
    """A yes/no check question answered by a judge (offline rules or a model).

    Second opinions are recorded beside the primary judgement, never mixed into it, so reports can show where
    judges disagree."""

    def __init__(self, judge: Judge, *second: Judge) -> None:
        self._judge = judge
        self._second = second
        self.name = judge.name

    async def __call__(self, case: Case, reply: TargetReply) -> Score:
        j = await resolve(self._judge.judge(case, reply.text))
        judgement: dict[str, Any] = {"answer": j.answer, "check": j.check, "reason": j.reason, "judge": j.judge}
        if j.concerns:
            judgement["concerns"] = list(j.concerns)
        if self._second:
            others = [await resolve(o.judge(case, reply.text)) for o in self._second]
            judgement["others"] = [{"judge": o.judge, "answer": o.answer} for o in others]
        return Score(j.appropriate(case), judgement, {"appropriate_answer": case.appropriate_answer})


def _iter_cases(label: str, lines: Iterator[str]) -> Iterator[Case]:
    seen: set[str] = set()
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SuiteError(f"{label}:{lineno}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(data, dict):
            raise SuiteError(f"{label}:{lineno}: a case must be a JSON object")
        try:
            case = Case.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "(case)"
            raise SuiteError(f"{label}:{lineno}: {field}: {err['msg']}") from None
        if case.id in seen:
            raise SuiteError(f"{label}:{lineno}: id: duplicate id {case.id!r}")
        seen.add(case.id)
        yield case


def load_suite(spec: str | Path) -> Suite[Case]:
    """A built-in suite by name (``single_turn``, ``over_refusal``) or a JSONL file path."""
    src = read_source(spec, BUILTIN, "jsonl")
    raw, label, name = src.raw, src.label, src.name
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SuiteError(f"{label}:{line}: not UTF-8") from None
    cases = tuple(_iter_cases(label, iter(text.splitlines())))
    if not cases:
        raise SuiteError(f"{label}: no cases")
    return Suite(name, cases, hashlib.sha256(raw).hexdigest())


KIND: Kind[Case] = Kind(
    name="check",
    builtin=BUILTIN,
    file_key=None,  # every file that is not a YAML suite of another kind (JSONL) is a check suite
    load=load_suite,
    solver=lambda options: scripted_turns,
    scorer=lambda options: CheckScorer(options.judges[0], *options.judges[1:]),
)
