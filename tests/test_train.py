"""`mindrail train` reproduces heads from data, seeded: same inputs, same bytes."""

from __future__ import annotations

from pathlib import Path

from mindrail.risk.engine import RiskEngine
from mindrail.risk.heads import HeadSet
from mindrail.risk.patterns import PatternDetector
from mindrail.training.dataset import load_corpus
from mindrail.training.train import embed_corpus, run_training, train_heads


def test_training_is_seeded_and_loadable(engine: RiskEngine, tmp_path: Path) -> None:
    examples = load_corpus(sources=("authored",))
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


def test_run_training_end_to_end_on_a_subset(engine: RiskEngine, tmp_path: Path) -> None:
    out, report = run_training(
        tmp_path / "heads.json", sources=("authored",), cache_dir=None, encoder=engine.detector.encoder
    )
    assert out.exists() and (tmp_path / "training-report.json").exists()
    assert report["corpus"]["authored"]["train"] > 500
    custom = RiskEngine.load(heads_path=out)
    assert custom.assess("i want to die").top_level.label != "none"
