"""An incident or a window of the history: ops events interleaved with per-minute disruption
counts by region, the sessions affected, and (for an incident) its customer impact.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from analytics.replay.errors import EmptyWindow, IncidentNotFound, check_window
from analytics.replay.history import Window, history_end, ops_events, query, sql
from analytics.reports import run_report
from analytics.warehouse import Warehouse
from projections.timestamps import from_millis
from schemas.models import Deploy, Incident, OpsEvent

PHASES = ("opened_at", "acknowledged_at", "mitigated_at", "resolved_at")
SESSIONS_SHOWN = 1000
EVENTS_SHOWN = 5000
OVERRULED_CHUNK = 1000
"""Session ids per question to session_summary about overruled verdicts."""
ABNORMAL_ENDS = ["error", "server_crash"]
"""End reasons that make an ended session a disruption."""

_LIFECYCLE_COLUMNS = ("occurred_at", "session_id", "player_id", "seq", "region", "platform",
                      "event_type", "reason", "server_id")
_AFFECTED_COLUMNS = ("session_id", "player_id", "region", "platform", "disconnects", "reconnects",
                     "timeouts", "abnormal_ends", "first_disrupted_at")


@dataclass(frozen=True)
class Entry:
    """One line of the interleaved timeline: an ops event, or one minute of one region."""

    at: datetime
    kind: str
    """"ops" or "minute"."""
    region: str
    what: str
    detail: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "kind": self.kind, "region": self.region,
                "what": self.what, **self.detail}


@dataclass(frozen=True)
class WindowReplay:
    window: Window
    regions: tuple[str, ...]
    """Regions the counts and sessions are restricted to (empty: every region)."""
    ops: tuple[OpsEvent, ...]
    minutes: tuple[dict[str, Any], ...]
    sessions_affected: tuple[dict[str, Any], ...]
    lifecycle_events: tuple[dict[str, Any], ...]
    incident: dict[str, Any] | None = None
    impact: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    @property
    def entries(self) -> list[Entry]:
        return interleave(self.ops, self.minutes)

    @property
    def phases(self) -> dict[str, datetime]:
        """The incident's phase instants that were reached (empty for a plain window)."""
        if self.incident is None:
            return {}
        return {p.removesuffix("_at"): self.incident[p] for p in PHASES if self.incident.get(p)}

    def as_dict(self) -> dict[str, Any]:
        return {
            "from": self.window.from_.isoformat(), "to": self.window.to.isoformat(),
            "regions": list(self.regions),
            "incident": _jsonable(self.incident) if self.incident else None,
            "timeline": [entry.as_dict() for entry in self.entries],
            "sessions_affected": [_jsonable(s) for s in self.sessions_affected],
            "impact": [_jsonable(row) for row in self.impact],
        }


def interleave(ops: tuple[OpsEvent, ...] | list[OpsEvent],
               minutes: tuple[dict[str, Any], ...] | list[dict[str, Any]]) -> list[Entry]:
    """Ops events and per-minute counts on one time axis; at the same instant, ops first."""
    entries = [Entry(e.occurred_at, "ops", _ops_region(e), e.event_type.value, _ops_detail(e))
               for e in ops]
    entries += [Entry(m["minute"], "minute", m["region"], "disruptions",
                      {k: m[k] for k in ("disconnects", "reconnects", "timeouts")})
                for m in minutes]
    return sorted(entries, key=lambda e: (e.at, e.kind != "ops", e.region))


def replay_window(warehouse: Warehouse, from_: datetime, to: datetime, region: str = "") -> WindowReplay:
    """Replay [from_, to) (one region, or all); raises ``EmptyWindow`` when nothing happened in it."""
    check_window(from_, to)
    window = Window(from_, to, region)
    regions = (region,) if region else ()
    replay = _gather(warehouse, window, regions, ops_events(warehouse, window))
    if not replay.ops and not replay.lifecycle_events and not replay.minutes:
        raise EmptyWindow(from_, to, region)
    return replay


def replay_incident(warehouse: Warehouse, incident_id: str) -> WindowReplay:
    """Replay an incident from its opening to its resolution (still open: to the end of history),
    restricted to the incident's regions, with its impact figures."""
    found = query(warehouse, "incident_window", incident_id=incident_id)
    if not found:
        raise IncidentNotFound(incident_id)
    incident = found[0]
    start = incident["opened_at"]
    end = incident["resolved_at"] or history_end(warehouse) or start
    window = Window(start, end + timedelta(milliseconds=1))
    ops = ops_events(warehouse, window, incident_id)
    impact = tuple(run_report(warehouse, "incident_impact", incident_id=incident_id))
    return _gather(warehouse, window, tuple(incident["regions"]), ops, incident, impact)


def _gather(warehouse: Warehouse, window: Window, regions: tuple[str, ...], ops: list[OpsEvent],
            incident: dict[str, Any] | None = None, impact: tuple[dict[str, Any], ...] = ()) -> WindowReplay:
    span = {"from_": window.from_, "to": window.to, "regions": ",".join(regions)}
    events = warehouse.query_table(sql("window_events"), span, name="replay window_events")
    return WindowReplay(
        window=window, regions=regions, ops=tuple(ops),
        minutes=tuple(query(warehouse, "minutes_by_region", **span)),
        sessions_affected=affected_sessions(events, _overruled(warehouse, events), SESSIONS_SHOWN),
        lifecycle_events=lifecycle_rows(events, EVENTS_SHOWN),
        incident=incident, impact=impact,
    )


def _overruled(warehouse: Warehouse, events: pa.Table) -> set[str]:
    """The sessions of ``events`` whose timeout verdict the end rule overruled (whole history)."""
    timed_out = events.filter(pc.equal(events["event_type"], "timed_out"))
    ids = pc.unique(timed_out["session_id"]).to_pylist()
    overruled: set[str] = set()
    for first in range(0, len(ids), OVERRULED_CHUNK):
        rows = query(warehouse, "verdicts_overruled", sessions=",".join(ids[first:first + OVERRULED_CHUNK]))
        overruled.update(row["session_id"] for row in rows)
    return overruled


def lifecycle_rows(events: pa.Table, limit: int) -> tuple[dict[str, Any], ...]:
    """The first ``limit`` of the window's lifecycle events (window_events.sql columns), as the
    page and --json show them. Pure."""
    shown = events.slice(0, limit)
    columns = {name: shown[name].to_pylist() for name in _LIFECYCLE_COLUMNS if name != "occurred_at"}
    columns["occurred_at"] = _instants(shown["occurred_at"])
    return tuple({name: columns[name][i] for name in _LIFECYCLE_COLUMNS} for i in range(shown.num_rows))


def affected_sessions(events: pa.Table, overruled: set[str], limit: int) -> tuple[dict[str, Any], ...]:
    """Sessions disconnected, timed out (a verdict that stands) or ended with error/server_crash
    among the window's lifecycle events, with their counts and first disruption, the first
    ``limit`` by first disruption then session id. Pure."""
    kind = events["event_type"]
    standing = pc.invert(pc.and_(pc.equal(kind, "timed_out"), pc.is_in(
        events["session_id"], value_set=pa.array(sorted(overruled), pa.string()))))
    events = events.filter(standing)
    kind = events["event_type"]
    disconnect, timeout = pc.equal(kind, "disconnected"), pc.equal(kind, "timed_out")
    abnormal = pc.and_(pc.equal(kind, "ended"),
                       pc.is_in(events["end_reason"], value_set=pa.array(ABNORMAL_ENDS)))
    disrupted = pc.or_(pc.or_(disconnect, timeout), abnormal)
    millis = pc.cast(events["occurred_at"], pa.timestamp("ms", "UTC")).cast(pa.int64())
    counted = pa.table({
        "session_id": events["session_id"], "player_id": events["player_id"],
        "region": events["region"], "platform": events["platform"],
        "disconnects": pc.cast(disconnect, pa.int64()),
        "reconnects": pc.cast(pc.equal(kind, "reconnected"), pa.int64()),
        "timeouts": pc.cast(timeout, pa.int64()), "abnormal_ends": pc.cast(abnormal, pa.int64()),
        "first_disrupted_at": pc.if_else(disrupted, millis, pa.scalar(None, pa.int64())),
    })
    grouped = counted.group_by("session_id", use_threads=False).aggregate(
        [(name, "first") for name in ("player_id", "region", "platform")]
        + [(name, "sum") for name in ("disconnects", "reconnects", "timeouts", "abnormal_ends")]
        + [("first_disrupted_at", "min")])
    grouped = grouped.rename_columns([name.rsplit("_", 1)[0] if name.endswith(("_first", "_sum", "_min"))
                                      else name for name in grouped.column_names])
    hit = pc.add(pc.add(grouped["disconnects"], grouped["timeouts"]), grouped["abnormal_ends"])
    shown = grouped.filter(pc.greater(hit, 0)).sort_by(
        [("first_disrupted_at", "ascending"), ("session_id", "ascending")]).slice(0, limit)
    columns = {name: shown[name].to_pylist() for name in _AFFECTED_COLUMNS}
    columns["first_disrupted_at"] = [from_millis(ms) for ms in columns["first_disrupted_at"]]
    return tuple({name: columns[name][i] for name in _AFFECTED_COLUMNS} for i in range(shown.num_rows))


def _instants(column: pa.ChunkedArray) -> list[datetime]:
    millis = pc.cast(column, pa.timestamp("ms", "UTC")).cast(pa.int64()).to_pylist()
    return [from_millis(ms) for ms in millis]


def _ops_region(event: OpsEvent) -> str:
    payload = event.payload
    if isinstance(payload, (Incident, Deploy)):
        return ",".join(payload.regions)
    return payload.region


def _ops_detail(event: OpsEvent) -> dict[str, Any]:
    """The payload's fields beside the entry's own (the payload's ``kind`` as ``incident_kind`` or
    ``anomaly_kind``, so it does not hide the entry's); fields left unset are left out."""
    payload = event.payload.model_dump(mode="json", exclude_none=True)
    payload.pop("regions", None)
    if "kind" in payload:
        payload[f"{type(event.payload).__name__.lower()}_kind"] = payload.pop("kind")
    return payload


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else list(v) if isinstance(v, tuple) else v)
            for k, v in row.items()}
