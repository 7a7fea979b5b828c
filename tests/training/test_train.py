"""`mindrail train` reproduces heads from data, seeded: same inputs, same bytes."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from mindrail.risk.engine import RiskEngine
from mindrail.risk.heads import HeadSet
from mindrail.risk.patterns import PatternDetector
from mindrail.risk.types import Category
from mindrail.training.dataset import default_project_data_dir, load_corpus
from mindrail.training.loso import run_loso
from mindrail.training.train import embed_corpus, run_training, train_heads

SSH = "suicide_self_harm"


@pytest.fixture(scope="module")
def v1_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The v1 authored messages alone: every head has positives, and the tests stay fast."""
    root = tmp_path_factory.mktemp("data")
    (root / "authored").mkdir()
    shutil.copy(default_project_data_dir() / "authored" / "messages.jsonl", root / "authored" / "messages.jsonl")
    return root


def test_training_is_seeded_and_loadable(engine: RiskEngine, tmp_path: Path, v1_data: Path) -> None:
    examples = load_corpus(project_data=v1_data, sources=("authored",))
    emb = embed_corpus(examples, engine.detector.encoder, PatternDetector(), cache_dir=None)
    a, report = train_heads(examples, emb, engine.detector.encoder.version, seed=5)
    b, _ = train_heads(examples, emb, engine.detector.encoder.version, seed=5)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    pa, pb = tmp_path / "a" / "heads.json", tmp_path / "b" / "heads.json"
    a.save(pa)
    b.save(pb)
    assert pa.read_bytes() == pb.read_bytes()
    assert (tmp_path / "a" / "heads.exemplars.npz").exists()
    loaded = HeadSet.load(pa)
    assert loaded.version == a.version
    assert "suicide_self_harm>=low" in report
    # Severity heads are conditional on the category: calibrated and measured on its levelled messages only.
    levelled = [ex for ex in examples if ex.split == "dev" and (ex.label(Category.SUICIDE_SELF_HARM) or 0) >= 1]
    assert report["suicide_self_harm>=high"]["dev_n"] == len(levelled)


def test_run_training_end_to_end_on_a_subset(engine: RiskEngine, tmp_path: Path, v1_data: Path) -> None:
    out, report = run_training(
        tmp_path / "heads.json",
        sources=("authored",),
        project_data=v1_data,
        cache_dir=None,
        encoder=engine.detector.encoder,
    )
    assert out.exists() and (tmp_path / "training-report.json").exists()
    assert report["corpus"]["authored"]["train"] > 500
    custom = RiskEngine.load(heads_path=out)
    assert custom.assess("i want to die").top_level.label != "none"


def test_embedded_subset_renumbers_owners(engine: RiskEngine, v1_data: Path) -> None:
    examples = load_corpus(project_data=v1_data, sources=("authored",))[:50]
    emb = embed_corpus(examples, engine.detector.encoder, PatternDetector(), cache_dir=None)
    idx = np.array([3, 10, 11], dtype=np.intp)
    sub, windows = emb.subset(idx)
    assert int(windows.sum()) == len(sub.vectors)
    assert sorted(set(sub.owner.tolist())) == [0, 1, 2]
    assert np.array_equal(sub.features, emb.features[idx])
    assert len(sub.vectors) == int(np.isin(emb.owner, idx).sum())


def test_leave_one_source_out_never_trains_on_the_held_out_source(engine: RiskEngine, v1_data: Path) -> None:
    """A fold's heads are fitted without the held-out source, and the report carries the figures per source."""
    examples = load_corpus(project_data=v1_data, sources=("authored",))
    held = [replace(ex, source="heldout") for ex in examples if ex.group.endswith("7")]
    rest = [ex for ex in examples if not ex.group.endswith("7")]
    corpus = rest + held
    emb = embed_corpus(corpus, engine.detector.encoder, PatternDetector(), cache_dir=None)
    d = engine.detector
    report = run_loso(corpus, emb, d.heads, d.encoder, d.patterns, sources=("heldout",), max_test=120)
    fold = report["heldout"]
    assert fold["n"] == 120 and 0 < fold["positives"] < 120
    assert fold["auroc"] is not None and 0.5 < fold["auroc"] <= 1.0
    lo, hi = fold["auroc_ci95"]
    assert lo <= fold["auroc"] <= hi
    assert fold["fpr_at_high"] <= fold["fpr_at_moderate"] <= fold["fpr_at_low"]


def test_sdcnl_depression_posts_are_negatives_only_when_sdcnl_is_evaluated() -> None:
    """r/depression posts train nothing for suicide (their source cannot say), but SDCNL's own task scores them
    as the negative class."""
    from mindrail.risk.types import Category, Level
    from mindrail.training.dataset import EVAL_SSH_NEGATIVE, default_shared_dir, eval_ssh_label, load_sdcnl

    ssh = Category.SUICIDE_SELF_HARM
    if not (default_shared_dir() / "sdcnl").is_dir():
        pytest.skip("the shared public data is not next to this checkout")
    rows = list(load_sdcnl(default_shared_dir(), 13))
    depression = [ex for ex in rows if EVAL_SSH_NEGATIVE in ex.tags]
    watch = [ex for ex in rows if EVAL_SSH_NEGATIVE not in ex.tags]
    assert depression and watch
    assert all(ex.label(ssh) is None and eval_ssh_label(ex) == Level.NONE for ex in depression)
    assert all(eval_ssh_label(ex) == ex.label(ssh) >= Level.LOW for ex in watch)


def test_compare_table_has_one_column_per_option() -> None:
    from mindrail.training.compare import HELDOUT_SOURCES, table

    challenge = {
        k: 0.5
        for k in (
            "crisis_at_level_or_above",
            "crisis_at_none",
            "benign_at_moderate_or_above",
            "evasion_at_plain_level",
            "multilingual_crisis_at_moderate",
            "conversations_crisis_reached",
        )
    }
    heldout = {s: {"auroc": 0.9, "recall_at_low": 0.8, "fpr_at_low": 0.01} for s in HELDOUT_SOURCES}
    everyday = {"set": {"suicide_at_low_or_above": 0.01, "suicide_at_moderate_or_above": None}}
    row = {"challenge": challenge, "heldout": heldout, "everyday": everyday, "latency_ms_p50": 4.2}
    out = table({"frozen": row, "fine-tuned": row}).splitlines()
    assert out[0] == "| measure | frozen | fine-tuned |"
    assert any(line.startswith("| kaggle_suicide: suicide AUROC | 0.900 | 0.900 |") for line in out)
    assert "| everyday set: suicide >= low / >= moderate | 1.0% / n/a | 1.0% / n/a |" in out


def test_fine_tuning_targets_are_ordinal_rungs_masked_where_the_source_is_silent() -> None:
    """A plan is >= low, >= moderate and >= high but not >= imminent; a category the source does not label is
    neither positive nor negative."""
    from mindrail.risk.types import CATEGORIES, Category, Level
    from mindrail.training.dataset import Example
    from mindrail.training.finetune import ORDINAL_LEVELS, ordinal_targets

    ssh, dis = Category.SUICIDE_SELF_HARM, Category.DISTRESS
    ex = Example("x", "text written for the test", "authored", "g", {ssh: Level.HIGH}, frozenset({ssh, dis}))
    y, known = ordinal_targets([ex])
    width = len(ORDINAL_LEVELS)
    j = CATEGORIES.index(ssh)
    assert y[0, j * width : (j + 1) * width].tolist() == [1.0, 1.0, 1.0, 0.0]
    d = CATEGORIES.index(dis)
    assert y[0, d * width : (d + 1) * width].tolist() == [0.0] * width
    assert known[0, d * width : (d + 1) * width].tolist() == [1.0] * width
    silent = [c for c in CATEGORIES if c not in (ssh, dis)]
    assert all(known[0, CATEGORIES.index(c) * width] == 0.0 for c in silent)
