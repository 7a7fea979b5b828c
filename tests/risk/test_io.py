"""risk.io: JSONL input whose errors name the line, and bad lines skipped and counted on request."""

from __future__ import annotations

import io

import pytest

from mindrail.risk.io import InputError, SkipCounter, iter_jsonl


def test_iter_jsonl_errors_name_lines_and_skip() -> None:
    data = b'{"a": 1}\n\n[1, 2]\n{"a": \n\xff\xfe\n{"a": 2}\n'
    with pytest.raises(InputError, match=r"x:3: expected a JSON object"):
        list(iter_jsonl(io.BytesIO(data), "x"))
    c = SkipCounter()
    got = [r.line for r in iter_jsonl(io.BytesIO(data), "x", skip_bad=True, counter=c)]
    assert got == [1, 6]
    assert (c.ok, c.skipped) == (2, 3)
