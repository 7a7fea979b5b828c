"""The MI coder's training data and evaluation plumbing (the figures themselves come from `make bench`)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from mindrail.practice.cards import Act
from mindrail.practice.coder import CODES, MAIN, SkillCoder, default_coder
from mindrail.training.dataset import default_shared_dir
from mindrail.training.mi_coder import (
    Utterance,
    default_domain_file,
    dialogue_features,
    fit_heads,
    load_annomi,
    load_trainee_turns,
    one_hot,
    splits,
)


def test_split_is_by_dialogue_stratified_and_stable() -> None:
    dialogues = {d: ("low" if d % 5 == 0 else "high") for d in range(100)}
    a, b = splits(dialogues), splits(dict(reversed(list(dialogues.items()))))
    assert a == b
    test = [d for d, s in a.items() if s == "test"]
    assert Counter(dialogues[d] for d in test) == {"high": 16, "low": 4}


def test_domain_lines_map_to_main_codes_and_subtypes() -> None:
    rows = load_trainee_turns(default_domain_file())
    assert len(rows) >= 200
    assert {u.act for u in rows} == set(CODES)


def test_heads_fit_and_load_into_a_coder() -> None:
    rng = np.random.default_rng(0)
    rows = [
        Utterance(i, "high", f"t{i}", "", MAIN[i % 4], (i // 4) % 2 if MAIN[i % 4] != "other" else None)
        for i in range(80)
    ]
    x = rng.normal(size=(80, 384)).astype(np.float32)
    x[:, :4] += 3 * np.eye(4)[[MAIN.index(u.main) for u in rows]]
    enc = default_coder().encoder
    heads = fit_heads(rows, x, enc.version)
    codes = SkillCoder(heads, enc).code_vectors(x)
    assert sum(c.main == u.main for c, u in zip(codes, rows, strict=True)) >= 70
    assert all(abs(sum(c.probs) - 1.0) < 1e-6 for c in codes)


def test_dialogue_features_from_human_codes() -> None:
    acts = [Act.REFLECTION_COMPLEX, Act.REFLECTION_SIMPLE, Act.QUESTION_OPEN, Act.ADVICE]
    f = dialogue_features(np.vstack([one_hot(a) for a in acts]))
    assert f[1] == 0.5 and f[2] == 1.0 and f[3] == 0.5 and f[5] == 0.25


def test_annomi_loads_when_the_shared_data_is_here() -> None:
    if not (default_shared_dir() / "annomi").is_dir():
        pytest.skip("the shared public data is not next to this checkout")
    rows = load_annomi()
    assert len({u.dialogue for u in rows}) == 133
    assert Counter(u.main for u in rows)["reflection"] > 1000
