"""Report building blocks shared by the report and every suite kind's section: percentages, numbers, tables
(markdown and HTML at once) and grouped bar charts as inline SVG (no script, no network)."""

from __future__ import annotations

import html

COLOURS = ("#0b5cad", "#c2410c", "#15803d", "#7e22ce", "#a16207", "#0f766e")


def pct(v: float | None, digits: int = 1) -> str:
    return "-" if v is None else f"{v:.{digits}%}"


def num(v: float | None, fmt: str = ".4f") -> str:
    return "-" if v is None else format(v, fmt)


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
            colour = COLOURS[s % len(COLOURS)]
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
        parts.append(f'<rect x="{x0}" y="{ly + 18 * s - 10}" width="12" height="12" fill="{COLOURS[s % 6]}"/>')
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


def table(head: list[str], rows: list[list[str]]) -> tuple[list[str], str]:
    md = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(r) + " |" for r in rows]
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    tr = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return md, f"<table><thead><tr>{th}</tr></thead><tbody>{tr}</tbody></table>"
