"""One self-contained HTML page: concurrency, disconnects and latency per minute, incidents marked;
the verdicts on the period's deploys, fleet utilisation per region, and the fleet's cost.

Charts are inline SVG drawn here; the page loads nothing from anywhere.
"""
from __future__ import annotations

from datetime import datetime, timezone
from html import escape
from pathlib import Path
from typing import Any, Sequence

from analytics.reports import run_report
from analytics.warehouse import Warehouse

WIDTH, HEIGHT, PAD = 900, 220, 40
COLOURS = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563")

_STYLE = """
body { font: 14px system-ui, sans-serif; margin: 2em auto; max-width: 960px; color: #111; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 2em; }
svg { background: #fafafa; border: 1px solid #ddd; }
.axis { stroke: #999; } .incident { stroke: #f59e0b; stroke-dasharray: 4 3; }
.legend span { margin-right: 1em; } table { border-collapse: collapse; }
td, th { border: 1px solid #ddd; padding: 2px 8px; text-align: left; }
"""


def write_html_report(warehouse: Warehouse, path: Path, from_: datetime, to: datetime) -> Path:
    """Write the report for [from_, to) to ``path`` and return it."""
    period = {"from_": from_, "to": to}
    concurrency = run_report(warehouse, "concurrency", **period)
    minutes = run_report(warehouse, "minute_rollup", **period)
    incidents = run_report(warehouse, "incidents", **period)
    span = (from_.timestamp(), to.timestamp())
    marks = [i["opened_at"].timestamp() for i in incidents]
    body = [
        f"<h1>Session Ledger — {escape(_fmt(from_))} to {escape(_fmt(to))} (UTC)</h1>",
        "<h2>Concurrent sessions</h2>",
        _chart(span, marks, [("concurrent", [(r["minute"], r["concurrent"]) for r in concurrency])]),
        "<h2>Disconnects per minute</h2>",
        _chart(span, marks, [("disconnects", [(r["minute"], r["disconnects"]) for r in minutes]),
                             ("timeouts", [(r["minute"], r["timeouts"]) for r in minutes])]),
        "<h2>Heartbeat latency (ms)</h2>",
        _chart(span, marks, [(label, [(r["minute"], r["latency_ms"][i]) for r in minutes
                                      if r["latency_ms"][i] == r["latency_ms"][i]])  # drop NaN
                             for i, label in enumerate(("p50", "p95", "p99"))]),
        "<h2>Incidents (dashed lines mark their opening)</h2>",
        _incident_table(incidents),
        *_gates_and_fleet(warehouse, from_, to, span, marks),
    ]
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>Session Ledger report</title>"
            f"<style>{_STYLE}</style></head><body>{''.join(body)}</body></html>")
    path = Path(path)
    path.write_text(page, encoding="utf-8")
    return path


def _gates_and_fleet(warehouse: Warehouse, from_: datetime, to: datetime,
                     span: tuple[float, float], marks: Sequence[float]) -> list[str]:
    from analytics.capacity import capacity_minutes, capacity_summary
    from analytics.cost import cost_report
    from analytics.deploy_verdict import judge_deploy
    from analytics.sql import query_text

    deploys = warehouse.query(query_text("gates", "deploys_in_period"), {"from_": from_, "to": to},
                              name="deploys in period")
    verdicts = [judge_deploy(warehouse, d["deploy_id"], to=to) for d in deploys]
    minutes = capacity_minutes(warehouse, from_, to)
    by_region: dict[str, list[tuple[datetime, float]]] = {}
    for row in minutes:
        if row["utilisation"] is not None:
            by_region.setdefault(row["region"], []).append((row["minute"], 100 * row["utilisation"]))
    return [
        "<h2>Deploy verdicts (canary build against the other builds in its regions)</h2>",
        _verdict_table(verdicts),
        "<h2>Fleet utilisation (% of player slots in use)</h2>",
        _chart(span, marks, sorted(by_region.items())) if by_region
        else "<p>No fleet capacity recorded (fleet_scaled events) for this period.</p>",
        _rows_table(capacity_summary(minutes),
                    ("region", "peak_concurrent", "slots_at_peak", "max_utilisation", "min_headroom",
                     "minutes_full")),
        "<h2>Cost per player-hour, idle cost and platform mix</h2>",
        _rows_table(cost_report(warehouse, from_, to),
                    ("region", "platform", "player_hours", "share", "cost", "idle_cost",
                     "cost_per_player_hour", "currency")),
    ]


def _verdict_table(verdicts: Sequence[Any]) -> str:
    if not verdicts:
        return "<p>No deploy naming a build began in this period.</p>"
    names = [m.name for m in verdicts[0].metrics]
    head = "".join(f"<th>{escape(n)}</th>" for n in
                   ["deploy", "build", "regions", "canary", "baseline", *names, "score", "verdict"])
    rows = "".join(
        "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in [
            v.deploy_id, v.build, ", ".join(v.regions) or "all", v.canary_sessions, v.baseline_sessions,
            *[m.result for m in v.metrics], "-" if v.score is None else f"{v.score:.0f}", v.verdict]) + "</tr>"
        for v in verdicts)
    return f"<table><tr>{head}</tr>{rows}</table>"


def _rows_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    if not rows:
        return "<p>Nothing in this period.</p>"
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{escape(_cell(r.get(c)))}</td>" for c in columns) + "</tr>"
                   for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, datetime):
        return _fmt(value)
    return str(value)


def _chart(span: tuple[float, float], marks: Sequence[float],
           series: Sequence[tuple[str, Sequence[tuple[datetime, Any]]]]) -> str:
    start, end = span
    top = max([float(v) for _, points in series for _, v in points] + [1.0])

    def x(t: float) -> float:
        return PAD + (t - start) / max(end - start, 1) * (WIDTH - 2 * PAD)

    def y(v: float) -> float:
        return HEIGHT - PAD - v / top * (HEIGHT - 2 * PAD)

    parts = [f"<svg width='{WIDTH}' height='{HEIGHT}' viewBox='0 0 {WIDTH} {HEIGHT}' role='img'>",
             f"<line class='axis' x1='{PAD}' y1='{HEIGHT - PAD}' x2='{WIDTH - PAD}' y2='{HEIGHT - PAD}'/>",
             f"<line class='axis' x1='{PAD}' y1='{PAD}' x2='{PAD}' y2='{HEIGHT - PAD}'/>",
             f"<text x='4' y='{PAD}' font-size='11'>{top:g}</text>",
             f"<text x='4' y='{HEIGHT - PAD}' font-size='11'>0</text>"]
    for fraction, anchor in ((0.0, "start"), (0.5, "middle"), (1.0, "end")):
        instant = datetime.fromtimestamp(start + fraction * (end - start), tz=timezone.utc)
        parts.append(f"<text x='{PAD + fraction * (WIDTH - 2 * PAD):.1f}' y='{HEIGHT - PAD / 3:.1f}' "
                     f"font-size='11' text-anchor='{anchor}'>{instant:%H:%M}</text>")
    for mark in marks:
        if start <= mark <= end:
            parts.append(f"<line class='incident' x1='{x(mark):.1f}' y1='{PAD}' "
                         f"x2='{x(mark):.1f}' y2='{HEIGHT - PAD}'/>")
    legend = []
    for (label, points), colour in zip(series, COLOURS):
        inside = [(x(t.timestamp()), y(float(v))) for t, v in points if start <= t.timestamp() <= end]
        coords = " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy in inside)
        parts.append(f"<polyline fill='none' stroke='{colour}' stroke-width='1.5' points='{coords}'/>")
        if len(inside) <= 60:  # few points: mark each, so a single minute is still visible
            parts.extend(f"<circle cx='{cx:.1f}' cy='{cy:.1f}' r='2.5' fill='{colour}'/>" for cx, cy in inside)
        legend.append(f"<span style='color:{colour}'>■ {escape(label)}</span>")
    parts.append("</svg>")
    return "".join(parts) + f"<div class='legend'>{''.join(legend)}</div>"


def _incident_table(incidents: list[dict[str, Any]]) -> str:
    if not incidents:
        return "<p>No incidents in this period.</p>"
    rows = "".join(
        f"<tr><td>{escape(i['incident_id'])}</td><td>{escape(i['severity'] or '')}</td>"
        f"<td>{escape(i['title'] or '')}</td><td>{escape(', '.join(i['regions']))}</td>"
        f"<td>{_fmt(i['opened_at'])}</td><td>{_fmt(i['resolved_at']) if i['resolved_at'] else 'open'}</td></tr>"
        for i in incidents)
    return ("<table><tr><th>incident</th><th>severity</th><th>title</th><th>regions</th>"
            f"<th>opened</th><th>resolved</th></tr>{rows}</table>")


def _fmt(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%d %H:%M")
