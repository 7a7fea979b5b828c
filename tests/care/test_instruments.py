"""PHQ-9 / GAD-7 scoring against the authored table (written by hand, not computed by this code) and the
published LOINC panels."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from mindrail.care.evaluation import evaluate_scoring
from mindrail.care.instruments import InstrumentFile, load_instrument
from mindrail.datafiles import DataFileError, load_model

TABLE = Path(__file__).parents[2] / "data" / "care" / "scoring_table.csv"

# LOINC panels 44249-1 (PHQ-9) and 69737-5 (GAD-7), items in published order; answer list LL358-3.
PHQ9_ITEMS = ["44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3", "44260-8"]
GAD7_ITEMS = ["69725-0", "68509-9", "69733-4", "69734-2", "69735-9", "69689-8", "69736-7"]
ANSWERS = [
    ("LA6568-5", "Not at all"),
    ("LA6569-3", "Several days"),
    ("LA6570-1", "More than half the days"),
    ("LA6571-9", "Nearly every day"),
]


def test_authored_scoring_table_is_all_correct() -> None:
    result = evaluate_scoring(TABLE)
    assert result["rows"] >= 40
    assert result["correct"] == result["rows"]


def test_table_covers_every_band_boundary() -> None:
    totals: dict[str, set[int]] = {"phq9": set(), "gad7": set()}
    with TABLE.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            totals[row["instrument"]].add(int(row["total"]))
    assert {0, 4, 5, 9, 10, 14, 15, 19, 20, 27} <= totals["phq9"]
    assert {0, 4, 5, 9, 10, 14, 15, 21} <= totals["gad7"]


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "moderately severe"),
        (19, "moderately severe"),
        (20, "severe"),
        (27, "severe"),
    ],
)
def test_phq9_bands(total: int, band: str) -> None:
    assert load_instrument("phq9").band(total).label == band


def test_item9_is_a_safety_event_whatever_the_total() -> None:
    phq9 = load_instrument("phq9")
    assert phq9.score([0] * 8 + [1]).safety_items == (9,)
    assert phq9.score([0] * 8 + [1]).band == "minimal"
    assert not phq9.score([3] * 8 + [0]).safety_event
    assert not load_instrument("gad7").score([3] * 7).safety_event


@pytest.mark.parametrize("values", [[0] * 8, [0] * 10, [0] * 8 + [4], [0] * 8 + [-1], [True] + [0] * 8])
def test_partial_or_out_of_range_answers_have_no_score(values: list[int]) -> None:
    with pytest.raises(ValueError, match="phq9"):
        load_instrument("phq9").score(values)


def test_codes_match_the_published_panels() -> None:
    phq9, gad7 = load_instrument("phq9"), load_instrument("gad7")
    assert (phq9.spec.loinc.panel, phq9.spec.loinc.total) == ("44249-1", "44261-6")
    assert (gad7.spec.loinc.panel, gad7.spec.loinc.total) == ("69737-5", "70274-6")
    assert [i.loinc for i in phq9.items] == PHQ9_ITEMS
    assert [i.loinc for i in gad7.items] == GAD7_ITEMS
    assert phq9.options.loinc_answer_list == "LL358-3"
    assert [(o.loinc, o.text) for o in phq9.options.options] == ANSWERS
    assert [i.n for i in phq9.items if i.safety] == [9]


def test_notice_is_kept() -> None:
    for name in ("phq9", "gad7"):
        notice = load_instrument(name).spec.notice
        assert "Pfizer" in notice and "No permission required to reproduce" in notice


def test_a_broken_instrument_file_names_file_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    text = (Path(__file__).parents[2] / "src/mindrail/care/data/instruments/gad7.yaml").read_text(encoding="utf-8")
    bad.write_text(text.replace("loinc: 69734-2", "loinc: not-a-code"), encoding="utf-8")
    with pytest.raises(DataFileError) as err:
        load_model(InstrumentFile, bad)
    msg = str(err.value)
    assert "bad.yaml:" in msg and "items[3].loinc" in msg
