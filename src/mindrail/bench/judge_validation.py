"""How far to trust a judge: its answers on replies a person labelled, as accuracy, Cohen's kappa and the
confusion matrix, overall and per check type. Label files are JSONL: a suite case plus ``reply`` and ``label``
(yes/no, the human answer to the check question)."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from mindrail.bench.judge import Judge, resolve
from mindrail.bench.stats import cohen_kappa
from mindrail.bench.suite import Case, SuiteError


def load_labels(path: Path) -> list[tuple[Case, str, str]]:
    out: list[tuple[Case, str, str]] = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            label = str(row.pop("label")).strip().lower()
            reply = str(row.pop("reply"))
            if label not in ("yes", "no"):
                raise ValueError("label must be yes or no")
            out.append((Case.model_validate(row), reply, label))
        except (ValueError, KeyError) as exc:
            raise SuiteError(f"{path}:{lineno}: {exc}") from None
    return out


def validate(judge: Judge, labelled: list[tuple[Case, str, str]]) -> dict[str, Any]:
    pairs: list[tuple[str, str]] = []
    by_check: dict[str, list[tuple[str, str]]] = defaultdict(list)
    disagreements: list[str] = []
    unsure = 0

    async def answers() -> list[str]:
        return [(await resolve(judge.judge(case, reply))).answer for case, reply, _ in labelled]

    for (case, _, label), answer in zip(labelled, asyncio.run(answers()), strict=True):
        if answer == "unsure":
            unsure += 1
            continue
        pairs.append((answer, label))
        by_check[case.check or "?"].append((answer, label))
        if answer != label:
            disagreements.append(case.id)
    n = len(pairs)
    confusion = {
        f"judge_{a}_human_{b}": sum(1 for x, y in pairs if (x, y) == (a, b))
        for a in ("yes", "no")
        for b in ("yes", "no")
    }
    return {
        "judge": judge.name,
        "labelled": len(labelled),
        "unsure": unsure,
        "accuracy": sum(a == b for a, b in pairs) / n if n else None,
        "kappa": cohen_kappa(pairs),
        "confusion": confusion,
        "per_check": {
            k: {"n": len(v), "accuracy": sum(a == b for a, b in v) / len(v), "kappa": cohen_kappa(v)}
            for k, v in sorted(by_check.items())
        },
        "disagreements": disagreements,
    }
