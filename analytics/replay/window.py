"""An incident or a window of the history: ops events interleaved with per-minute disruption
counts by region, the sessions affected, and (for an incident) its customer impact.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from analytics.replay.errors import EmptyWindow, IncidentNotFound, check_window
from analytics.replay.history import Window, history_end, ops_events, query
from analytics.reports import run_report
from analytics.warehouse import Warehouse
from schemas.models import Deploy, Incident, OpsEvent

PHASES = ("opened_at", "acknowledged_at", "mitigated_at", "resolved_at")
SESSIONS_SHOWN = 1000
EVENTS_SHOWN = 5000


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
    return WindowReplay(
        window=window, regions=regions, ops=tuple(ops),
        minutes=tuple(query(warehouse, "minutes_by_region", **span)),
        sessions_affected=tuple(query(warehouse, "sessions_affected", **span, limit=SESSIONS_SHOWN)),
        lifecycle_events=tuple(query(warehouse, "window_lifecycle_events", **span, limit=EVENTS_SHOWN)),
        incident=incident, impact=impact,
    )


def _ops_region(event: OpsEvent) -> str:
    payload = event.payload
    if isinstance(payload, (Incident, Deploy)):
        return ",".join(payload.regions)
    return payload.region


def _ops_detail(event: OpsEvent) -> dict[str, Any]:
    payload = event.payload.model_dump(mode="json")
    payload.pop("regions", None)
    return payload


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else list(v) if isinstance(v, tuple) else v)
            for k, v in row.items()}
