"""Pattern-layer features given to the learned heads next to the sentence embedding.

One function serves training and inference, so the two can never disagree on what a feature means.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from mindrail.risk.patterns import CONTEXT_NAMES, PatternResult
from mindrail.risk.types import CATEGORIES, Subject

FEATURE_NAMES: tuple[str, ...] = (
    *(f"pattern_level:{c.value}" for c in CATEGORIES),
    *(f"pattern_other:{c.value}" for c in CATEGORIES),
    "dropped_hit",
    "idiom",
    "means_lethal",
    "means_neutral",
    *(f"context:{n}" for n in CONTEXT_NAMES),
    "third_party",
    "first_person",
)
N_FEATURES = len(FEATURE_NAMES)
_CAT_INDEX = {c: i for i, c in enumerate(CATEGORIES)}
_CTX_OFFSET = 2 * len(CATEGORIES) + 4


def pattern_features(result: PatternResult) -> npt.NDArray[np.float32]:
    f = np.zeros(N_FEATURES, dtype=np.float32)
    n = len(CATEGORIES)
    for hit in result.hits:
        i = _CAT_INDEX[hit.category]
        if hit.subject == Subject.OTHER:
            f[n + i] = max(f[n + i], hit.level / 4.0)
        else:
            f[i] = max(f[i], hit.level / 4.0)
    f[2 * n] = 1.0 if result.dropped else 0.0
    f[2 * n + 1] = 1.0 if result.idioms else 0.0
    f[2 * n + 2] = 1.0 if any(m.framing == "lethal" for m in result.means) else 0.0
    f[2 * n + 3] = 1.0 if any(m.framing == "neutral" for m in result.means) else 0.0
    for j, name in enumerate(CONTEXT_NAMES):
        f[_CTX_OFFSET + j] = 1.0 if name in result.contexts else 0.0
    f[-2] = 1.0 if result.third_party else 0.0
    f[-1] = 1.0 if result.first_person else 0.0
    return f
