"""Sentence encoder for the risk engine: int8 all-MiniLM-L6-v2 on ONNX Runtime, no torch at runtime.

The model (all-MiniLM-L6-v2 fine-tuned on the risk corpus, int8) is committed; :mod:`mindrail.training.finetune`
and :mod:`mindrail.training.build_encoder` rebuild it (``make train-encoder``); this module only loads
the ONNX file and the ``tokenizers`` tokenizer, so importing it costs neither torch nor onnx.

Long texts are never silently truncated: :meth:`Encoder.embed_windows` splits them into overlapping
windows of ``max_tokens`` tokens so that content late in a long message still gets a vector. A window
covers at most ``max_tokens - 2`` text tokens plus ``[CLS]``/``[SEP]``, and consecutive windows start
``stride`` tokens apart.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "Encoder",
    "EncoderNotBuilt",
    "Windows",
    "default_encoder_dir",
]

MODEL_NAME = "model.int8.onnx"
TOKENIZER_NAME = "tokenizer.json"
MANIFEST_NAME = "manifest.json"
ENV_DIR = "MINDRAIL_ENCODER_DIR"
VERSION_PREFIX = "minilm-l6-int8"
_BUILD_HINT = "make train-encoder"

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


class EncoderNotBuilt(RuntimeError):
    """The encoder artifacts are missing or incomplete: build them before using the risk engine."""


def default_encoder_dir() -> Path:
    """Where the built encoder lives: ``$MINDRAIL_ENCODER_DIR`` or ``artifacts/encoder`` beside this file."""
    env = os.environ.get(ENV_DIR)
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parent / "artifacts" / "encoder"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks (model files are tens of MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Windows:
    """Embeddings of every window of a batch of texts.

    ``vectors[i]`` is the L2-normalised embedding of window ``i``, which came from text ``owner[i]`` and
    covers the characters ``text[char_spans[i][0]:char_spans[i][1]]`` of it. Windows of one text are
    contiguous and in text order; texts appear in input order.
    """

    vectors: FloatArray
    owner: npt.NDArray[np.intp]
    char_spans: list[tuple[int, int]]


@dataclass(frozen=True)
class _Window:
    owner: int
    ids: list[int]  # including [CLS] and [SEP]
    span: tuple[int, int]


class Encoder:
    """Embeds texts into 384-d unit vectors with the int8 all-MiniLM-L6-v2 ONNX model.

    One instance is safe to share between threads (ONNX Runtime sessions and ``tokenizers`` encodes are
    thread-safe). ``threads`` is how many batches of windows run at once, each on one ONNX Runtime thread:
    on 2 cores that measured faster than one batch on ONNX Runtime's 2-thread intra-op pool, both for short
    messages (no pool to wake) and for throughput. ``max_tokens`` (including [CLS]/[SEP])
    bounds the cost of one window; ``stride`` is how many new tokens each further window of a long text
    starts after the previous one, so ``max_tokens - 2 - stride`` tokens of context overlap.

    With the default ``per-token`` build a text's vector does not depend on batch size, padding or its
    batch neighbours (to ~1e-7), so embeddings computed for training and at serving time agree.
    """

    version: str
    dim: int

    def __init__(
        self,
        model_dir: Path | None = None,
        *,
        threads: int = 2,
        max_tokens: int = 128,
        stride: int = 96,
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.model_dir = Path(model_dir) if model_dir is not None else default_encoder_dir()
        manifest = self._load_manifest(self.model_dir)
        max_positions = int(manifest.get("model", {}).get("max_position_embeddings", 512))
        if not 3 <= max_tokens <= max_positions:
            raise ValueError(f"max_tokens must be in [3, {max_positions}], got {max_tokens}")
        if not 1 <= stride <= max_tokens - 2:
            raise ValueError(f"stride must be in [1, max_tokens - 2 = {max_tokens - 2}], got {stride}")
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self.max_tokens = max_tokens
        self.stride = stride
        self.threads = threads

        model_path = self.model_dir / MODEL_NAME
        model_sha = sha256_file(model_path)
        expected_sha = manifest.get("model", {}).get("sha256")
        if expected_sha != model_sha:
            raise EncoderNotBuilt(
                f"{model_path} does not match its manifest (sha256 {model_sha[:12]} != "
                f"{str(expected_sha)[:12]}); rebuild it: {_BUILD_HINT} --force"
            )
        self.version = f"{VERSION_PREFIX}-{model_sha[:12]}"

        self._tokenizer = Tokenizer.from_file(str(self.model_dir / TOKENIZER_NAME))
        # The shipped tokenizer.json pads and truncates to 128; windowing needs the whole text.
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        cls_id = self._tokenizer.token_to_id("[CLS]")
        sep_id = self._tokenizer.token_to_id("[SEP]")
        pad_id = self._tokenizer.token_to_id("[PAD]")
        if cls_id is None or sep_id is None or pad_id is None:
            raise EncoderNotBuilt(f"{self.model_dir / TOKENIZER_NAME} lacks [CLS]/[SEP]/[PAD]")
        self._cls, self._sep, self._pad = int(cls_id), int(sep_id), int(pad_id)

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])
        # A single batch (one chat message) has nothing to run side by side with, so it runs on one session with
        # a ``threads``-wide intra-op pool instead: measured 6.5 -> 5.3 ms for a short message at 2 threads.
        self._wide = self._session
        if threads > 1:
            wide = ort.SessionOptions()
            wide.intra_op_num_threads = threads
            wide.inter_op_num_threads = 1
            wide.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            wide.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            self._wide = ort.InferenceSession(str(model_path), wide, providers=["CPUExecutionProvider"])
        self.dim = int(self._session.get_outputs()[0].shape[-1])
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def pool(self) -> ThreadPoolExecutor:
        """``threads`` workers, created on first use and shared by every caller of this encoder."""
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="mindrail-encoder")
            return self._pool

    @staticmethod
    def _load_manifest(model_dir: Path) -> dict[str, Any]:
        missing = [n for n in (MODEL_NAME, TOKENIZER_NAME, MANIFEST_NAME) if not (model_dir / n).is_file()]
        if missing:
            raise EncoderNotBuilt(
                f"sentence encoder not built: {model_dir} lacks {', '.join(missing)}. The shipped encoder is "
                f"committed: restore it with `git checkout src/mindrail/risk/artifacts/encoder`, or rebuild it with "
                f"`{_BUILD_HINT}` (python -m mindrail.training.build_encoder for the base model) "
                f"(or point ${ENV_DIR} at a built encoder directory)."
            )
        try:
            manifest: dict[str, Any] = json.loads((model_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
        except ValueError as exc:
            raise EncoderNotBuilt(f"{model_dir / MANIFEST_NAME} is unreadable ({exc}); rebuild it") from exc
        return manifest

    # ---------------------------------------------------------------- public API

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> FloatArray:
        """One unit vector per text, shape ``(len(texts), dim)``.

        Only the FIRST window of each text is embedded (its first ``max_tokens - 2`` tokens), which matches
        sentence-transformers with ``max_seq_length = max_tokens``. Use :meth:`embed_windows` when the end
        of long texts matters.
        """
        windows = [per_text[0] for per_text in self._split(texts)]
        return self._run(windows, batch_size)

    def embed_windows(self, texts: Sequence[str], batch_size: int = 32) -> Windows:
        """Embed every window of every text; each text yields at least one window (``""`` -> [CLS][SEP])."""
        windows = [w for per_text in self._split(texts) for w in per_text]
        return Windows(
            vectors=self._run(windows, batch_size),
            owner=np.array([w.owner for w in windows], dtype=np.intp),
            char_spans=[w.span for w in windows],
        )

    # ---------------------------------------------------------------- internals

    @staticmethod
    def _check(texts: Sequence[str]) -> Sequence[str]:
        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of strings, not a single str")
        for text in texts:
            if not isinstance(text, str):
                raise TypeError(f"texts must contain str, got {type(text).__name__}")
        return texts

    def _split(self, texts: Sequence[str]) -> list[list[_Window]]:
        """Tokenise all texts in one Rust call and cut each into windows."""
        encodings = self._tokenizer.encode_batch(list(self._check(texts)), add_special_tokens=False)
        return [self._windows_of(i, enc.ids, enc.offsets) for i, enc in enumerate(encodings)]

    def _windows_of(self, owner: int, ids: list[int], offsets: list[tuple[int, int]]) -> list[_Window]:
        n = len(ids)
        if n == 0:
            return [_Window(owner, [self._cls, self._sep], (0, 0))]
        span = self.max_tokens - 2
        out: list[_Window] = []
        start = 0
        while True:
            end = min(start + span, n)
            ids_w = [self._cls, *ids[start:end], self._sep]
            out.append(_Window(owner, ids_w, (offsets[start][0], offsets[end - 1][1])))
            if end == n:
                return out
            start += self.stride

    def _run(self, windows: Sequence[_Window], batch_size: int) -> FloatArray:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        out = np.empty((len(windows), self.dim), dtype=np.float32)
        # Longest first, so batches hold similar lengths and padding (wasted compute) stays small.
        order = sorted(range(len(windows)), key=lambda i: -len(windows[i].ids))
        batches = [order[lo : lo + batch_size] for lo in range(0, len(order), batch_size)]
        if self.threads > 1 and len(batches) > 1:
            results = self.pool().map(lambda b: self._run_batch(windows, b), batches)
            for idx, vectors in zip(batches, results, strict=True):
                out[idx] = vectors
        else:
            for idx in batches:
                out[idx] = self._run_batch(windows, idx, self._wide)
        return out

    def _run_batch(self, windows: Sequence[_Window], idx: list[int], session: Any = None) -> FloatArray:
        width = len(windows[idx[0]].ids)
        input_ids: IntArray = np.full((len(idx), width), self._pad, dtype=np.int64)
        mask: IntArray = np.zeros((len(idx), width), dtype=np.int64)
        for row, i in enumerate(idx):
            ids = windows[i].ids
            input_ids[row, : len(ids)] = ids
            mask[row, : len(ids)] = 1
        (vectors,) = (session or self._session).run(["embedding"], {"input_ids": input_ids, "attention_mask": mask})
        return np.asarray(vectors, dtype=np.float32)
