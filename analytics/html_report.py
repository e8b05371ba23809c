"""One self-contained HTML page over a period: concurrency by region, disruptions and latency per
minute (incidents marked), MTTR and churn, the incident milestones beside each SLO's error budget
and burn rates at the period's end, each incident with its impact and churn cohorts; the
verdicts on the period's deploys, fleet utilisation per region, and the fleet's cost.

The charts are the ones the worker's browser UI draws (analytics/charts: the vendored uPlot and
charts.js), inlined with the figures as JSON, so the page loads nothing from anywhere. Tables
are written here as HTML; only the charts need the script.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from typing import Any, Sequence

from analytics.charts import inline_assets
from analytics.replay.window import PHASES
from analytics.reports import run_report
from analytics.review import chart, impact_totals, minute_axis, review, series_chart
from analytics.slo import Slo, load_slos, slo_status
from analytics.warehouse import Warehouse

INCIDENTS_DETAILED = 20
"""Incidents of the period shown with their impact and churn (the latest ones)."""

_STYLE = """
body { font: 14px system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #111; padding: 0 1em; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 2em; } h3 { font-size: 1em; margin: 1.5em 0 0.3em; }
table { border-collapse: collapse; margin: 0.3em 0; } .muted { color: #666; }
td, th { border-bottom: 1px solid #e5e7eb; padding: 2px 10px 2px 0; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.figures { display: flex; gap: 2.5em; flex-wrap: wrap; } .figures b { font-size: 1.5em; display: block; }
"""

_SCRIPT = """
(function () {
  window.addEventListener('error', function (e) { document.body.dataset.jsError = String(e.message); });
  var data = JSON.parse(document.getElementById('report-data').textContent);
  Object.keys(data.charts).forEach(function (id) {
    var spec = data.charts[id], target = document.getElementById(id);
    if (!spec.x.length) { target.textContent = 'no minute in this period'; return; }
    LedgerCharts.time(target, spec);
  });
  document.body.dataset.ready = '1';
})();
"""


def write_html_report(warehouse: Warehouse, path: Path, from_: datetime, to: datetime,
                      slos: Sequence[Slo] | None = None) -> Path:
    """Write the report for [from_, to) to ``path`` and return it; ``slos`` default to the
    shipped ones (analytics/slos.yaml). Planned work is left out, as every report does."""
    period = {"from_": from_, "to": to}
    milestones = run_report(warehouse, "incident_milestones", **period)[0]
    budgets = [slo_status(warehouse, slo, to) for slo in (load_slos() if slos is None else slos)]
    minutes = minute_axis(from_, to)
    segments = review(warehouse, "concurrency_by_segment", **period, region="", platform="")
    rollup = run_report(warehouse, "minute_rollup", **period)
    incidents = run_report(warehouse, "incidents", **period)
    marks = [{"at": i["opened_at"].timestamp(), "label": i["incident_id"]} for i in incidents]
    latency = [{"minute": r["minute"], **{q: _number(r["latency_ms"][i]) for i, q in enumerate(("p50", "p95", "p99"))}}
               for r in rollup]
    charts = {
        "chart-concurrency": chart(minutes, segments, "region", "concurrent", marks),
        "chart-disruptions": series_chart(minutes, rollup, ("disconnects", "timeouts", "reconnects"), marks),
        "chart-latency": series_chart(minutes, latency, ("p50", "p95", "p99"), marks, missing=None),
    }
    if not charts["chart-concurrency"]["series"]:  # nobody live at any minute: a flat line says so
        charts["chart-concurrency"]["series"] = [{"label": "concurrent", "values": [0] * len(minutes)}]
    for spec, title in zip(charts.values(), ("Concurrent sessions by region", "Disruptions per minute",
                                             "Heartbeat latency (ms)")):
        spec["title"] = title
    mttr = run_report(warehouse, "mttr", **period)[0]
    churn = run_report(warehouse, "churn", **period)[0]
    body = [
        f"<h1>Session Ledger — {escape(_fmt(from_))} to {escape(_fmt(to))} (UTC)</h1>",
        "<h2>Concurrent sessions</h2><div class='chart' id='chart-concurrency'></div>",
        "<h2>Disconnects per minute</h2><div class='chart' id='chart-disruptions'></div>",
        "<h2>Heartbeat latency</h2><div class='chart' id='chart-latency'></div>",
        "<h2>Reliability</h2>", _figures(mttr, churn),
        "<h3>Time to detect, acknowledge, mitigate, resolve — and SLO budgets</h3>",
        "<div style='display:flex;gap:2em;align-items:flex-start'>",
        _milestone_table(milestones), _slo_table(budgets, to), "</div>",
        "<h2>Incidents (dashed lines mark their opening)</h2>", _incident_table(incidents),
        *(_incident_detail(warehouse, i) for i in incidents[-INCIDENTS_DETAILED:]),
        *_gates_and_fleet(warehouse, from_, to, minutes, marks, charts),
    ]
    data = json.dumps({"charts": charts}).replace("</", "<\\/")
    page = ("<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Session Ledger report</title>"
            f"<style>{_STYLE}</style>{inline_assets()}</head><body>{''.join(body)}"
            f"<script type='application/json' id='report-data'>{data}</script><script>{_SCRIPT}</script>"
            "</body></html>")
    path = Path(path)
    path.write_text(page, encoding="utf-8")
    return path


def _gates_and_fleet(warehouse: Warehouse, from_: datetime, to: datetime, minutes: Sequence[datetime],
                     marks: Sequence[dict[str, Any]], charts: dict[str, Any]) -> list[str]:
    """The deploy verdicts, fleet utilisation and cost sections; adds the utilisation chart."""
    from analytics.capacity import capacity_minutes, capacity_summary
    from analytics.cost import cost_report
    from analytics.deploy_verdict import judge_deploy
    from analytics.sql import query_text

    deploys = warehouse.query(query_text("gates", "deploys_in_period"), {"from_": from_, "to": to},
                              name="deploys in period")
    verdicts = [judge_deploy(warehouse, d["deploy_id"], to=to) for d in deploys]
    fleet = capacity_minutes(warehouse, from_, to)
    used = [{"minute": r["minute"], "region": r["region"], "percent": 100 * r["utilisation"]}
            for r in fleet if r["utilisation"] is not None]
    if used:
        charts["chart-utilisation"] = {**chart(minutes, used, "region", "percent", marks),
                                       "title": "Player slots in use (%) by region"}
    return [
        "<h2>Deploy verdicts (canary build against the other builds in its regions)</h2>",
        _verdict_table(verdicts),
        "<h2>Fleet utilisation (% of player slots in use)</h2>",
        "<div class='chart' id='chart-utilisation'></div>" if used
        else "<p>No fleet capacity recorded (fleet_scaled events) for this period.</p>",
        _rows_table(capacity_summary(fleet),
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


def _figures(mttr: dict[str, Any], churn: dict[str, Any]) -> str:
    def figure(label: str, value: str) -> str:
        return f"<div><b>{escape(value)}</b>{escape(label)}</div>"

    mean = "-" if mttr.get("mttr_s") is None else f"{float(mttr['mttr_s']) / 60:.1f} min"
    rate = churn.get("churn_rate")
    return ("<div class='figures'>"
            + figure(f"MTTR ({mttr['resolved']} of {mttr['incidents']} incidents resolved)", mean)
            + figure(f"churn ({churn.get('active_players', 0)} active players, not back next period)",
                     "-" if rate is None or rate != rate else f"{float(rate):.1%}")
            + "</div>")


def _incident_table(incidents: list[dict[str, Any]]) -> str:
    if not incidents:
        return "<p>No incidents in this period.</p>"
    rows = "".join(
        f"<tr><td>{escape(i['incident_id'])}</td><td>{escape(i['severity'] or '')}</td>"
        f"<td>{escape(i['title'] or '')}</td><td>{escape(', '.join(i['regions']))}</td>"
        f"<td>{_fmt(i['opened_at'])}</td><td>{_fmt(i['resolved_at']) if i['resolved_at'] else 'open'}</td>"
        f"<td class='num'>{_minutes(i['opened_at'], i['resolved_at'])}</td></tr>"
        for i in incidents)
    return ("<table><tr><th>incident</th><th>severity</th><th>title</th><th>regions</th>"
            f"<th>opened</th><th>resolved</th><th class='num'>time to resolve</th></tr>{rows}</table>")


def _incident_detail(warehouse: Warehouse, incident: dict[str, Any]) -> str:
    """One incident's customer impact by region, platform and cross-play, and its churn cohorts."""
    name = incident["incident_id"]
    impact = run_report(warehouse, "incident_impact", incident_id=name)
    cohorts = run_report(warehouse, "post_incident_churn", incident_id=name)
    totals = impact_totals(impact)
    head = (f"<h3>{escape(name)}: {totals['sessions_disrupted']} sessions of {totals['unique_players']} players "
            f"disrupted, {totals['player_minutes_lost']:.1f} player-minutes lost</h3>")
    phases = [f"{p.removesuffix('_at')} {_fmt(incident[p])}" for p in PHASES if incident.get(p)]
    rows = "".join(
        f"<tr><td>{escape(r['region'])}</td><td>{escape(r['platform'])}</td>"
        f"<td>{'yes' if r['cross_play'] else 'no'}</td><td class='num'>{r['sessions_disrupted']}</td>"
        f"<td class='num'>{r['unique_players']}</td><td class='num'>{float(r['player_minutes_lost']):.1f}</td></tr>"
        for r in impact)
    impact_table = ("<table class='impact'><tr><th>region</th><th>platform</th><th>cross-play</th>"
                    "<th class='num'>sessions</th><th class='num'>players</th>"
                    f"<th class='num'>player-minutes lost</th></tr>{rows}</table>") if impact else ""
    churn_rows = "".join(
        f"<tr><td>{escape(r['cohort'])}</td><td class='num'>{r['players']}</td><td class='num'>{r['churned']}</td>"
        f"<td class='num'>{float(r['churn_rate']):.0%}</td></tr>" for r in cohorts)
    churn_table = ("<table class='churn'><tr><th>cohort</th><th class='num'>players</th><th class='num'>churned</th>"
                   f"<th class='num'>churn (7 days)</th></tr>{churn_rows}</table>") if cohorts else ""
    return (head + f"<p class='muted'>{escape(' · '.join(phases))}</p>" + impact_table + churn_table)


def _number(value: Any) -> float | None:
    return None if value is None or value != value else float(value)  # NaN: no heartbeat that minute


def _minutes(start: datetime, end: datetime | None) -> str:
    return "-" if end is None else f"{(end - start).total_seconds() / 60:.1f} min"


def _milestone_table(row: dict[str, Any]) -> str:
    lines = "".join(
        f"<tr><td>{name.upper()}</td><td>{row[f'{name}_n']}</td>"
        + "".join(f"<td>{_in_minutes(row[f'{name}_{q}_s'])}</td>" for q in ("mean", "p50", "p90"))
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


def _in_minutes(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds / 60:.1f}"


def _fmt(instant: datetime) -> str:
    return instant.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M")
