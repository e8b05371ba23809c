"""The HTML timeline page of a replayed incident or window: one self-contained file.

A time axis with the incident's phases, disconnects per minute by region (an inline
SVG chart drawn here), and every lifecycle and ops event in a table that a small inline script filters by
region and event type. ``?region=eu-west&type=disconnected`` in the URL applies a filter on load.
The page loads nothing from anywhere.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from typing import Any, Sequence

from analytics.replay.window import WindowReplay

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

PHASE_COLOURS = {"opened": "#dc2626", "acknowledged": "#f59e0b", "mitigated": "#2563eb",
                 "resolved": "#16a34a"}

_PAGE_STYLE = """
.phase text { font-size: 11px; } .filters { margin: 1em 0; } .filters label { margin-right: 1em; }
tr.ops td { background: #fff7ed; } #shown { color: #555; margin-left: 1em; }
"""

_SCRIPT = """
(function () {
  window.addEventListener('error', function (e) { document.body.dataset.jsError = String(e.message); });
  var region = document.getElementById('region'), type = document.getElementById('type');
  var rows = Array.prototype.slice.call(document.querySelectorAll('tr.event'));
  function apply() {
    var shown = 0;
    rows.forEach(function (row) {
      var regions = row.dataset.regions.split(' ');
      var ok = (!region.value || regions.indexOf(region.value) >= 0)
            && (!type.value || row.dataset.type === type.value);
      row.hidden = !ok;
      if (ok) { shown += 1; }
    });
    document.getElementById('shown').textContent = shown + ' of ' + rows.length + ' events shown';
    document.body.dataset.shown = String(shown);
  }
  var params = new URLSearchParams(window.location.search);
  if (params.get('region') !== null) { region.value = params.get('region'); }
  if (params.get('type') !== null) { type.value = params.get('type'); }
  region.addEventListener('change', apply);
  type.addEventListener('change', apply);
  apply();
  document.body.dataset.ready = '1';
})();
"""


def write_timeline_page(replay: WindowReplay, path: Path, title: str) -> Path:
    """Write the page for ``replay`` to ``path`` and return it."""
    span = (replay.window.from_.timestamp(), replay.window.to.timestamp())
    phases = replay.phases
    body = [
        f"<h1>{escape(title)}</h1>",
        f"<p>{escape(_fmt(replay.window.from_))} to {escape(_fmt(replay.window.to))} (UTC)"
        + (f" · regions: {escape(', '.join(replay.regions))}" if replay.regions else "") + "</p>",
        "<h2>Incident phases</h2>" if phases else "",
        _phase_axis(span, phases) if phases else "",
        "<h2>Disconnects per minute by region</h2>",
        _disconnect_chart(replay, span, [t.timestamp() for t in phases.values()]),
        _impact_table(replay.impact),
        "<h2>Events</h2>",
        _event_table(replay),
    ]
    page = ("<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>{escape(title)}</title><style>{_STYLE}{_PAGE_STYLE}</style></head>"
            f"<body>{''.join(body)}<script>{_SCRIPT}</script></body></html>")
    path = Path(path)
    path.write_text(page, encoding="utf-8")
    return path


def _phase_axis(span: tuple[float, float], phases: dict[str, datetime]) -> str:
    start, end = span
    height = 60

    def x(t: float) -> float:
        return PAD + (t - start) / max(end - start, 1) * (WIDTH - 2 * PAD)

    parts = [f"<svg class='phases' width='{WIDTH}' height='{height}' viewBox='0 0 {WIDTH} {height}' role='img'>",
             f"<line class='axis' x1='{PAD}' y1='30' x2='{WIDTH - PAD}' y2='30'/>"]
    for name, instant in phases.items():
        at = x(instant.timestamp())
        colour = PHASE_COLOURS.get(name, "#111")
        parts.append(f"<g class='phase' data-phase='{escape(name)}'>"
                     f"<circle cx='{at:.1f}' cy='30' r='5' fill='{colour}'/>"
                     f"<text x='{at:.1f}' y='16' text-anchor='middle'>{escape(name)}</text>"
                     f"<text x='{at:.1f}' y='50' text-anchor='middle'>{instant.strftime('%H:%M:%S')}</text></g>")
    parts.append("</svg>")
    return "".join(parts)


def _disconnect_chart(replay: WindowReplay, span: tuple[float, float], marks: list[float]) -> str:
    """One line per region (the busiest ones, as many as the chart has colours)."""
    per_region: dict[str, list[tuple[datetime, int]]] = {}
    for row in replay.minutes:
        per_region.setdefault(row["region"], []).append((row["minute"], row["disconnects"]))
    busiest = sorted(per_region, key=lambda r: (-sum(v for _, v in per_region[r]), r))[:len(COLOURS)]
    if not busiest:
        return "<p class='chart-empty'>No disconnects, reconnects or timeouts in this window.</p>"
    chart = _chart(span, marks, [(region, per_region[region]) for region in busiest])
    return f"<div class='chart' data-regions='{escape(' '.join(busiest))}'>{chart}</div>"


def _impact_table(impact: tuple[dict[str, Any], ...]) -> str:
    if not impact:
        return ""
    columns = list(impact[0])
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    rows = "".join("<tr>" + "".join(f"<td>{escape(str(row[c]))}</td>" for c in columns) + "</tr>"
                   for row in impact)
    return f"<h2>Impact</h2><table class='impact'><tr>{head}</tr>{rows}</table>"


def _event_rows(replay: WindowReplay) -> list[dict[str, Any]]:
    rows = [{"at": e.occurred_at, "regions": list(_regions_of(e.payload)), "type": e.event_type.value,
             "who": "", "detail": _ops_text(e.payload.model_dump(mode="json")), "ops": True}
            for e in replay.ops]
    rows += [{"at": r["occurred_at"], "regions": [r["region"]], "type": r["event_type"],
              "who": f"{r['session_id'][:8]} seq {r['seq']} ({r['player_id']}, {r['platform']})",
              "detail": " ".join(v for v in (r["reason"], r["server_id"]) if v), "ops": False}
             for r in replay.lifecycle_events]
    return sorted(rows, key=lambda row: (row["at"], not row["ops"]))


def _event_table(replay: WindowReplay) -> str:
    rows = _event_rows(replay)
    regions = sorted({region for row in rows for region in row["regions"]})
    types = sorted({row["type"] for row in rows})
    filters = ("<div class='filters'>"
               f"<label>region <select id='region'><option value=''>all</option>{_options(regions)}</select></label>"
               f"<label>event <select id='type'><option value=''>all</option>{_options(types)}</select></label>"
               "<span id='shown'></span></div>")
    body = "".join(
        f"<tr class='event{' ops' if row['ops'] else ''}' data-regions='{escape(' '.join(row['regions']))}' "
        f"data-type='{escape(row['type'])}'><td>{escape(_fmt(row['at'], seconds=True))}</td>"
        f"<td>{escape(', '.join(row['regions']))}</td><td>{escape(row['type'])}</td>"
        f"<td>{escape(row['who'])}</td><td>{escape(row['detail'])}</td></tr>"
        for row in rows)
    return (f"{filters}<table class='events'><tr><th>at</th><th>region</th><th>event</th>"
            f"<th>session</th><th>detail</th></tr>{body}</table>")


def _options(values: list[str]) -> str:
    return "".join(f"<option value='{escape(v)}'>{escape(v)}</option>" for v in values)


def _regions_of(payload: Any) -> tuple[str, ...]:
    regions = getattr(payload, "regions", None)
    return tuple(regions) if regions is not None else (payload.region,)


def _ops_text(payload: dict[str, Any]) -> str:
    payload.pop("regions", None)
    return json.dumps(payload, separators=(", ", ": "))


def _fmt(instant: datetime, seconds: bool = False) -> str:
    return instant.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


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
