"""training.dataset: grouped deterministic splits, masked unlabelled suicide mentions, authored-file errors and
identity augmentation."""

from __future__ import annotations

from pathlib import Path

import pytest

from mindrail.risk.types import Category, Level
from mindrail.training.dataset import SSH, Example, identity_augmented, load_authored, make_example, split_of


def test_split_is_deterministic_and_grouped() -> None:
    assert split_of("g1") == split_of("g1")
    counts = {s: 0 for s in ("train", "calib", "dev")}
    for i in range(3000):
        counts[split_of(f"g{i}")] += 1
    assert 0.55 < counts["train"] / 3000 < 0.65


def test_unlabelled_suicide_mentions_are_masked_not_negative() -> None:
    ex = make_example("x", "honestly i want to die some days", "dreaddit", "x", {}, {SSH, Category.DISTRESS}, 13)
    assert ex.label(SSH) is None
    assert ex.label(Category.DISTRESS) == Level.NONE
    ok = make_example("y", "the bus was late again", "dreaddit", "y", {}, {SSH}, 13)
    assert ok.label(SSH) == Level.NONE


def test_authored_file_errors_name_the_line(tmp_path: Path) -> None:
    (tmp_path / "authored").mkdir()
    (tmp_path / "authored" / "messages.jsonl").write_text(
        '{"id": "a", "text": "t", "labels": {}}\n{"id": "b", "text": "t", "labels": {"suicide_self_harm": "huge"}}\n',
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match=r"messages.jsonl:2"):
        list(load_authored(tmp_path, 13))


def test_augmentation_only_touches_authored_train() -> None:
    base = [
        Example("a", "my brother feels hopeless", "authored", "a", {}, frozenset(), split="train"),
        Example("b", "my brother feels hopeless", "authored", "b", {}, frozenset(), split="dev"),
        Example("c", "my brother feels hopeless", "dreaddit", "c", {}, frozenset(), split="train"),
    ]
    aug = identity_augmented(base, seed=1, per_example=2)
    assert {a.id.split("~")[0] for a in aug} == {"a"}
    assert all("identity_augmented" in a.tags for a in aug)
