"""The frozen challenge set: its digests hold, its rows validate, it shares no text with the training data, its
evaluation reports aggregates only, and a bad row is named by file, line and field."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mindrail.risk.engine import RiskEngine
from mindrail.training import challenge
from mindrail.training.dataset import load_corpus

ROOT = Path(__file__).resolve().parents[2]
CHALLENGE = ROOT / "data" / "challenge"


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def test_frozen_digests_hold() -> None:
    challenge.verify(CHALLENGE)


def test_rows_validate_and_meet_the_minimums() -> None:
    messages, conversations = challenge.load(CHALLENGE)
    hand_written = [m for m in messages if m.author != "scripted-variants"]
    assert len(hand_written) >= 800
    assert len(conversations) >= 200
    assert {m.lang for m in messages} >= {"en", "es", "fr", "de", "pt"}


def test_no_challenge_text_is_in_the_training_corpus() -> None:
    messages, conversations = challenge.load(CHALLENGE)
    held = {_norm(m.text) for m in messages} | {_norm(t.text) for c in conversations for t in c.turns}
    train = {_norm(ex.text) for ex in load_corpus(sources=("authored",))}
    assert not (held & train)


def test_tampering_is_detected(tmp_path: Path) -> None:
    copy = tmp_path / "challenge"
    shutil.copytree(CHALLENGE, copy)
    with (copy / "messages.jsonl").open("a", encoding="utf-8") as fh:
        fh.write("\n")
    with pytest.raises(ValueError, match="sha256 differs"):
        challenge.verify(copy)


def test_a_bad_row_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "messages.jsonl"
    good = {"id": "t-1", "text": "written for the test", "labels": {}, "author": "test"}
    bad = {"id": "t-2", "text": "written for the test", "labels": {"suicide_self_harm": "severe"}, "author": "t"}
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"messages\.jsonl:2: .*severe"):
        list(challenge.read_lines(path, challenge.ChallengeMessage))


def test_build_is_deterministic(tmp_path: Path) -> None:
    copy = tmp_path / "challenge"
    shutil.copytree(CHALLENGE, copy)
    challenge.build(copy)
    challenge.verify(CHALLENGE)
    assert (copy / "SHA256SUMS").read_text() == (CHALLENGE / "SHA256SUMS").read_text()


def test_evaluation_reports_aggregates_only(engine: RiskEngine) -> None:
    messages, conversations = challenge.load(CHALLENGE)
    report = {
        "messages": challenge.evaluate_messages(engine, messages[:40]),
        "conversations": challenge.evaluate_conversations(engine, conversations[:5]),
    }
    dumped = json.dumps(report)
    assert not any(m.text in dumped for m in messages[:40] if len(m.text) > 12)
    assert report["messages"]["n_messages"] == 40
    assert 0.0 <= report["messages"]["crisis_at_level_or_above"]["rate"] <= 1.0
