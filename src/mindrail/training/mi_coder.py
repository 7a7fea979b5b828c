"""Train and measure the practice simulator's MI skill coder on AnnoMI (``../shared/data/annomi``).

* **Data:** AnnoMI's therapist utterances (133 dialogues, expert MITI-style codes). The main code comes from
  ``AnnoMI-simple.csv``; the subtype (reflection simple/complex, question open/closed, input information/advice)
  from ``AnnoMI-full.csv`` (the majority over annotators where a dialogue was coded by several). AnnoMI's
  "options" input is advice (the therapist proposes what to do); "negotiation" (goal-setting) is information.
* **Split, by dialogue:** 20% of the high-quality and 20% of the low-quality dialogues (by a salted hash of the
  transcript id) are the test split, never used to choose anything. Inside the rest, 20% more by another salt is
  the validation split that settings were chosen on; the shipped coder is trained on train + validation.
* **Model:** all-MiniLM-L6-v2 fine-tuned on the main code and the two subtype decisions (``finetune``, torch, in
  the training venv), built to int8 ONNX by ``build_encoder``; then logistic heads on its embeddings
  (``heads``, numpy at run time, fitted here with scikit-learn).

Usage::

    python -m mindrail.training.mi_coder finetune --out .cache/mi-finetune        # .venv-train (torch)
    python -m mindrail.training.build_encoder --source .cache/mi-finetune \
        --out src/mindrail/practice/artifacts/mi_encoder --force
    python -m mindrail.training.mi_coder heads                                     # writes mi_coder.json
    python -m mindrail.training.mi_coder evaluate --json out.json                  # test-split figures
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from mindrail.datafiles import read_jsonl
from mindrail.practice.cards import Act
from mindrail.practice.coder import CODES, MAIN, SUBTYPES, SkillCoder, artifacts_dir
from mindrail.practice.evaluation import TraineeTurn
from mindrail.stats import icc_a1, macro_f1
from mindrail.training.dataset import default_shared_dir
from mindrail.training.metrics import auroc

Split = Literal["train", "val", "test"]
SEED = 13
TEST_SHARE = 0.2
VAL_SHARE = 0.2
SUBTYPE_OF = {
    "reflection": {"simple": 0, "complex": 1},
    "question": {"closed": 0, "open": 1},
    "therapist_input": {"information": 0, "negotiation": 0, "advice": 1, "options": 1},
}


@dataclass(frozen=True, slots=True)
class Utterance:
    dialogue: int
    quality: str
    text: str
    context: str
    """The utterance before it (the client's, almost always)."""
    main: str
    subtype: int | None
    """0/1 for SUBTYPES[main] (first, second); None when the annotators gave none."""

    @property
    def act(self) -> Act:
        if self.main not in SUBTYPES:
            return Act.OTHER
        return SUBTYPES[self.main][self.subtype or 0]


def _h(salt: str, dialogue: int) -> str:
    return hashlib.sha256(f"{salt}:{dialogue}".encode()).hexdigest()


def splits(dialogues: dict[int, str]) -> dict[int, Split]:
    """Dialogue → split, stratified by MI quality, by salted hash (stable as the code changes)."""
    out: dict[int, Split] = {}
    for quality in sorted(set(dialogues.values())):
        ids = sorted((d for d, q in dialogues.items() if q == quality), key=lambda d: _h("annomi-mi", d))
        n_test = round(len(ids) * TEST_SHARE)
        rest = sorted(ids[n_test:], key=lambda d: _h("val", d))
        n_val = round(len(rest) * VAL_SHARE)
        out |= {d: "test" for d in ids[:n_test]}
        out |= {d: "val" for d in rest[:n_val]}
        out |= {d: "train" for d in rest[n_val:]}
    return out


def load_annomi(shared: Path | None = None) -> list[Utterance]:
    """Therapist utterances in dialogue order; a missing file or column is an error naming it."""
    folder = (shared or default_shared_dir()) / "annomi"
    subtypes: dict[tuple[str, str], dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    with (folder / "AnnoMI-full.csv").open(encoding="utf-8", newline="") as fh:
        for n, row in enumerate(csv.DictReader(fh), 2):
            try:
                key = (row["transcript_id"], row["utterance_id"])
                for col in ("reflection_subtype", "question_subtype", "therapist_input_subtype"):
                    if row[col] not in ("", "n/a"):
                        subtypes[key][col][row[col]] += 1
            except KeyError as exc:
                raise ValueError(f"{folder / 'AnnoMI-full.csv'}:{n}: missing column {exc}") from None
    by: dict[str, list[dict[str, str]]] = defaultdict(list)
    with (folder / "AnnoMI-simple.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            by[row["transcript_id"]].append(row)
    column = {
        "reflection": "reflection_subtype",
        "question": "question_subtype",
        "therapist_input": "therapist_input_subtype",
    }
    out: list[Utterance] = []
    for tid in sorted(by, key=int):
        prev = ""
        for row in sorted(by[tid], key=lambda r: int(r["utterance_id"])):
            if row["interlocutor"] == "therapist":
                main = row["main_therapist_behaviour"]
                if main not in MAIN:
                    raise ValueError(f"AnnoMI-simple.csv: transcript {tid}: unknown behaviour {main!r}")
                sub = None
                if main in column:
                    votes = subtypes[(tid, row["utterance_id"])][column[main]]
                    if votes:
                        sub = SUBTYPE_OF[main].get(votes.most_common(1)[0][0])
                out.append(Utterance(int(tid), row["mi_quality"], row["utterance_text"], prev, main, sub))
            prev = row["utterance_text"]
    return out


def default_domain_file() -> Path:
    return Path(__file__).resolve().parents[3] / "data" / "practice" / "eval" / "trainee_turns.dev.jsonl"


def load_trainee_turns(path: Path) -> list[Utterance]:
    """Practice-domain lines as utterances (AnnoMI has almost no blunt advice, judgement or questions about
    suicide; a trainee's turns have many). Only the dev file may be trained on; the test file is measured."""
    inverse = {a: (main, i) for main, pair in SUBTYPES.items() for i, a in enumerate(pair)}
    out = []
    for line in read_jsonl(path, TraineeTurn):
        main, sub = inverse.get(line.code, ("other", None))
        out.append(Utterance(-1, "n/a", line.text, line.context, main, sub))
    return out


# ---------------------------------------------------------------------------------------------- fine-tune
def finetune(
    utts: Sequence[Utterance],
    out_dir: Path,
    *,
    epochs: int = 3,
    lr: float = 5e-5,
    batch_size: int = 32,
    seed: int = SEED,
) -> Path:
    """Fine-tune the encoder on ``utts``: softmax over the 4 main codes (class-balanced) plus the two subtype
    decisions of the utterance's own main code (half weight). Input is the utterance alone: appending the
    person's words before it did not help on the validation split (0.729 against 0.746 macro-F1)."""
    import torch

    from mindrail.training.build_encoder import source_model_dir
    from mindrail.training.finetune import (
        optimiser,
        save_like_source,
        seed_everything,
        sentence_embedding,
        source_tokenizer,
        trainable_encoder,
        update,
    )

    t0 = time.perf_counter()
    rng = seed_everything(seed)
    src = source_model_dir()
    tok, cls_id, sep_id, pad_id = source_tokenizer(src)
    ids = [e.ids[:126] for e in tok.encode_batch([u.text for u in utts], add_special_tokens=False)]
    y_main = torch.tensor([MAIN.index(u.main) for u in utts])
    sub_cols = [k for k in MAIN if k in SUBTYPES]
    y_sub = torch.full((len(utts), len(sub_cols)), -100, dtype=torch.long)
    for i, u in enumerate(utts):
        if u.main in SUBTYPES and u.subtype is not None:
            y_sub[i, sub_cols.index(u.main)] = u.subtype
    counts = torch.bincount(y_main, minlength=len(MAIN)).clamp(min=1).float()
    class_w = len(utts) / (len(MAIN) * counts)
    model = trainable_encoder(src)
    head = torch.nn.Linear(model.config.hidden_size, len(MAIN) + 2 * len(sub_cols))
    opt, base_lrs = optimiser(model, head, lr)
    params = [*(p for p in model.parameters() if p.requires_grad), *head.parameters()]
    steps = -(-len(utts) // batch_size) * epochs
    warmup = max(1, int(0.06 * steps))
    step, losses = 0, []
    for _ in range(epochs):
        order = rng.permutation(len(utts))
        total = 0.0
        for b in range(0, len(order), batch_size):
            idx = torch.from_numpy(order[b : b + batch_size])
            seqs = [[cls_id, *ids[int(i)], sep_id] for i in idx]
            logits = 20.0 * head(sentence_embedding(model, seqs, pad_id))
            loss = torch.nn.functional.cross_entropy(logits[:, : len(MAIN)], y_main[idx], weight=class_w)
            for j in range(len(sub_cols)):
                target = y_sub[idx, j]
                if bool((target >= 0).any()):
                    lo = len(MAIN) + 2 * j
                    part = torch.nn.functional.cross_entropy(logits[:, lo : lo + 2], target, ignore_index=-100)
                    loss = loss + 0.5 * part
            step += 1
            update(opt, base_lrs, loss, params, step, warmup, steps)
            total += float(loss.detach()) * len(idx)
        losses.append(round(total / len(utts), 6))
    save_like_source(model, src, out_dir)
    info = {
        "task": "annomi therapist codes",
        "utterances": len(utts),
        "epochs": epochs,
        "lr": lr,
        "batch_size": batch_size,
        "seed": seed,
        "loss_per_epoch": losses,
        "wall_time_s": round(time.perf_counter() - t0, 1),
    }
    (out_dir / "finetune.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return out_dir


# ---------------------------------------------------------------------------------------------- heads
def _fit(x: npt.NDArray[np.float32], y: npt.NDArray[np.int_], c: float) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression

    m = LogisticRegression(C=c, max_iter=5000, class_weight="balanced", random_state=SEED).fit(x, y)
    return {"coef": np.round(m.coef_, 7).tolist(), "intercept": np.round(m.intercept_, 7).tolist()}


def fit_heads(
    utts: Sequence[Utterance], x: npt.NDArray[np.float32], encoder_version: str, c: float = 4.0
) -> dict[str, Any]:
    """The main head (4 classes) and one binary head per main code with subtypes, on its own utterances."""
    y = np.asarray([MAIN.index(u.main) for u in utts])
    heads: dict[str, Any] = {
        "version": f"mi-coder-{encoder_version[-12:]}",
        "encoder": encoder_version,
        "main": {"classes": list(MAIN), **_fit(x, y, c)},
        "subtypes": {},
    }
    for main in SUBTYPES:
        rows = [i for i, u in enumerate(utts) if u.main == main and u.subtype is not None]
        ys = np.asarray([utts[i].subtype for i in rows])
        heads["subtypes"][main] = {"classes": [a.value for a in SUBTYPES[main]], **_fit(x[rows], ys, c)}
    return heads


# ---------------------------------------------------------------------------------------------- evaluation
def one_hot(act: Act) -> npt.NDArray[np.float64]:
    v = np.zeros(len(CODES))
    v[CODES.index(act)] = 1.0
    return v


def dialogue_features(probs: npt.NDArray[np.float64]) -> list[float]:
    """A dialogue's summary from its therapist turns' code probabilities (one-hot for human codes; the coder's
    probabilities give expected counts): the log reflection-to-question ratio, % complex reflections, % open
    questions, and the shares of reflections, of information/advice and of advice among all therapist turns."""
    c = dict(zip(CODES, probs.sum(axis=0), strict=True))
    n = max(len(probs), 1)
    r = c[Act.REFLECTION_SIMPLE] + c[Act.REFLECTION_COMPLEX]
    q = c[Act.QUESTION_CLOSED] + c[Act.QUESTION_OPEN]
    return [
        math.log((r + 0.5) / (q + 0.5)),
        c[Act.REFLECTION_COMPLEX] / r if r else 0.0,
        c[Act.QUESTION_OPEN] / q if q else 0.0,
        r / n,
        (c[Act.INFORMATION] + c[Act.ADVICE]) / n,
        c[Act.ADVICE] / n,
    ]


def evaluate(utts: Sequence[Utterance], coder: SkillCoder, *, on: Split = "test", soft: bool = True) -> dict[str, Any]:
    """Figures on the test dialogues: utterance codes against AnnoMI's, MITI summaries per dialogue against
    those from the human codes (ICC), and dialogue quality (high/low) from the summary alone (AUROC; the
    scorer is a logistic regression fitted on the train+val dialogues' human-coded summaries, so nothing about
    the test dialogues is fitted)."""
    from sklearn.linear_model import LogisticRegression

    split = splits({u.dialogue: u.quality for u in utts})
    test = [u for u in utts if split[u.dialogue] == on]
    codes = coder.code_many([u.text for u in test])
    gold_main, pred_main = [u.main for u in test], [c.main for c in codes]
    f1, per = macro_f1(gold_main, pred_main, MAIN)
    gold7 = [u.act.value for u in test]
    pred7 = [c.act.value for c in codes]
    f1_7, per7 = macro_f1(
        gold7,
        pred7,
        [
            a.value
            for a in (
                Act.REFLECTION_SIMPLE,
                Act.REFLECTION_COMPLEX,
                Act.QUESTION_OPEN,
                Act.QUESTION_CLOSED,
                Act.INFORMATION,
                Act.ADVICE,
                Act.OTHER,
            )
        ],
    )
    sub: dict[str, Any] = {}
    for main, pair in SUBTYPES.items():
        rows = [i for i, u in enumerate(test) if u.main == main and u.subtype is not None and codes[i].main == main]
        g = [test[i].act.value for i in rows]
        p = [codes[i].act.value for i in rows]
        m, per_sub = macro_f1(g, p, [a.value for a in pair])
        sub[main] = {
            "n": len(rows),
            "macro_f1": round(m, 4),
            "f1": {k: round(v, 4) for k, v in per_sub.items()},
            "accuracy": round(sum(a == b for a, b in zip(g, p, strict=True)) / max(len(rows), 1), 4),
        }

    def by_dialogue(rows: Sequence[Utterance], vecs: Sequence[npt.NDArray[np.float64]]) -> dict[int, Any]:
        out: dict[int, list[npt.NDArray[np.float64]]] = defaultdict(list)
        for u, v in zip(rows, vecs, strict=True):
            out[u.dialogue].append(v)
        return {d: np.vstack(v) for d, v in out.items()}

    human = by_dialogue(test, [one_hot(u.act) for u in test])
    machine = by_dialogue(test, [np.asarray(c.probs) if soft else one_hot(c.act) for c in codes])
    dialogues = sorted(human)
    hf = np.asarray([dialogue_features(human[d]) for d in dialogues])
    mf = np.asarray([dialogue_features(machine[d]) for d in dialogues])
    rest = [u for u in utts if split[u.dialogue] in (("train", "val") if on == "test" else ("train",))]
    rest_h = by_dialogue(rest, [one_hot(u.act) for u in rest])
    xr = np.asarray([dialogue_features(rest_h[d]) for d in sorted(rest_h)])
    yr = np.asarray([split_quality(rest, d) == "high" for d in sorted(rest_h)])
    mu, sd = xr.mean(axis=0), xr.std(axis=0) + 1e-9
    scorer = LogisticRegression(C=1.0, max_iter=5000, random_state=SEED).fit((xr - mu) / sd, yr)
    high = [split_quality(test, d) == "high" for d in dialogues]
    score_m = scorer.decision_function((mf - mu) / sd)
    score_h = scorer.decision_function((hf - mu) / sd)
    rq_h = [math.exp(v) for v in hf[:, 0]]
    rq_m = [math.exp(v) for v in mf[:, 0]]
    return {
        "split": on,
        "counts": "expected (code probabilities)" if soft else "one code per turn",
        "dialogues": len(dialogues),
        "low_quality_dialogues": sum(not h for h in high),
        "utterances": len(test),
        "main_macro_f1": round(f1, 4),
        "main_f1": {k: round(v, 4) for k, v in per.items()},
        "codes7_macro_f1": round(f1_7, 4),
        "codes7_f1": {k: round(v, 4) for k, v in per7.items()},
        "subtypes_given_main": sub,
        "icc_reflection_to_question": round(icc_a1(rq_h, rq_m), 4),
        "icc_log_reflection_to_question": round(icc_a1(hf[:, 0], mf[:, 0]), 4),
        "icc_complex_reflection_share": round(icc_a1(hf[:, 1], mf[:, 1]), 4),
        "quality_auroc_predicted_codes": round(auroc(np.asarray(high, dtype=int), score_m) or math.nan, 4),
        "quality_auroc_human_codes": round(auroc(np.asarray(high, dtype=int), score_h) or math.nan, 4),
    }


def split_quality(rows: Sequence[Utterance], dialogue: int) -> str:
    return next(u.quality for u in rows if u.dialogue == dialogue)


# ---------------------------------------------------------------------------------------------- CLI
def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mindrail.training.mi_coder")
    sub = ap.add_subparsers(dest="cmd", required=True)
    ft = sub.add_parser("finetune", help="fine-tune the encoder on train+val dialogues (torch)")
    ft.add_argument("--out", type=Path, default=Path(".cache/mi-finetune"))
    ft.add_argument("--epochs", type=int, default=3)
    ft.add_argument("--lr", type=float, default=5e-5)
    ft.add_argument("--splits", default="train,val", help="which splits to train on (train alone: for selection)")
    hd = sub.add_parser("heads", help="fit the heads on the built encoder; write mi_coder.json")
    hd.add_argument("--artifacts", type=Path, default=None)
    hd.add_argument("--splits", default="train,val")
    ev = sub.add_parser("evaluate", help="test-split figures")
    ev.add_argument("--artifacts", type=Path, default=None)
    ev.add_argument("--json", type=Path, default=None)
    ev.add_argument("--split", choices=("val", "test"), default="test", help="val: only with heads fitted on train")
    ev.add_argument("--hard", action="store_true", help="count one code per turn instead of expected counts")
    for p in (ft, hd, ev):
        p.add_argument("--shared", type=Path, default=None, help="the shared data folder (../shared/data)")
    for p in (ft, hd):
        p.add_argument(
            "--domain",
            type=Path,
            default=default_domain_file(),
            help="practice-domain lines to add (the dev file; 'none' for AnnoMI alone)",
        )
        p.add_argument("--domain-weight", type=int, default=3, help="times each domain line is repeated")
    args = ap.parse_args(argv)
    utts = load_annomi(args.shared)
    split = splits({u.dialogue: u.quality for u in utts})
    domain: list[Utterance] = []
    if args.cmd in ("finetune", "heads") and str(args.domain) != "none":
        domain = load_trainee_turns(args.domain) * args.domain_weight
    if args.cmd == "finetune":
        chosen = set(args.splits.split(","))
        rows = [u for u in utts if split[u.dialogue] in chosen] + domain
        finetune(rows, args.out, epochs=args.epochs, lr=args.lr)
        print(f"wrote {args.out}")
        return 0
    folder = args.artifacts or artifacts_dir()
    if args.cmd == "heads":
        from mindrail.risk.encoder import Encoder

        chosen = set(args.splits.split(","))
        rows = [u for u in utts if split[u.dialogue] in chosen] + domain
        enc = Encoder(folder / "mi_encoder", threads=2)
        x = enc.embed([u.text for u in rows])
        heads = fit_heads(rows, x, enc.version)
        heads["trained_on"] = {
            "data": "AnnoMI (uccollab/AnnoMI @ 42936645), therapist utterances",
            "licence": "freely available for research (see shared/data/annomi)",
            "domain": None
            if not domain
            else {
                "file": "data/practice/eval/trainee_turns.dev.jsonl",
                "writer": "pe-d",
                "repeats": args.domain_weight,
            },
            "splits": sorted(chosen),
            "utterances": len(rows),
            "dialogues": len({u.dialogue for u in rows}),
        }
        (folder / "mi_coder.json").write_text(json.dumps(heads, sort_keys=True) + "\n", encoding="utf-8")
        print(f"wrote {folder / 'mi_coder.json'} ({len(rows)} utterances)")
        return 0
    figures = evaluate(utts, SkillCoder.load(folder), on=args.split, soft=not args.hard)
    text = json.dumps(figures, indent=2)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
