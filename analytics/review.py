"""What the incident review room shows from the history: the documents behind the worker's
/ui/ pages (the overview's history half, an incident, a session), and the short narrative
written from an incident's figures.

Each ``*_review`` function reads a ``Warehouse`` passed in and returns JSON-ready values:
instants as ISO 8601 strings, charts as ``{"x": [epoch seconds], "series": [{"label",
"values"}], "marks": [...]}`` (the spec analytics/charts/charts.js draws). ``narrate`` is pure.
Filters: ``region`` and ``platform``, '' for all.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Sequence

from analytics.replay.errors import IncidentNotFound, SessionNotFound
from analytics.replay.heartbeat_ttl import heartbeats_before
from analytics.replay.history import history_end, session_events_of
from analytics.replay.session_timeline import replay_session
from analytics.replay.window import PHASES, replay_incident
from analytics.reports import run_report
from analytics.sql import query_text
from analytics.warehouse import Warehouse
from projections.timestamps import from_millis

HOUR = timedelta(hours=1)
RECENT = timedelta(hours=24)
"""Incidents opened and anomalies detected this long before the end of the overview's hour are listed."""
PADDING = timedelta(minutes=15)
"""An incident's charts start this long before its opening and end this long after its end."""
DEPLOY_LOOKBACK_MINUTES = 120
"""Deploys started this many minutes before an incident's opening are listed on its page."""
FOLLOW_DAYS = 7
"""Post-incident churn: days in which a disrupted player must come back."""
AFFECTED_SHOWN = 50
"""Sessions affected by an incident linked from its page."""


def review(warehouse: Warehouse, name: str, **params: Any) -> list[dict[str, Any]]:
    return warehouse.query(query_text("review", name), params, name=f"review {name}")


# --- the overview ------------------------------------------------------------------------


def review_end(warehouse: Warehouse, now: datetime) -> datetime:
    """The end (exclusive) of the hour the overview shows: the start of the minute the history
    has reached, so the last minute shown is one the history holds whole; ``now``'s minute
    while the history is empty."""
    last = history_end(warehouse)
    return floor_minute(last) if last else ceil_minute(now)


def overview_review(warehouse: Warehouse, now: datetime, region: str = "", platform: str = "") -> dict[str, Any]:
    """The last hour of the history: concurrency by region and by platform, disconnects and
    timeouts per minute, incidents to review, recent anomalies, and the regions seen."""
    end = review_end(warehouse, now)
    start = end - HOUR
    period = {"from_": start, "to": end}
    minutes = minute_axis(start, end)
    segments = review(warehouse, "concurrency_by_segment", **period, region=region, platform=platform)
    rollup = run_report(warehouse, "minute_rollup", **period, region=region, platform=platform)
    incidents = review(warehouse, "incidents_to_review", from_=end - RECENT, to=end, region=region)
    anomalies = review(warehouse, "anomalies_in_window", from_=end - RECENT, to=end, region=region)
    marks = [{"at": i["opened_at"].timestamp(), "label": i["incident_id"]} for i in incidents
             if start <= i["opened_at"] < end]
    return {
        "from": iso(start), "to": iso(end),
        "history_end": iso(history_end(warehouse)),
        "concurrency_by_region": chart(minutes, segments, "region", "concurrent", marks),
        "concurrency_by_platform": chart(minutes, segments, "platform", "concurrent", marks),
        "disruptions": series_chart(minutes, rollup, ("disconnects", "timeouts", "reconnects"), marks),
        "incidents": [incident_row(i) for i in incidents],
        "anomalies": [jsonable(a) for a in anomalies],
        "regions": sorted(r["region"] for r in review(warehouse, "regions_seen", from_=end - RECENT, to=end)),
    }


# --- an incident ---------------------------------------------------------------------------


def incident_review(warehouse: Warehouse, incident_id: str, region: str = "",
                    platform: str = "") -> dict[str, Any]:
    """Everything the incident page shows; ``IncidentNotFound`` when it was never opened."""
    replay = replay_incident(warehouse, incident_id)
    incident = replay.incident
    opened = incident["opened_at"]
    end = replay.window.to
    regions = [region] if region else list(incident["regions"])
    start, stop = floor_minute(opened - PADDING), ceil_minute(end + PADDING)
    minutes = minute_axis(start, stop)
    span = {"from_": start, "to": stop}
    rows = review(warehouse, "minutes_in_regions", **span, regions=",".join(regions), platform=platform)
    segments = [s for s in review(warehouse, "concurrency_by_segment", **span, region=region, platform=platform)
                if s["region"] in regions]
    impact = [row for row in replay.impact
              if (not region or row["region"] == region) and (not platform or row["platform"] == platform)]
    churn = run_report(warehouse, "post_incident_churn", incident_id=incident_id, follow_days=FOLLOW_DAYS)
    deploys = review(warehouse, "deploys_before", at=opened, lookback_minutes=DEPLOY_LOOKBACK_MINUTES)
    milestones = [{"phase": p.removesuffix("_at"), "at": iso(incident[p]),
                   "after_s": (incident[p] - opened).total_seconds()} for p in PHASES if incident.get(p)]
    marks = [{"at": incident[p].timestamp(), "label": p.removesuffix("_at")} for p in PHASES if incident.get(p)]
    affected = [s for s in replay.sessions_affected
                if (not region or s["region"] == region) and (not platform or s["platform"] == platform)]
    return {
        "incident": incident_row(incident),
        "window": {"from": iso(opened), "to": iso(end)},
        "filters": {"region": region, "platform": platform},
        "regions": list(incident["regions"]),
        "milestones": milestones,
        "replay": series_chart(minutes, rows, ("disconnects", "reconnects", "timeouts", "abnormal_ends"), marks),
        "concurrency": chart(minutes, segments, "region", "concurrent", marks),
        "minutes": [jsonable(r) for r in rows if opened <= r["minute"] + timedelta(minutes=1) and r["minute"] <= end],
        "impact": [jsonable(r) for r in impact],
        "impact_totals": impact_totals(impact),
        "churn": [jsonable(r) for r in churn],
        "deploys": [jsonable(d) for d in deploys],
        "sessions_affected": [jsonable(s) for s in affected[:AFFECTED_SHOWN]],
        "sessions_affected_count": len(affected),
        "narrative": narrate(incident, rows, impact, churn, deploys, regions, before=PADDING),
        "commands": replay_commands(incident_id, opened, end, regions, affected),
    }


def impact_totals(impact: Sequence[dict[str, Any]]) -> dict[str, float]:
    return {"sessions_disrupted": sum(int(r["sessions_disrupted"]) for r in impact),
            "unique_players": sum(int(r["unique_players"]) for r in impact),
            "player_minutes_lost": round(sum(float(r["player_minutes_lost"]) for r in impact), 3)}


def replay_commands(incident_id: str, opened: datetime, end: datetime, regions: Sequence[str],
                    affected: Sequence[dict[str, Any]]) -> list[str]:
    """The ``ledger replay`` commands that dig deeper into the incident."""
    commands = [f"ledger replay incident {incident_id}",
                f"ledger replay incident {incident_id} --html incident-{incident_id}.html"]
    for region in regions:
        commands.append(f"ledger replay window --from {stamp(opened - PADDING)} --to {stamp(end + PADDING)} "
                        f"--region {region}")
    commands.append(f"ledger replay window --at {stamp(opened)}")
    if affected:
        commands.append(f"ledger replay session {affected[0]['session_id']}")
    return commands


def narrate(incident: dict[str, Any], minutes: Sequence[dict[str, Any]], impact: Sequence[dict[str, Any]],
            churn: Sequence[dict[str, Any]], deploys: Sequence[dict[str, Any]], regions: Sequence[str],
            before: timedelta = PADDING) -> list[str]:
    """A few sentences about an incident, written from its figures (pure).

    ``minutes``: per-minute rows (minute, disconnects, timeouts) of ``regions`` around the
    incident; ``impact``/``churn``: the incident_impact and post_incident_churn rows;
    ``deploys``: deploys before its opening, latest first.
    """
    opened = incident["opened_at"]
    where = ", ".join(regions) or "every region"
    title = f": {incident['title']}" if incident.get("title") else ""
    lines = [f"{incident['incident_id']} ({incident.get('severity') or 'no severity'}, {where}) "
             f"was opened at {hm(opened)} UTC{title}."]
    if deploys:
        d = deploys[0]
        ago = (opened - d["started_at"]).total_seconds() / 60
        outcome = d.get("outcome") or "not finished"
        lines.append(f"Deploy {d['deploy_id']} ({d.get('service') or '?'} {d.get('version') or ''}".rstrip()
                     + f") started at {hm(d['started_at'])}, {ago:.0f} min before; outcome: {outcome}.")
    end = incident.get("resolved_at")
    baseline = [m["disconnects"] for m in minutes if opened - before <= m["minute"] < opened]
    during = [m for m in minutes if m["minute"] >= floor_minute(opened) and (end is None or m["minute"] <= end)]
    if during:
        peak = max(during, key=lambda m: (m["disconnects"], -m["minute"].timestamp()))
        if peak["disconnects"]:
            usual = sum(baseline) / len(baseline) if baseline else 0.0
            lines.append(f"At {hm(peak['minute'])} disconnects in {where} rose to {peak['disconnects']} a minute "
                         f"(from {usual:.1f} a minute in the {before.total_seconds() / 60:.0f} minutes before).")
        timeouts = sum(m["timeouts"] for m in during)
        if timeouts:
            lines.append(f"{timeouts} session(s) timed out while it lasted.")
    reached = [(p.removesuffix("_at"), incident[p]) for p in PHASES[1:] if incident.get(p)]
    if reached:
        lines.append(", ".join(f"{phase} after {minutes_between(opened, at)}" for phase, at in reached)
                     .capitalize() + ".")
    if not end:
        lines.append("It is still open.")
    totals = impact_totals(impact)
    if totals["sessions_disrupted"]:
        worst = _worst(impact, "platform")
        lines.append(f"{totals['sessions_disrupted']} sessions of {totals['unique_players']} players were "
                     f"disrupted, {totals['player_minutes_lost']:.1f} player-minutes lost; most on {worst}.")
    else:
        lines.append("No session was disrupted in its regions.")
    cohorts = {row["cohort"]: row for row in churn}
    if "disrupted" in cohorts and cohorts["disrupted"]["players"]:
        line = f"{float(cohorts['disrupted']['churn_rate']):.0%} of the disrupted players did not come back"
        if "undisrupted" in cohorts and cohorts["undisrupted"]["players"]:
            line += f", against {float(cohorts['undisrupted']['churn_rate']):.0%} of the undisrupted"
        lines.append(line + ".")
    return lines


def _worst(rows: Iterable[dict[str, Any]], key: str) -> str:
    totals: dict[str, int] = defaultdict(int)
    for row in rows:
        totals[str(row[key])] += int(row["sessions_disrupted"])
    name, count = max(totals.items(), key=lambda item: (item[1], item[0]))
    return f"{name} ({count} sessions)"


# --- a session ---------------------------------------------------------------------------


def session_review(warehouse: Warehouse, session_id: str) -> dict[str, Any]:
    """One session's timeline as folded from the history, derived events marked;
    ``SessionNotFound`` when the history holds none of its events."""
    replayed = replay_session(session_id, session_events_of(warehouse, session_id), "history",
                              heartbeats_before=heartbeats_before(warehouse))
    if replayed is None:
        raise SessionNotFound(session_id)
    state = {k: iso(from_millis(v)) if k.endswith("_at") and isinstance(v, int) else v
             for k, v in replayed.final.to_dict().items()}
    timeline = [{**line.as_dict(), "occurred_at": iso(line.occurred_at)} for line in replayed.lines]
    return {"session_id": session_id, "timeline": timeline,
            "derived": sum(1 for line in replayed.lines if line.derived), "state": jsonable(state)}


# --- shapes ------------------------------------------------------------------------------


def minute_axis(start: datetime, end: datetime) -> list[datetime]:
    """Every minute start in [start, end)."""
    minute, minutes = ceil_minute(start), []
    while minute < end:
        minutes.append(minute)
        minute += timedelta(minutes=1)
    return minutes


def chart(minutes: Sequence[datetime], rows: Iterable[dict[str, Any]], by: str, value: str,
          marks: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """One series per value of ``rows[by]``, summing ``value`` per minute (0 where none)."""
    index = {m: i for i, m in enumerate(minutes)}
    series: dict[str, list[float]] = {}
    for row in rows:
        i = index.get(row["minute"])
        if i is None:
            continue
        values = series.setdefault(str(row[by]), [0] * len(minutes))
        values[i] += row[value]
    return {"x": [m.timestamp() for m in minutes], "marks": list(marks),
            "series": [{"label": label, "values": values} for label, values in sorted(series.items())]}


def series_chart(minutes: Sequence[datetime], rows: Iterable[dict[str, Any]], values: Sequence[str],
                 marks: Sequence[dict[str, Any]] = (), missing: float | None = 0) -> dict[str, Any]:
    """One series per column of ``values`` over ``minutes`` (``missing`` where no row: 0 for
    counts, None for a measure such as latency, which the chart leaves as a gap)."""
    seen = {row["minute"]: row for row in rows}
    return {"x": [m.timestamp() for m in minutes], "marks": list(marks),
            "series": [{"label": name, "values": [seen[m][name] if m in seen else missing for m in minutes]}
                       for name in values]}


def incident_row(incident: dict[str, Any]) -> dict[str, Any]:
    row = jsonable({k: incident.get(k) for k in ("incident_id", "severity", "title", "regions", "services",
                                                 *PHASES)})
    row["status"] = next((p.removesuffix("_at") for p in reversed(PHASES) if incident.get(p)), "opened")
    return row


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return iso(value)
    if hasattr(value, "as_tuple"):  # Decimal
        return float(value)
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def stamp(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def hm(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%H:%M")


def minutes_between(start: datetime, end: datetime) -> str:
    return f"{(end - start).total_seconds() / 60:.0f} min"


def floor_minute(instant: datetime) -> datetime:
    return instant.replace(second=0, microsecond=0)


def ceil_minute(instant: datetime) -> datetime:
    floor = floor_minute(instant)
    return floor if floor == instant else floor + timedelta(minutes=1)
