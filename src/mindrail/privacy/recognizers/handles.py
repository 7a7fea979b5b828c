"""Social-media handles ("@jenna_k", "u/quiet_fox"): one search away from a person's whole profile."""

from __future__ import annotations

import re

from mindrail.privacy.recognizers._base import RegexRecognizer


class HandleRecognizer(RegexRecognizer):
    """@handles not preceded by an e-mail local part, and Reddit-style u/ names; reported as USERNAME."""

    ENTITY = "USERNAME"
    REGEX = re.compile(
        r"(?<![\w@.])@[A-Za-z0-9_](?:[A-Za-z0-9_.]{0,28}[A-Za-z0-9_])?(?![\w@])"
        r"|(?<![\w/])u/[A-Za-z0-9_-]{3,20}\b"
    )
    SCORE = 0.85
