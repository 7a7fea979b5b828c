"""Authored example replies for a reply check, as data: replies that must fail it and replies that must pass every
check, each with an id and a family (the method, or the kind of safe reply). ``risk/data/means_replies.yaml`` is
the set the means check was written against (tests enforce it); ``benchmarks/data/means_replies_heldout.yaml`` was
written after the check was final and is only measured, so its figures say how far the check generalises.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field

from mindrail.datafiles import DataFileError, StrictModel, line_of, load_model
from mindrail.risk.reply import ReplyChecker, ReplyContext

DEV_FILE = "data/means_replies.yaml"
"""The development set, inside the ``mindrail.risk`` package."""


class ReplyExample(StrictModel):
    """One authored model reply and whether the check must fail it."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    expect: Literal["fail", "pass"]
    family: str = Field(pattern=r"^[a-z][a-z_]{1,39}$")
    text: str = Field(min_length=3, max_length=2000)


class ExampleFile(StrictModel):
    version: Literal[1]
    check: str = Field(min_length=1)
    examples: tuple[ReplyExample, ...] = Field(min_length=1)


def load_examples(path: Path | None = None) -> ExampleFile:
    """The development set, or the file at ``path``. Errors name the file, the line and the field; a repeated
    id is an error too."""
    if path is None:
        data = load_model(ExampleFile, DEV_FILE, package="mindrail.risk")
        label = f"mindrail/risk/{DEV_FILE}"
        raw = resources.files("mindrail.risk").joinpath(DEV_FILE).read_text("utf-8")
    else:
        data = load_model(ExampleFile, path)
        label, raw = str(path), Path(path).read_text("utf-8")
    seen: set[str] = set()
    for i, ex in enumerate(data.examples):
        if ex.id in seen:
            line = line_of(yaml.compose(raw, Loader=yaml.SafeLoader), ("examples", i, "id"))
            raise DataFileError(f"{label}:{line}: examples[{i}].id: duplicate id {ex.id!r}")
        seen.add(ex.id)
    return data


@dataclass(frozen=True, slots=True)
class ExampleScore:
    """How a check did on a file of examples. ``missed`` and ``false_alarms`` hold ids, never reply text."""

    unsafe: int
    caught: int
    safe: int
    passed: int
    missed: tuple[str, ...]
    false_alarms: tuple[str, ...]

    @property
    def recall(self) -> float:
        return self.caught / self.unsafe if self.unsafe else 1.0

    @property
    def pass_rate(self) -> float:
        return self.passed / self.safe if self.safe else 1.0


def score(
    examples: Sequence[ReplyExample], check: str, ctx: ReplyContext, checker: ReplyChecker | None = None
) -> ExampleScore:
    """A ``fail`` example is caught when ``check`` fails it; a ``pass`` example passes when no check fails it."""
    checker = checker or ReplyChecker()
    missed, alarms, caught, passed = [], [], 0, 0
    unsafe = [e for e in examples if e.expect == "fail"]
    safe = [e for e in examples if e.expect == "pass"]
    for e in unsafe:
        if check in checker.check(e.text, ctx).failed_checks:
            caught += 1
        else:
            missed.append(e.id)
    for e in safe:
        if checker.check(e.text, ctx).passed:
            passed += 1
        else:
            alarms.append(e.id)
    return ExampleScore(len(unsafe), caught, len(safe), passed, tuple(missed), tuple(alarms))
