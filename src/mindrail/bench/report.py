"""Reports built from stored runs: per condition, across runs (raw vs guarded, model vs model), with Wilson 95%
confidence intervals, as a self-contained offline HTML file (inline SVG, no scripts), JSON and a markdown summary.

Every suite kind gets the generic appropriate-rate view; stigma, persona and counterfactual runs add their own
section through their kind's ``summarise`` and ``report_section`` (bench/kinds/). Where a run recorded second
judges, the share of cases where they disagree with the primary judge is shown.
"""

from __future__ import annotations

import datetime as dt
import html
import itertools
import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from mindrail.bench.registry import KINDS
from mindrail.bench.render import grouped_bars, num, pct, table
from mindrail.bench.run import RunFile, read_run
from mindrail.bench.stats import wilson

__all__ = ["build_report", "compare", "summarise", "throughput", "wilson"]


def _rate(k: int, n: int) -> dict[str, Any]:
    return {"rate": k / n if n else None, "ci95": list(wilson(k, n))}


def _disagreements(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        j = r.get("judgement") or {}
        for o in j.get("others", []):
            if "unsure" in (o["answer"], j.get("answer")):
                continue
            per[o["judge"]][0] += o["answer"] != j.get("answer")
            per[o["judge"]][1] += 1
    if not per:
        return None
    return {judge: {"disagree": d, "compared": n, **_rate(d, n)} for judge, (d, n) in per.items()}


def _kind_detail(kind: str, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The kind's own numbers (stigma rates, rubric ratings, group disparities); None for an unknown kind."""
    k = KINDS.get(kind)
    return k.summarise(rows) if k is not None else None


def throughput(rows: list[dict[str, Any]]) -> float | None:
    """Cases per minute from the finish times. Gaps over ten times the median (a run paused and resumed later) are
    left out, so an interruption does not read as slowness."""
    times = sorted(dt.datetime.fromisoformat(r["finished"]) for r in rows if r.get("finished"))
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    if not gaps:
        return None
    kept = [g for g in gaps if g <= 10 * statistics.median(gaps)]
    return 60 * len(kept) / sum(kept) if sum(kept) > 0 else None


def summarise(run: RunFile) -> dict[str, Any]:
    """Appropriate rate per condition and overall. Rows a scorer marks ``rated: false`` (the stigma suite's
    non-stigma questions) are answered but not rated; undecided ones are counted as unsure."""
    by: dict[str, list[bool | None]] = defaultdict(list)
    ok_rows = [r for r in run.results if r.get("status") == "ok"]
    errors = len(run.results) - len(ok_rows)
    for r in ok_rows:
        if r.get("rated", True):
            by[r["condition"]].append(r.get("appropriate"))
    conditions: dict[str, Any] = {}
    total_k = total_n = total_unsure = 0
    for cond in sorted(by):
        judged = [v for v in by[cond] if v is not None]
        k, n = sum(judged), len(judged)
        conditions[cond] = {"appropriate": k, "judged": n, "unsure": len(by[cond]) - n, **_rate(k, n)}
        total_k, total_n, total_unsure = total_k + k, total_n + n, total_unsure + len(by[cond]) - n
    kind = run.header.get("kind", "check")
    return {
        "suite": run.header.get("suite"),
        "kind": kind,
        "target": run.header.get("target", {}).get("name"),
        "guarded": run.header.get("target", {}).get("guarded"),
        "judge": run.header.get("judge"),
        "cases": run.header.get("cases"),
        "finished": len(ok_rows),
        "errors": errors,
        "overall": {"appropriate": total_k, "judged": total_n, "unsure": total_unsure, **_rate(total_k, total_n)},
        "conditions": conditions,
        "judge_disagreement": _disagreements(ok_rows),
        "cases_per_minute": throughput(ok_rows),
        "detail": _kind_detail(kind, ok_rows),
    }


def _cell(v: dict[str, Any] | None) -> str:
    return "-" if v is None else f"{pct(v['rate'])} ({v['appropriate']}/{v['judged']})"


def build_report(runs: list[Path], out_dir: Path) -> dict[str, Any]:
    summaries = [summarise(read_run(p)) for p in runs]
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(summaries, indent=1), encoding="utf-8")
    by_suite: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in summaries:
        by_suite[str(s["suite"])].append(s)
    md = ["# mindrail audit bench report", ""]
    body: list[str] = []
    targets = list(dict.fromkeys(str(s["target"]) for s in summaries))
    if len(by_suite) > 1:
        series = []
        for t in targets:
            vals = []
            for group in by_suite.values():
                o = next((s["overall"] for s in group if s["target"] == t), None)
                vals.append((o["rate"], tuple(o["ci95"])) if o else (None, (0.0, 1.0)))
            series.append((t, vals))
        body.append("<h2>Overview</h2>")
        body.append(grouped_bars("Share of appropriate replies per suite and target", list(by_suite), series))
    for suite, group in by_suite.items():
        md += [f"## {suite}", ""]
        body.append(f"<h2>{html.escape(suite)}</h2>")
        rows = []
        for s in group:
            o = s["overall"]
            rows.append(
                [
                    str(s["target"]),
                    str(s["judge"]),
                    f"{s['finished']}/{s['cases']}",
                    str(s["errors"]),
                    str(o["unsure"]),
                    f"**{pct(o['rate'])}**",
                    f"{o['ci95'][0]:.1%}-{o['ci95'][1]:.1%}",
                    num(s["cases_per_minute"], ".1f"),
                ]
            )
        t_md, t_html = table(
            ["target", "judge", "finished", "errors", "unsure", "appropriate", "95% CI", "cases/min"], rows
        )
        md += [*t_md, ""]
        body.append(t_html.replace("**", ""))
        conds = sorted({c for s in group for c in s["conditions"]})
        series = [
            (
                str(s["target"]),
                [
                    (s["conditions"][c]["rate"], tuple(s["conditions"][c]["ci95"]))
                    if c in s["conditions"]
                    else (None, (0.0, 1.0))
                    for c in conds
                ],
            )
            for s in group
        ]
        body.append(grouped_bars(f"Share of appropriate replies per condition, {suite}", conds, series))
        c_rows = [[c] + [_cell(s["conditions"].get(c)) for s in group] for c in conds]
        c_md, c_html = table(["condition"] + [str(s["target"]) for s in group], c_rows)
        md += [*c_md, ""]
        body.append(c_html)
        for s in group:
            if s["judge_disagreement"]:
                for judge, v in s["judge_disagreement"].items():
                    line = (
                        f"{s['target']}: {judge} disagrees with {s['judge']} on {v['disagree']} of {v['compared']} "
                        f"cases ({pct(v['rate'])})"
                    )
                    md.append(f"- {line}")
                    body.append(f"<p>{html.escape(line)}</p>")
        kind = group[0]["kind"]
        section = KINDS[kind].report_section(group) if kind in KINDS and all(s["detail"] for s in group) else None
        if section is not None:
            md += section[0]
            body += section[1]
        md.append("")
    (out_dir / "report.md").write_text("\n".join(md), encoding="utf-8")
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>mindrail audit report</title>'
        "<style>body{font:15px system-ui,sans-serif;max-width:62rem;margin:1rem auto;padding:0 1rem}"
        "table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border:1px solid #ccc;padding:2px 8px;"
        "text-align:left}</style></head>"
        "<body><h1>mindrail audit bench report</h1><p>Bars: share of replies judged appropriate (or, for stigma, "
        "stigmatising); lines: Wilson 95% confidence intervals.</p>" + "".join(body) + "</body></html>"
    )
    (out_dir / "report.html").write_text(page, encoding="utf-8")
    return {"summaries": summaries, "files": ["report.json", "report.md", "report.html"]}


def compare(a: Path, b: Path) -> dict[str, Any]:
    sa, sb = summarise(read_run(a)), summarise(read_run(b))
    conds = sorted(set(sa["conditions"]) | set(sb["conditions"]))
    rows = []
    for c in conds:
        ra = sa["conditions"].get(c, {}).get("rate")
        rb = sb["conditions"].get(c, {}).get("rate")
        rows.append(
            {"condition": c, "a": ra, "b": rb, "diff": (rb - ra) if ra is not None and rb is not None else None}
        )
    return {
        "a": sa["target"],
        "b": sb["target"],
        "overall": [sa["overall"]["rate"], sb["overall"]["rate"]],
        "rows": rows,
    }
