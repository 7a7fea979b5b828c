"""Reports built from stored runs: per condition, raw vs guarded, with Wilson 95% confidence intervals, as a
self-contained offline HTML file (inline SVG, no scripts), JSON and a markdown summary."""

from __future__ import annotations

import html
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from mindrail.bench.run import RunFile, read_run
from mindrail.bench.stats import wilson


def summarise(run: RunFile) -> dict[str, Any]:
    by: dict[str, list[bool | None]] = defaultdict(list)
    errors = 0
    for r in run.results:
        if r.get("status") != "ok":
            errors += 1
            continue
        by[r["condition"]].append(r.get("appropriate"))
    conditions: dict[str, Any] = {}
    total_k = total_n = total_unsure = 0
    for cond in sorted(by):
        vals = by[cond]
        judged = [v for v in vals if v is not None]
        k, n = sum(judged), len(judged)
        lo, hi = wilson(k, n)
        conditions[cond] = {
            "appropriate": k,
            "judged": n,
            "unsure": len(vals) - n,
            "rate": k / n if n else None,
            "ci95": [lo, hi],
        }
        total_k, total_n, total_unsure = total_k + k, total_n + n, total_unsure + len(vals) - n
    lo, hi = wilson(total_k, total_n)
    return {
        "suite": run.header.get("suite"),
        "target": run.header.get("target", {}).get("name"),
        "guarded": run.header.get("target", {}).get("guarded"),
        "judge": run.header.get("judge"),
        "cases": run.header.get("cases"),
        "finished": sum(len(v) for v in by.values()),
        "errors": errors,
        "overall": {
            "appropriate": total_k,
            "judged": total_n,
            "unsure": total_unsure,
            "rate": total_k / total_n if total_n else None,
            "ci95": [lo, hi],
        },
        "conditions": conditions,
    }


def _bar_svg(rows: list[tuple[str, float | None, tuple[float, float]]], title: str) -> str:
    width, row_h = 720, 24
    h = row_h * len(rows) + 30
    parts = [
        f'<svg role="img" aria-label="{html.escape(title)}" viewBox="0 0 {width} {h}" width="100%" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{html.escape(title)}</title>'
    ]
    x0, span = 260, width - 300
    for i, (label, rate, (lo, hi)) in enumerate(rows):
        y = 10 + i * row_h
        parts.append(f'<text x="0" y="{y + 15}" font-size="12">{html.escape(label)}</text>')
        if rate is not None:
            parts.append(
                f'<rect x="{x0}" y="{y + 3}" width="{span * rate:.1f}" height="14" fill="#0b5cad">'
                f"<title>{html.escape(label)}: {rate:.0%} (95% CI {lo:.0%}-{hi:.0%})</title></rect>"
            )
            parts.append(
                f'<line x1="{x0 + span * lo:.1f}" x2="{x0 + span * hi:.1f}" y1="{y + 10}" y2="{y + 10}" '
                'stroke="#111" stroke-width="2"/>'
            )
            parts.append(f'<text x="{x0 + span + 6}" y="{y + 15}" font-size="12">{rate:.0%}</text>')
    parts.append(f'<line x1="{x0}" x2="{x0}" y1="5" y2="{h - 15}" stroke="#555"/>')
    parts.append("</svg>")
    return "".join(parts)


def build_report(runs: list[Path], out_dir: Path) -> dict[str, Any]:
    summaries = [summarise(read_run(p)) for p in runs]
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(summaries, indent=1), encoding="utf-8")
    md = ["# mindrail audit bench report", ""]
    for s in summaries:
        o = s["overall"]
        rate = f"{o['rate']:.1%}" if o["rate"] is not None else "-"
        md += [
            f"## {s['suite']} · {s['target']}",
            "",
            f"Judge `{s['judge']}`; {s['finished']} of {s['cases']} cases finished, {s['errors']} errors, "
            f"{o['unsure']} unsure. **Appropriate: {rate}** (95% CI {o['ci95'][0]:.1%}-{o['ci95'][1]:.1%}).",
            "",
            "| condition | appropriate | judged | rate | 95% CI |",
            "|---|---|---|---|---|",
        ]
        for c, v in s["conditions"].items():
            r = f"{v['rate']:.1%}" if v["rate"] is not None else "-"
            md.append(f"| {c} | {v['appropriate']} | {v['judged']} | {r} | {v['ci95'][0]:.0%}-{v['ci95'][1]:.0%} |")
        md.append("")
    (out_dir / "report.md").write_text("\n".join(md), encoding="utf-8")
    body = []
    for s in summaries:
        rows = [(f"{c}", v["rate"], tuple(v["ci95"])) for c, v in s["conditions"].items()]
        rows.append(("OVERALL", s["overall"]["rate"], tuple(s["overall"]["ci95"])))
        body.append(f"<h2>{html.escape(str(s['suite']))} · {html.escape(str(s['target']))}</h2>")
        body.append(_bar_svg(rows, f"Share of appropriate replies, {s['suite']}, {s['target']}"))
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>mindrail audit report</title>'
        "<style>body{font:15px system-ui,sans-serif;max-width:60rem;margin:1rem auto;padding:0 1rem}</style></head>"
        "<body><h1>mindrail audit bench report</h1><p>Bars: share of replies judged appropriate; lines: Wilson 95% "
        "confidence intervals.</p>" + "".join(body) + "</body></html>"
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
