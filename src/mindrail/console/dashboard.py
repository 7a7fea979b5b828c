"""Dashboard figures over a period, from the store's SQL aggregates (``Store.period_counts``: constant memory,
fast on 10,000s of conversations), and the server-side SVG charts that show them (no CDN, no JavaScript). Every
figure counts only the tenants the viewer is granted.
"""

from __future__ import annotations

import datetime as dt
import html
import statistics
from dataclasses import dataclass, field

from mindrail.console.queue import ReviewQueue
from mindrail.risk.types import Level
from mindrail.store import Store
from mindrail.store.tenancy import EVERYTHING, Grants


@dataclass
class DashboardData:
    start: dt.datetime
    end: dt.datetime
    conversations: int = 0
    per_day: list[tuple[dt.date, int]] = field(default_factory=list)
    level_share: dict[str, float] = field(default_factory=dict)
    level_counts: dict[str, int] = field(default_factory=dict)
    crisis_protocols: int = 0
    ack_median_min: float | None = None
    ack_p90_min: float | None = None
    overdue: int = 0
    resolved: int = 0
    false_alarms: int = 0

    @property
    def false_alarm_rate(self) -> float | None:
        return self.false_alarms / self.resolved if self.resolved else None


def compute(
    store: Store,
    start: dt.datetime,
    end: dt.datetime,
    queue: ReviewQueue | None = None,
    grants: Grants = EVERYTHING,
) -> DashboardData:
    d = DashboardData(start, end)
    c = store.period_counts(start, end, grants)
    d.conversations, d.per_day, d.crisis_protocols = c.conversations, c.per_day, c.crisis_protocols
    d.level_counts = {lv.label: c.top_levels.get(int(lv), 0) for lv in Level}
    d.level_share = {k: (v / d.conversations if d.conversations else 0.0) for k, v in d.level_counts.items()}
    waits = c.ack_waits_min
    if waits:
        d.ack_median_min = statistics.median(waits)
        d.ack_p90_min = waits[min(len(waits) - 1, round(0.9 * (len(waits) - 1)))]
    d.resolved = sum(c.outcomes.values())
    d.false_alarms = c.outcomes.get("false_alarm", 0)
    q = queue or ReviewQueue(store)
    d.overdue = sum(1 for it in q.items(grants=grants) if it.overdue)
    return d


# ---------------------------------------------------------------------------- SVG
def bar_chart(points: list[tuple[str, int]], title: str, width: int = 640, height: int = 220) -> str:
    """Vertical bars with an accessible title and a text alternative for each bar."""
    n = max(len(points), 1)
    top = max((v for _, v in points), default=0) or 1
    pad, bw = 30, (width - 40) / n
    bars = []
    for i, (label, v) in enumerate(points):
        h = (height - 2 * pad) * v / top
        x, y = 30 + i * bw, height - pad - h
        bars.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(bw - 2, 1):.1f}" height="{h:.1f}" fill="#0b5cad">'
            f"<title>{html.escape(label)}: {v}</title></rect>"
        )
    first = html.escape(points[0][0]) if points else ""
    last = html.escape(points[-1][0]) if points else ""
    return (
        f'<svg role="img" aria-label="{html.escape(title)}" viewBox="0 0 {width} {height}" width="100%" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{html.escape(title)}</title>'
        f'<line x1="30" y1="{height - pad}" x2="{width - 10}" y2="{height - pad}" stroke="#555"/>'
        f'<text x="30" y="{height - 8}" font-size="12">{first}</text>'
        f'<text x="{width - 10}" y="{height - 8}" font-size="12" text-anchor="end">{last}</text>'
        f'<text x="4" y="{pad}" font-size="12">{top}</text>' + "".join(bars) + "</svg>"
    )


def share_chart(shares: dict[str, float], title: str, width: int = 640) -> str:
    colours = {"none": "#7a9a7a", "low": "#d4b000", "moderate": "#e07b00", "high": "#c0392b", "imminent": "#7b0016"}
    row, h = 26, 26 * len(shares) + 10
    parts = []
    for i, (label, share) in enumerate(shares.items()):
        y = 5 + i * row
        w = (width - 200) * share
        parts.append(
            f'<text x="0" y="{y + 17}" font-size="13">{html.escape(label)}</text>'
            f'<rect x="90" y="{y}" width="{w:.1f}" height="20" fill="{colours.get(label, "#555")}">'
            f"<title>{html.escape(label)}: {share:.1%}</title></rect>"
            f'<text x="{95 + w:.1f}" y="{y + 15}" font-size="13">{share:.1%}</text>'
        )
    return (
        f'<svg role="img" aria-label="{html.escape(title)}" viewBox="0 0 {width} {h}" width="100%" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{html.escape(title)}</title>' + "".join(parts) + "</svg>"
    )
