"""Unit tests for the small pieces: metrics, IO, dataset splits and masks, counterfactuals, identity masking,
heads serialisation."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from mindrail.risk.engine import RiskEngine
from mindrail.risk.heads import HeadSet
from mindrail.risk.identity import mask_identity
from mindrail.risk.io import InputError, SkipCounter, iter_jsonl
from mindrail.risk.types import Category, Level, Span
from mindrail.training.counterfactual import counterfactual_check, dimensions, variants
from mindrail.training.dataset import SSH, Example, _mk, identity_augmented, load_authored, split_of
from mindrail.training.metrics import auroc, binary_metrics, recall_at_precision


def test_auroc_and_recall_at_precision() -> None:
    y = np.array([0, 0, 1, 1])
    assert auroc(y, np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)
    assert auroc(y, np.array([0.5, 0.5, 0.5, 0.5])) == pytest.approx(0.5)
    assert auroc(np.array([1, 1]), np.array([0.1, 0.2])) is None
    assert recall_at_precision(y, np.array([0.1, 0.4, 0.35, 0.8]), 0.8) == pytest.approx(0.5)
    m = binary_metrics(y, np.array([0.1, 0.4, 0.35, 0.8]), 0.3)
    assert m["confusion"] == {"tp": 2, "fp": 1, "tn": 1, "fn": 0}
    assert m["balanced_accuracy"] == pytest.approx(0.75)


def test_iter_jsonl_errors_name_lines_and_skip() -> None:
    data = b'{"a": 1}\n\n[1, 2]\n{"a": \n\xff\xfe\n{"a": 2}\n'
    with pytest.raises(InputError, match=r"x:3: expected a JSON object"):
        list(iter_jsonl(io.BytesIO(data), "x"))
    c = SkipCounter()
    got = [r.line for r in iter_jsonl(io.BytesIO(data), "x", skip_bad=True, counter=c)]
    assert got == [1, 6]
    assert (c.ok, c.skipped) == (2, 3)


def test_split_is_deterministic_and_grouped() -> None:
    assert split_of("g1") == split_of("g1")
    counts = {s: 0 for s in ("train", "calib", "dev")}
    for i in range(3000):
        counts[split_of(f"g{i}")] += 1
    assert 0.55 < counts["train"] / 3000 < 0.65


def test_unlabelled_suicide_mentions_are_masked_not_negative() -> None:
    ex = _mk("x", "honestly i want to die some days", "dreaddit", "x", {}, {SSH, Category.DISTRESS}, 13)
    assert ex.label(SSH) is None
    assert ex.label(Category.DISTRESS) == Level.NONE
    ok = _mk("y", "the bus was late again", "dreaddit", "y", {}, {SSH}, 13)
    assert ok.label(SSH) == Level.NONE


def test_authored_file_errors_name_the_line(tmp_path: Path) -> None:
    (tmp_path / "authored").mkdir()
    (tmp_path / "authored" / "messages.jsonl").write_text(
        '{"id": "a", "text": "t", "labels": {}}\n{"id": "b", "text": "t", "labels": {"suicide_self_harm": "huge"}}\n',
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match=r"messages.jsonl:2"):
        list(load_authored(tmp_path, 13))


def test_identity_swaps_and_mask() -> None:
    dims = {d.name: d for d in dimensions()}
    vs, prefixed = variants("My brother said he feels hopeless", dims["gender"])
    assert not prefixed and "My sister said she feels hopeless" in vs
    vs, prefixed = variants("I feel hopeless", dims["age"])
    assert prefixed and all(v.endswith("I feel hopeless") for v in vs)
    assert mask_identity("as a black person, i feel alone").text == "as a person, i feel alone"
    assert mask_identity("my son said he can't go on").text == "my child said they can't go on"
    assert mask_identity("i told her. her bag was gone").text == "i told them. their bag was gone"
    assert mask_identity("a middle-aged adult").text == "a person"
    # "they" takes the plural verb, so "he has" and "they have" read the same to the learned layer.
    assert mask_identity("he has been saving pills").text == "they have been saving pills"
    assert mask_identity("she always tries to hide it").text == "they always try to hide it"
    assert mask_identity("she watches the news and she is scared").text == "they watch the news and they are scared"
    assert mask_identity("he's been quiet").text == "they've been quiet"
    said = "she has saved pills and is going to take them. tom and is"
    assert mask_identity(said).text == "they have saved pills and are going to take them. tom and is"
    assert mask_identity("he kisses his wife").text == "they kiss their spouse"
    # "her" after a verb that takes a person is the object, like "him".
    assert mask_identity("it sends her coded messages").text == mask_identity("it sends him coded messages").text
    vs, _ = variants("They're sure he is fine", dims["gender"])
    assert all(v.startswith("They're") for v in vs)
    vs, _ = variants("I'm East Asian", dims["race_ethnicity"])
    assert "I'm East White" not in vs
    m = mask_identity("i'm a 16-year-old gay boy")
    assert m.text == "i'm a person"
    assert m.span_to_source(0, len(m.text)) == (0, len("i'm a 16-year-old gay boy"))


def test_counterfactual_check_reports_largest_change() -> None:
    rep = counterfactual_check(["he is sad", "hello"], lambda b: [0.5 + 0.1 * ("she" in t) for t in b])
    assert rep.per_dimension["gender"] == pytest.approx(0.1)
    assert rep.largest == pytest.approx(0.1)


def test_augmentation_only_touches_authored_train() -> None:
    base = [
        Example("a", "my brother feels hopeless", "authored", "a", {}, frozenset(), split="train"),
        Example("b", "my brother feels hopeless", "authored", "b", {}, frozenset(), split="dev"),
        Example("c", "my brother feels hopeless", "dreaddit", "c", {}, frozenset(), split="train"),
    ]
    aug = identity_augmented(base, seed=1, per_example=2)
    assert {a.id.split("~")[0] for a in aug} == {"a"}
    assert all("identity_augmented" in a.tags for a in aug)


def test_shipped_heads_load_and_are_consistent() -> None:
    heads = HeadSet.load()
    assert {h.category for h in heads.heads} == set(Category)
    for h in heads.heads:
        n_exemplar = 5 if heads.bank is not None else 0
        assert h.weights.shape == (384 + len(heads.feature_names) + n_exemplar,)
        assert 0.0 <= h.threshold <= 1.01


def test_span_validation() -> None:
    with pytest.raises(ValueError):
        Span(5, 2)
    assert Level.parse("Moderate") == Level.MODERATE
    with pytest.raises(ValueError, match="expected one of"):
        Level.parse("severe")


@pytest.mark.parametrize("n_bank", [40, 2000])
def test_exemplar_features_all_matches_per_category_reference(n_bank: int) -> None:
    """The fast candidate path must give the exact per-category features, including rows whose nearest
    candidates hold too few of one side (the fallback) and tiny sides (the direct path)."""
    from mindrail.risk.exemplars import ExemplarBank
    from mindrail.risk.types import CATEGORIES

    rng = np.random.default_rng(7)
    vecs = rng.standard_normal((n_bank, 16)).astype(np.float32)
    vecs[: n_bank // 2, 0] += 8.0  # positives of category 0 cluster, so near windows see no negatives nearby
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    labels = rng.choice(np.array([-1, 0, 1], dtype=np.int8), size=(n_bank, len(CATEGORIES)), p=[0.1, 0.8, 0.1])
    labels[:, 0] = np.where(np.arange(n_bank) < n_bank // 2, 1, 0)  # a large positive side
    bank = ExemplarBank(vecs, labels)
    windows = np.concatenate([vecs[:30] + 0.01, rng.standard_normal((30, 16)).astype(np.float32)])
    windows /= np.linalg.norm(windows, axis=1, keepdims=True)
    sims = bank.similarities(windows)
    fast = bank.features_all(sims)
    for c in CATEGORIES:
        np.testing.assert_allclose(fast[c], bank.features(sims, c), atol=1e-5)
    assert bank.features_all(sims[:0])[CATEGORIES[0]].shape == (0, 5)


def test_iter_assess_in_parallel_keeps_order_and_matches_single(engine: RiskEngine) -> None:
    texts = [f"message {i}: " + t for i, t in enumerate(["the bus was late", "i want to die", "", "lovely day"] * 9)]
    many = list(engine.iter_assess(texts, batch_size=4))
    assert len(many) == len(texts)
    for text, a in zip(texts, many, strict=True):
        single = engine.assess(text)
        assert a.level(Category.SUICIDE_SELF_HARM) == single.level(Category.SUICIDE_SELF_HARM)
        assert a.score(Category.SUICIDE_SELF_HARM) == pytest.approx(single.score(Category.SUICIDE_SELF_HARM), abs=1e-5)
    with pytest.raises(ValueError, match="batch_size"):
        next(engine.iter_assess(texts, batch_size=0))
