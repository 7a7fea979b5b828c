"""Progress across a trainee's sessions: the saved reports, read back, and a plot of the MITI figures against
their fair and good thresholds."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

from mindrail.practice.report import module_file


def load_reports(folder: Path) -> list[dict[str, Any]]:
    """Every ``*.json`` report in ``folder``; a broken one is an error naming the file."""
    if not folder.is_dir():
        raise ValueError(f"{folder}: no sessions yet")
    reports = []
    for path in sorted(folder.glob("*.json")):
        try:
            rep = json.loads(path.read_text(encoding="utf-8"))
            _ = rep["summary"], rep["started"], rep["card"]["id"], rep["moments"], rep["rating"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: not a practice report ({type(exc).__name__})") from None
        reports.append(rep)
    return reports


def plot_progress(rows: Sequence[dict[str, Any]], path: Path | BinaryIO, *, title: str) -> None:
    """Reflection-to-question ratio and % complex reflections per session, with the MITI fair/good lines, as a
    PNG file (a path, or a binary stream for a web response)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    th = module_file().thresholds
    x = list(range(1, len(rows) + 1))
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), constrained_layout=True)
    panels = (
        ("reflection_to_question", "Reflection-to-question ratio"),
        ("complex_reflection_share", "Complex reflections (share)"),
    )
    for ax, (key, label) in zip(axes, panels, strict=True):
        ys = [r[key] if r[key] is not None else float("nan") for r in rows]
        ax.plot(x, ys, marker="o", color="#1f4e79")
        ax.axhline(th[key].fair, color="#b38600", linestyle="--", linewidth=1, label="fair")
        ax.axhline(th[key].good, color="#175c2b", linestyle="--", linewidth=1, label="good")
        ax.set_title(label)
        ax.set_xlabel("session")
        ax.set_xticks(x)
        ax.legend(loc="best", fontsize=8)
    fig.suptitle(title)
    if isinstance(path, Path):
        path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)
