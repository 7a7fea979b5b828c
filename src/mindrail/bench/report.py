"""Reports built from stored runs: per condition, across runs (raw vs guarded, model vs model), with Wilson 95%
confidence intervals, as a self-contained offline HTML file (inline SVG, no scripts), JSON and a markdown summary.

Every suite kind gets the generic appropriate-rate view; stigma, persona and counterfactual runs add their own
section (stigma rate beside the human survey, rubric ratings, group disparities). Where a run recorded second
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

from mindrail.bench.run import RunFile, read_run
from mindrail.bench.stats import wilson

__all__ = ["build_report", "compare", "summarise", "wilson"]

_COLOURS = ("#0b5cad", "#c2410c", "#15803d", "#7e22ce", "#a16207", "#0f766e")


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
    if kind == "stigma":
        from mindrail.bench.stigma import summarise_stigma

        return summarise_stigma(rows)
    if kind == "persona":
        from mindrail.bench.persona import summarise_personas

        return summarise_personas(rows)
    if kind == "counterfactual":
        from mindrail.bench.counterfactual import disparities

        return disparities(rows)
    return None


def _throughput(rows: list[dict[str, Any]]) -> float | None:
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
        "cases_per_minute": _throughput(ok_rows),
        "detail": _kind_detail(kind, ok_rows),
    }


def _pct(v: float | None, digits: int = 1) -> str:
    return "-" if v is None else f"{v:.{digits}%}"


def _cell(v: dict[str, Any] | None) -> str:
    return "-" if v is None else f"{_pct(v['rate'])} ({v['appropriate']}/{v['judged']})"


def grouped_bars(
    title: str,
    labels: list[str],
    series: list[tuple[str, list[tuple[float | None, tuple[float, float]]]]],
    markers: dict[str, float] | None = None,
) -> str:
    """Horizontal bars per label, one bar per series, Wilson CI whiskers, optional reference ticks (e.g. the human
    survey). Inline SVG with a title and per-bar tooltips, so the page needs no script and no network."""
    width, bar_h, gap = 760, 12, 10
    x0, span = 230, width - 300
    group_h = bar_h * len(series) + gap
    legend_h = 18 * len(series) + (18 if markers else 0)
    h = group_h * len(labels) + legend_h + 20
    t = html.escape(title)
    parts = [
        f'<svg role="img" aria-label="{t}" viewBox="0 0 {width} {h}" width="100%" xmlns="http://www.w3.org/2000/svg">'
    ]
    parts.append(f"<title>{t}</title>")
    for i, label in enumerate(labels):
        y0 = 10 + i * group_h
        mid = y0 + bar_h * len(series) / 2 + 4
        parts.append(f'<text x="0" y="{mid:.0f}" font-size="12">{html.escape(label)}</text>')
        for s, (name, values) in enumerate(series):
            rate, (lo, hi) = values[i]
            y = y0 + s * bar_h
            if rate is None:
                continue
            colour = _COLOURS[s % len(_COLOURS)]
            tip = html.escape(f"{name}, {label}: {rate:.0%} (95% CI {lo:.0%}-{hi:.0%})")
            parts.append(
                f'<rect x="{x0}" y="{y + 1}" width="{span * rate:.1f}" height="{bar_h - 2}" fill="{colour}">'
                f"<title>{tip}</title></rect>"
            )
            parts.append(
                f'<line x1="{x0 + span * lo:.1f}" x2="{x0 + span * hi:.1f}" y1="{y + bar_h / 2}" '
                f'y2="{y + bar_h / 2}" stroke="#111" stroke-width="1.5"/>'
            )
            parts.append(f'<text x="{x0 + span + 6}" y="{y + bar_h - 2}" font-size="10">{rate:.0%}</text>')
        if markers and label in markers:
            mx = x0 + span * markers[label]
            parts.append(
                f'<line x1="{mx:.1f}" x2="{mx:.1f}" y1="{y0 - 2}" y2="{y0 + bar_h * len(series) + 2}" '
                f'stroke="#000" stroke-width="2" stroke-dasharray="3 2"><title>reference {markers[label]:.0%}'
                "</title></line>"
            )
    parts.append(f'<line x1="{x0}" x2="{x0}" y1="5" y2="{group_h * len(labels) + 10}" stroke="#555"/>')
    ly = group_h * len(labels) + 22
    for s, (name, _) in enumerate(series):
        parts.append(f'<rect x="{x0}" y="{ly + 18 * s - 10}" width="12" height="12" fill="{_COLOURS[s % 6]}"/>')
        parts.append(f'<text x="{x0 + 18}" y="{ly + 18 * s}" font-size="12">{html.escape(name)}</text>')
    if markers:
        y = ly + 18 * len(series)
        parts.append(
            f'<line x1="{x0 + 6}" x2="{x0 + 6}" y1="{y - 11}" y2="{y + 1}" stroke="#000" stroke-width="2" '
            'stroke-dasharray="3 2"/>'
        )
        parts.append(f'<text x="{x0 + 18}" y="{y}" font-size="12">human survey, 2018</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table(head: list[str], rows: list[list[str]]) -> tuple[list[str], str]:
    md = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(r) + " |" for r in rows]
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    tr = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return md, f"<table><thead><tr>{th}</tr></thead><tbody>{tr}</tbody></table>"


def _stigma_section(group: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    conds = sorted({c for s in group for c in s["detail"]["conditions"]})
    series = []
    for s in group:
        d = s["detail"]["conditions"]
        series.append(
            (str(s["target"]), [(d[c]["rate"], tuple(d[c]["ci95"])) if c in d else (None, (0.0, 1.0)) for c in conds])
        )
    human = {c: v["human"] for s in group for c, v in s["detail"]["conditions"].items() if v.get("human") is not None}
    svg = grouped_bars("Stigma rate per condition (lower is better)", conds, series, human)
    rows = []
    for s in group:
        for c in conds:
            v = s["detail"]["conditions"].get(c)
            if v:
                rows.append(
                    [
                        str(s["target"]),
                        c,
                        f"{v['stigma']}/{v['usable']}",
                        _pct(v["rate"]),
                        f"{v['ci95'][0]:.0%}-{v['ci95'][1]:.0%}",
                        _pct(v["human"], 0),
                        str(v["unusable"]),
                        str(v["do_not_know"]),
                    ]
                )
    md, tab = _table(
        ["target", "condition", "stigma/usable", "rate", "95% CI", "humans 2018", "unusable", "don't know"], rows
    )
    note = (
        "Stigma rate: share of usable answers to the six stigma questions that are stigmatising; unusable answers "
        "(no single option named) are counted, not dropped. Dashed ticks: the 2018 US human survey."
    )
    return ["", note, "", *md], [f"<p>{html.escape(note)}</p>", svg, tab]


def _persona_section(group: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    rows = []
    for s in group:
        d = s["detail"]
        for dim, counts in d["dimensions"].items():
            rows.append(
                [str(s["target"]), dim]
                + [str(counts.get(k, 0)) for k in ("best_practice", "suboptimal", "high_harm", "not_applicable")]
            )
    md, tab = _table(["target", "dimension", "best practice", "suboptimal", "high harm", "n/a"], rows)
    lines = []
    for s in group:
        d = s["detail"]
        harm = ", ".join(f"{c}: {dim}" for c, dim in d["high_harm"]) or "none"
        lines.append(
            f"{s['target']}: mean persona score {_num(d['mean_score'], '.2f')}; personas with a high-harm rating: "
            f"{d['personas_with_harm']} ({harm})"
        )
    return ["", *[f"- {x}" for x in lines], "", *md], [f"<p>{html.escape(x)}</p>" for x in lines] + [tab]


def _num(v: float | None, fmt: str = ".4f") -> str:
    return "-" if v is None else format(v, fmt)


def _counterfactual_section(group: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    md_all: list[str] = []
    html_all: list[str] = []
    for s in group:
        d = s["detail"]
        head = (
            f"{s['target']}: largest risk-score disparity {_num(d['max_risk_disparity'])} "
            f"({d.get('max_risk_disparity_axis') or 'no axis'}; goal ≤ {d['goal']}); largest gap in appropriate "
            f"rate between groups {_pct(d.get('max_appropriate_gap'))}"
        )
        axes_rows = [
            [
                axis,
                _pct(a.get("appropriate_gap")),
                str(a.get("appropriate_flips", 0)),
                _num(a.get("risk_gap")),
                f"{_num(a.get('max_risk_swing'))} ({a.get('max_risk_swing_base') or '-'})",
                str(a.get("level_changes", 0)),
            ]
            for axis, a in d["axes"].items()
        ]
        a_md, a_tab = _table(
            [
                "axis",
                "appropriate-rate gap",
                "templates judged differently",
                "mean-risk gap",
                "largest swing",
                "level changes",
            ],
            axes_rows,
        )
        rows = [
            [
                axis,
                g,
                f"{v['appropriate']}/{v['judged']}",
                _pct(v["rate"]),
                f"{v['ci95'][0]:.0%}-{v['ci95'][1]:.0%}",
                _num(v.get("mean_risk"), ".3f"),
            ]
            for axis, a in d["axes"].items()
            for g, v in a["groups"].items()
        ]
        g_md, g_tab = _table(["axis", "group", "appropriate", "rate", "95% CI", "mean risk score"], rows)
        md_all += ["", head, "", *a_md, "", *g_md]
        html_all += [f"<p>{html.escape(head)}</p>", a_tab, g_tab]
    return md_all, html_all


_SECTIONS = {"stigma": _stigma_section, "persona": _persona_section, "counterfactual": _counterfactual_section}


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
                    f"**{_pct(o['rate'])}**",
                    f"{o['ci95'][0]:.1%}-{o['ci95'][1]:.1%}",
                    _num(s["cases_per_minute"], ".1f"),
                ]
            )
        t_md, t_html = _table(
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
        c_md, c_html = _table(["condition"] + [str(s["target"]) for s in group], c_rows)
        md += [*c_md, ""]
        body.append(c_html)
        for s in group:
            if s["judge_disagreement"]:
                for judge, v in s["judge_disagreement"].items():
                    line = (
                        f"{s['target']}: {judge} disagrees with {s['judge']} on {v['disagree']} of {v['compared']} "
                        f"cases ({_pct(v['rate'])})"
                    )
                    md.append(f"- {line}")
                    body.append(f"<p>{html.escape(line)}</p>")
        kind = group[0]["kind"]
        if kind in _SECTIONS and all(s["detail"] for s in group):
            k_md, k_html = _SECTIONS[kind](group)
            md += k_md
            body += k_html
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
