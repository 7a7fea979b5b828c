"""The care evaluation: its sets load and validate (errors name file, line and field), ICC(A,1) behaves as
defined, and the scripted check-in loop asks again exactly when the reader is unsure."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mindrail.care.evaluation import (
    ConversationLine,
    PersonLine,
    default_dir,
    evaluate_checkins,
)
from mindrail.datafiles import read_jsonl
from mindrail.stats import icc_a1

ROOT = default_dir()


@pytest.mark.parametrize(
    ("folder", "model", "minimum"), [("checkins", PersonLine, 60), ("inquiry", ConversationLine, 80)]
)
def test_test_sets_are_large_enough_and_valid(folder: str, model: type, minimum: int) -> None:
    lines = list(read_jsonl(ROOT / folder / "test.jsonl", model))
    assert len(lines) >= minimum
    assert len({x.id for x in lines}) == len(lines)
    assert {x.writer for x in lines} == {"care-b" if folder == "checkins" else "care-d"}


def test_person_totals_match_their_items() -> None:
    for split in ("dev", "test"):
        for p in read_jsonl(ROOT / "checkins" / f"{split}.jsonl", PersonLine):
            assert p.total == sum(a.intended for a in p.answers)
            assert len(p.answers) == (9 if p.instrument == "phq9" else 7)


def test_a_bad_line_names_file_line_and_field(tmp_path: Path) -> None:
    good = json.loads((ROOT / "checkins" / "dev.jsonl").read_text(encoding="utf-8").splitlines()[0])
    good["answers"][2]["value"] = 7
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n" + json.dumps(good) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.jsonl:2: answers\[2\]\.value"):
        list(read_jsonl(bad, PersonLine))


def test_icc_absolute_agreement() -> None:
    a = np.array([3, 7, 12, 18, 25, 9])
    assert icc_a1(a, a) == pytest.approx(1.0)
    assert icc_a1(a, a + 4) < icc_a1(a, a + 1) < 1.0  # a constant offset is disagreement


def test_checkin_loop_on_the_dev_set() -> None:
    r = evaluate_checkins(ROOT / "checkins" / "dev.jsonl")
    assert r["people"] == 30 and r["items"] == 246
    assert r["item_agreement_final"] >= r["item_agreement_first_reading"]
    assert r["item9_safety_events"]["caught"] == r["item9_safety_events"]["expected"]
