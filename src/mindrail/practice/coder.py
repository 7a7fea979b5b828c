"""The MI skill coder: what a trainee utterance does, in the codes of MITI 4.2.1 as annotated in AnnoMI
(reflection simple or complex, question open or closed, giving information or advice, other). A sentence
encoder (``practice/artifacts/mi_encoder``: all-MiniLM-L6-v2 fine-tuned on AnnoMI's therapist codes, the same
int8 ONNX runtime as the risk engine) embeds the utterance alone (the person's words before it did not help on
validation, docs/practice.md); linear heads
(``practice/artifacts/mi_coder.json``, made by ``mindrail.training.mi_coder``) give the main code and then its
subtype. Torch-free at run time."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mindrail.practice.cards import Act
from mindrail.risk.encoder import Encoder

MAIN = ("other", "question", "reflection", "therapist_input")
"""AnnoMI's main therapist behaviours, in the order of the head's rows."""
SUBTYPES: dict[str, tuple[Act, Act]] = {
    "reflection": (Act.REFLECTION_SIMPLE, Act.REFLECTION_COMPLEX),
    "question": (Act.QUESTION_CLOSED, Act.QUESTION_OPEN),
    "therapist_input": (Act.INFORMATION, Act.ADVICE),
}
"""Each main code's two subtypes: the binary head's probability is that of the second."""
CODES: tuple[Act, ...] = (
    Act.REFLECTION_SIMPLE,
    Act.REFLECTION_COMPLEX,
    Act.QUESTION_CLOSED,
    Act.QUESTION_OPEN,
    Act.INFORMATION,
    Act.ADVICE,
    Act.OTHER,
)


@dataclass(frozen=True, slots=True)
class SkillCode:
    act: Act
    """The code: reflection_simple/complex, question_open/closed, information, advice or other."""
    main: str
    """AnnoMI's main behaviour (other, question, reflection, therapist_input)."""
    p_main: float
    """The main head's probability of ``main``."""
    p_subtype: float | None
    """The subtype head's probability of the chosen subtype (None for other)."""
    probs: tuple[float, ...] = ()
    """Probability of each of ``CODES`` (main × subtype): summed over a session they give expected counts,
    which estimate MITI figures with less bias than counting each turn's single code."""

    @property
    def is_reflection(self) -> bool:
        return self.main == "reflection"

    @property
    def is_question(self) -> bool:
        return self.main == "question"


@dataclass(frozen=True, slots=True)
class _Linear:
    coef: npt.NDArray[np.float64]
    intercept: npt.NDArray[np.float64]

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> _Linear:
        return cls(np.asarray(raw["coef"], dtype=np.float64), np.asarray(raw["intercept"], dtype=np.float64))

    def logits(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        return np.asarray(x, dtype=np.float64) @ self.coef.T + self.intercept


def _softmax(z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: npt.NDArray[np.float64] = e / e.sum(axis=1, keepdims=True)
    return out


def artifacts_dir() -> Path:
    return Path(str(resources.files("mindrail.practice").joinpath("artifacts")))


class SkillCoder:
    """Codes trainee utterances; ``code_many`` batches them (one encoder call)."""

    def __init__(self, heads: dict[str, Any], encoder: Encoder) -> None:
        if tuple(heads["main"]["classes"]) != MAIN:
            raise ValueError(f"mi_coder.json: main classes must be {MAIN}")
        if heads.get("encoder") and heads["encoder"] != encoder.version:
            raise ValueError("mi_coder.json was trained on another encoder build; run `mindrail train --only mi-coder`")
        self.encoder = encoder
        self.version = str(heads["version"])
        self._main = _Linear.from_json(heads["main"])
        self._sub = {k: _Linear.from_json(heads["subtypes"][k]) for k in SUBTYPES}

    @classmethod
    def load(cls, directory: Path | None = None, *, threads: int = 2) -> SkillCoder:
        folder = directory or artifacts_dir()
        heads = json.loads((folder / "mi_coder.json").read_text(encoding="utf-8"))
        return cls(heads, Encoder(folder / "mi_encoder", threads=threads))

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        return self.encoder.embed(list(texts))

    def code_vectors(self, x: npt.NDArray[np.float32]) -> list[SkillCode]:
        p = _softmax(self._main.logits(x))
        p_second = {k: 1.0 / (1.0 + np.exp(-self._sub[k].logits(x)[:, 0])) for k in SUBTYPES}
        out: list[SkillCode] = []
        for i, row in enumerate(p):
            probs = {Act.OTHER: float(row[MAIN.index("other")])}
            for main, (first, second) in SUBTYPES.items():
                pm, ps = float(row[MAIN.index(main)]), float(p_second[main][i])
                probs[first], probs[second] = pm * (1.0 - ps), pm * ps
            vec = tuple(probs[a] for a in CODES)
            k = int(np.argmax(row))
            main = MAIN[k]
            if main not in SUBTYPES:
                out.append(SkillCode(Act.OTHER, main, float(row[k]), None, vec))
                continue
            first, second = SUBTYPES[main]
            p2 = float(p_second[main][i])
            act, ps = (second, p2) if p2 >= 0.5 else (first, 1.0 - p2)
            out.append(SkillCode(act, main, float(row[k]), ps, vec))
        return out

    def code_many(self, texts: Sequence[str]) -> list[SkillCode]:
        return self.code_vectors(self.embed(texts)) if texts else []

    def code(self, text: str) -> SkillCode:
        return self.code_many([text])[0]


@cache
def default_coder() -> SkillCoder:
    return SkillCoder.load()
