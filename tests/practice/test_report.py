"""The session report: MITI summary figures, the rating rule, HTML and JSON exports, progress and its plot."""

from __future__ import annotations

import json
from pathlib import Path

from mindrail.practice.cards import Act, card
from mindrail.practice.coder import default_coder
from mindrail.practice.progress import load_reports, plot_progress
from mindrail.practice.report import Band, progress_rows, rate, report, summarise, to_html
from mindrail.practice.session import PracticeSession
from mindrail.practice.trainees import GoodTrainee, play

R, CR, Q, OQ = Act.REFLECTION_SIMPLE, Act.REFLECTION_COMPLEX, Act.QUESTION_CLOSED, Act.QUESTION_OPEN


def test_summary_counts_and_ratios() -> None:
    s = summarise(
        [
            frozenset({CR}),
            frozenset({R}),
            frozenset({CR}),
            frozenset({OQ}),
            frozenset({Q, Act.ASKED_SUICIDE}),
            frozenset({Act.ADVICE}),
            frozenset({Act.OTHER, Act.JUDGEMENT}),
        ]
    )
    assert (s.reflections, s.complex_reflections, s.questions, s.open_questions) == (3, 2, 2, 1)
    assert s.reflection_to_question == 1.5
    assert s.complex_reflection_share == 2 / 3
    assert (s.adherent, s.non_adherent) == (3, 2)
    assert summarise([]).reflection_to_question is None


def test_rating_bands() -> None:
    band = Band(fair=1.0, good=2.0)
    assert [rate(v, band) for v in (None, 0.5, 1.0, 1.99, 2.0)] == ["below fair", "below fair", "fair", "fair", "good"]


def test_a_missed_required_safety_act_caps_the_rating(tmp_path: Path) -> None:
    c = card("ray_national_guard")
    s = PracticeSession(c, default_coder())
    s.start()
    for _ in range(3):
        s.step("It sounds like you've been carrying all of this by yourself and it's wearing you down.")
    rep = report(c, s.finish())
    assert rep.rating == "below fair"
    assert any(ch.id == "asked" and not ch.passed and ch.required for ch in rep.checks)


def test_exports_and_progress(tmp_path: Path) -> None:
    c = card("jordan_student_exams")
    folder = tmp_path / "t"
    folder.mkdir()
    for seed in (1, 2):
        rep = report(c, play(PracticeSession(c, default_coder(), seed=seed), GoodTrainee()).record)
        data = rep.to_dict()
        json.dumps(data)
        (folder / f"{seed}.json").write_text(json.dumps(data), encoding="utf-8")
        html = to_html(rep)
        assert "Training exercise" in html and "<script" not in html
    rows = progress_rows(load_reports(folder))
    assert len(rows) == 2 and rows[0]["started"] <= rows[1]["started"]
    plot_progress(rows, tmp_path / "p.png", title="progress")
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_html_escapes_what_the_trainee_typed() -> None:
    c = card("jordan_student_exams")
    s = PracticeSession(c, default_coder())
    s.start()
    s.step("<b>so</b> exams feel like everything right now")
    assert "<b>so</b>" not in to_html(report(c, s.finish()))


def test_a_broken_report_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("{}", encoding="utf-8")
    import pytest

    with pytest.raises(ValueError, match=r"x\.json: not a practice report"):
        load_reports(tmp_path)
