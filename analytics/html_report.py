"""One self-contained HTML page: concurrency, disconnects and latency per minute, incidents marked,
and the incident milestones beside each SLO's error budget and burn rates at the period's end.

Charts are inline SVG drawn here; the page loads nothing from anywhere.
"""
from __future__ import annotations

from datetime import datetime, timezone
from html import escape
from pathlib import Path
from typing import Any, Sequence

from analytics.reports import run_report
from analytics.slo import Slo, load_slos, slo_status
from analytics.warehouse import Warehouse

WIDTH, HEIGHT, PAD = 900, 220, 40
COLOURS = ("#2563eb", "#dc2626", "#16a34a", "#9333ea")

_STYLE = """
body { font: 14px system-ui, sans-serif; margin: 2em auto; max-width: 960px; color: #111; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 2em; }
svg { background: #fafafa; border: 1px solid #ddd; }
.axis { stroke: #999; } .incident { stroke: #f59e0b; stroke-dasharray: 4 3; }
.legend span { margin-right: 1em; } table { border-collapse: collapse; }
td, th { border: 1px solid #ddd; padding: 2px 8px; text-align: left; }
"""


def write_html_report(warehouse: Warehouse, path: Path, from_: datetime, to: datetime,
                      slos: Sequence[Slo] | None = None) -> Path:
    """Write the report for [from_, to) to ``path`` and return it; ``slos`` default to the
    shipped ones (analytics/slos.yaml). Planned work is left out, as every report does."""
    period = {"from_": from_, "to": to}
    milestones = run_report(warehouse, "incident_milestones", **period)[0]
    budgets = [slo_status(warehouse, slo, to) for slo in (load_slos() if slos is None else slos)]
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
        "<h2>Reliability: time to detect, acknowledge, mitigate, resolve — and SLO budgets</h2>",
        "<div style='display:flex;gap:2em;align-items:flex-start'>",
        _milestone_table(milestones), _slo_table(budgets, to), "</div>",
    ]
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>Session Ledger report</title>"
            f"<style>{_STYLE}</style></head><body>{''.join(body)}</body></html>")
    path = Path(path)
    path.write_text(page, encoding="utf-8")
    return path


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


def _milestone_table(row: dict[str, Any]) -> str:
    lines = "".join(
        f"<tr><td>{name.upper()}</td><td>{row[f'{name}_n']}</td>"
        + "".join(f"<td>{_minutes(row[f'{name}_{q}_s'])}</td>" for q in ("mean", "p50", "p90"))
        + "</tr>"
        for name in ("mttd", "mtta", "mttm", "mttr"))
    notes = [f"{row['incidents']} incident(s)"]
    if row["planned_excluded"]:
        notes.append(f"{row['planned_excluded']} drill(s) left out")
    if row["out_of_order"]:
        notes.append("out of order, not averaged: " + escape(", ".join(row["out_of_order_ids"])))
    return ("<div><table><tr><th>minutes</th><th>n</th><th>mean</th><th>p50</th><th>p90</th></tr>"
            f"{lines}</table><p>{'; '.join(notes)}</p></div>")


def _slo_table(budgets: list[dict[str, Any]], at: datetime) -> str:
    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f} %"

    def rate(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}×"

    lines = "".join(
        f"<tr><td>{escape(b['slo'])}</td><td>{pct(None if b['sli_value'] is None else 100 * b['sli_value'])}</td>"
        f"<td>{100 * b['objective']:g} %</td>"
        f"<td style='{'color:#dc2626' if (b['budget_remaining_pct'] or 0) < 0 else ''}'>"
        f"{pct(b['budget_remaining_pct'])}</td>"
        + "".join(f"<td>{rate(b[f'burn_{w}'])}</td>" for w in ("1h", "6h", "3d")) + "</tr>"
        for b in budgets)
    return ("<div><table><tr><th>SLO</th><th>SLI</th><th>target</th><th>budget left</th>"
            f"<th>burn 1h</th><th>burn 6h</th><th>burn 3d</th></tr>{lines}</table>"
            f"<p>At {escape(_fmt(at))}, over each SLO's window; planned work left out.</p></div>")


def _minutes(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds / 60:.1f}"


def _fmt(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%d %H:%M")
