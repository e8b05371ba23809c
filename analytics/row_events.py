"""Warehouse rows back into events: the inverse of analytics/rows.py, pure.

``event_from_row(session_event_row(e))`` (as a dict by column name) gives ``e`` back, so the
replay folds the very events the worker folded.
"""
from __future__ import annotations

from typing import Any, Mapping

from schemas.models import OpsEvent, OpsEventType, SessionEvent, SessionEventType

_SESSION_PAYLOAD_COLUMNS: dict[SessionEventType, dict[str, str]] = {
    # payload field -> session_events column
    SessionEventType.requested: {"game_mode": "game_mode", "matchmaking_ticket": "matchmaking_ticket"},
    SessionEventType.started: {"server_id": "server_id", "game_mode": "game_mode", "queue_ms": "queue_ms"},
    SessionEventType.heartbeat: {"latency_ms": "latency_ms", "packet_loss_pct": "packet_loss_pct"},
    SessionEventType.disconnected: {"reason": "disconnect_reason"},
    SessionEventType.reconnected: {"server_id": "server_id", "downtime_ms": "downtime_ms"},
    SessionEventType.migrated: {"from_server_id": "from_server_id", "to_server_id": "to_server_id",
                                "reason": "migration_reason"},
    SessionEventType.ended: {"reason": "end_reason"},
    SessionEventType.timed_out: {"last_heartbeat_at": "last_heartbeat_at", "timeout_s": "timeout_s"},
}

_ENVELOPE = ("event_id", "session_id", "player_id", "seq", "occurred_at", "producer", "platform",
             "region", "build", "cross_play", "input_method", "trace_id", "party_id")


def event_from_row(row: Mapping[str, Any]) -> SessionEvent:
    """The session event stored as ``row`` (a session_events row as a dict by column name)."""
    event_type = SessionEventType(row["event_type"])
    fields = {name: row[name] for name in _ENVELOPE}
    fields["accessibility"] = {
        "subtitles": row["subtitles"], "colorblind_mode": row["colorblind_mode"],
        "screen_reader": row["screen_reader"], "reduced_motion": row["reduced_motion"],
    }
    fields["event_type"] = event_type
    fields["payload"] = {field: row[column]
                         for field, column in _SESSION_PAYLOAD_COLUMNS[event_type].items()}
    return SessionEvent.model_validate(fields)


_INCIDENT_V2 = ("impact_started_at", "milestone", "milestone_at", "planned_start", "planned_end")


def ops_event_from_row(row: Mapping[str, Any]) -> OpsEvent:
    """The ops event stored as ``row`` (an ops_events row as a dict by column name)."""
    event_type = OpsEventType(row["event_type"])
    if row["incident_id"] is not None:
        payload = {"incident_id": row["incident_id"], "severity": row["severity"],
                   "title": row["title"], "regions": tuple(row["regions"]),
                   "services": tuple(row["services"]),
                   "kind": row.get("incident_kind") or "unplanned",
                   **{name: row.get(name) for name in _INCIDENT_V2}}
    elif row["deploy_id"] is not None:
        payload = {"deploy_id": row["deploy_id"], "service": row["service"],
                   "version": row["version"], "regions": tuple(row["regions"]),
                   "outcome": row["deploy_outcome"], "build": row.get("build")}
    elif event_type is OpsEventType.fleet_scaled:
        payload = {"region": row["fleet_region"], "servers": row["servers"],
                   "player_slots": row["player_slots"], "hourly_cost": row["hourly_cost"],
                   "currency": row["currency"]}
    else:
        payload = {"kind": row["anomaly_kind"], "region": row["anomaly_region"],
                   "window_start": row["window_start"], "count": row["anomaly_count"],
                   "threshold": row["threshold"], "slo": row.get("slo"),
                   "alert": row.get("burn_alert"), "state": row.get("burn_state"),
                   "burn_rate": row.get("burn_rate"), "long_window_s": row.get("long_window_s")}
    return OpsEvent.model_validate({
        "event_id": row["event_id"], "occurred_at": row["occurred_at"], "producer": row["producer"],
        "event_type": event_type, "payload": payload,
    })
