"""Decoded events as warehouse rows: pure mappings, plus `write_events` that inserts a batch.

Column order here is the insert order; the names match analytics/migrations exactly.
"""
from __future__ import annotations

import gc
from typing import Any, Iterable, Sequence

from analytics.warehouse import Warehouse
from schemas.models import (
    Anomaly, Deploy, Disconnected, Ended, FleetCapacity, Heartbeat, Incident, Migrated, OpsEvent, Reconnected,
    SessionEvent, SessionRequested, SessionStarted, TimedOut,
)

SESSION_EVENT_COLUMNS: tuple[str, ...] = (
    "event_id", "session_id", "player_id", "seq", "occurred_at", "producer", "platform",
    "region", "build", "cross_play", "input_method", "subtitles", "colorblind_mode",
    "screen_reader", "reduced_motion", "trace_id", "party_id", "event_type",
    "game_mode", "matchmaking_ticket", "server_id", "queue_ms", "latency_ms", "packet_loss_pct",
    "disconnect_reason", "downtime_ms", "from_server_id", "to_server_id", "migration_reason",
    "end_reason", "last_heartbeat_at", "timeout_s",
)

OPS_EVENT_COLUMNS: tuple[str, ...] = (
    "event_id", "occurred_at", "producer", "event_type", "incident_id", "severity", "title",
    "regions", "services", "deploy_id", "service", "version", "deploy_outcome", "anomaly_kind",
    "anomaly_region", "window_start", "anomaly_count", "threshold", "build", "fleet_region",
    "servers", "player_slots", "hourly_cost", "currency",
    "incident_kind", "impact_started_at", "milestone", "milestone_at", "planned_start",
    "planned_end", "slo", "burn_alert", "burn_state", "burn_rate", "long_window_s",
)

_PAYLOAD_COLUMNS = SESSION_EVENT_COLUMNS[SESSION_EVENT_COLUMNS.index("game_mode"):]


def session_event_row(event: SessionEvent) -> tuple[Any, ...]:
    """One session_events row, in SESSION_EVENT_COLUMNS order."""
    a = event.accessibility
    envelope = (
        event.event_id, event.session_id, event.player_id, event.seq, event.occurred_at,
        event.producer, event.platform.value, event.region, event.build, event.cross_play,
        event.input_method.value, a.subtitles, a.colorblind_mode.value, a.screen_reader,
        a.reduced_motion, event.trace_id, event.party_id, event.event_type.value,
    )
    payload = dict.fromkeys(_PAYLOAD_COLUMNS)
    payload.update(_session_payload(event.payload))
    return envelope + tuple(payload.values())


def _session_payload(p: Any) -> dict[str, Any]:
    if isinstance(p, Heartbeat):
        return {"latency_ms": p.latency_ms, "packet_loss_pct": p.packet_loss_pct}
    if isinstance(p, SessionStarted):
        return {"server_id": p.server_id, "game_mode": p.game_mode, "queue_ms": p.queue_ms}
    if isinstance(p, SessionRequested):
        return {"game_mode": p.game_mode, "matchmaking_ticket": p.matchmaking_ticket}
    if isinstance(p, Disconnected):
        return {"disconnect_reason": p.reason.value}
    if isinstance(p, Reconnected):
        return {"server_id": p.server_id, "downtime_ms": p.downtime_ms}
    if isinstance(p, Migrated):
        return {"from_server_id": p.from_server_id, "to_server_id": p.to_server_id,
                "migration_reason": p.reason}
    if isinstance(p, Ended):
        return {"end_reason": p.reason.value}
    if isinstance(p, TimedOut):
        return {"last_heartbeat_at": p.last_heartbeat_at, "timeout_s": p.timeout_s}
    raise TypeError(f"no session_events columns for payload {type(p).__name__}")


def ops_event_row(event: OpsEvent) -> tuple[Any, ...]:
    """One ops_events row, in OPS_EVENT_COLUMNS order."""
    row: dict[str, Any] = dict.fromkeys(OPS_EVENT_COLUMNS)
    row.update(event_id=event.event_id, occurred_at=event.occurred_at, producer=event.producer,
               event_type=event.event_type.value, regions=[], services=[])
    p = event.payload
    if isinstance(p, Incident):
        row.update(incident_id=p.incident_id, severity=p.severity.value, title=p.title,
                   regions=list(p.regions), services=list(p.services),
                   incident_kind=p.kind.value, impact_started_at=p.impact_started_at,
                   milestone=p.milestone.value if p.milestone else None,
                   milestone_at=p.milestone_at, planned_start=p.planned_start,
                   planned_end=p.planned_end)
    elif isinstance(p, Deploy):
        row.update(deploy_id=p.deploy_id, service=p.service, version=p.version,
                   regions=list(p.regions), deploy_outcome=p.outcome.value if p.outcome else None,
                   build=p.build)
    elif isinstance(p, Anomaly):
        row.update(anomaly_kind=p.kind, anomaly_region=p.region, window_start=p.window_start,
                   anomaly_count=p.count, threshold=p.threshold, slo=p.slo,
                   burn_alert=p.alert.value if p.alert else None,
                   burn_state=p.state.value if p.state else None,
                   burn_rate=p.burn_rate, long_window_s=p.long_window_s)
    elif isinstance(p, FleetCapacity):
        row.update(fleet_region=p.region, servers=p.servers, player_slots=p.player_slots,
                   hourly_cost=p.hourly_cost, currency=p.currency)
    else:
        raise TypeError(f"no ops_events columns for payload {type(p).__name__}")
    return tuple(row.values())


def split_rows(events: Iterable[SessionEvent | OpsEvent]) -> tuple[list[tuple], list[tuple]]:
    """(session_events rows, ops_events rows) for a mixed batch, in batch order."""
    sessions, ops = [], []
    for event in events:
        if isinstance(event, SessionEvent):
            sessions.append(session_event_row(event))
        elif isinstance(event, OpsEvent):
            ops.append(ops_event_row(event))
        else:
            raise TypeError(f"not a ledger event: {type(event).__name__}")
    return sessions, ops


def write_records(warehouse: Warehouse, sessions: Sequence[tuple], ops: Sequence[tuple],
                  dedup_token: str | None = None) -> tuple[int, int]:
    """Insert rows already in column order (``schemas.records`` records, or ``split_rows``'
    tuples) into session_events and ops_events; returns (session rows, ops rows).

    ``dedup_token`` names the batch as for ``write_events``; a table with no rows is skipped.
    """
    if sessions:
        warehouse.insert_rows("session_events", SESSION_EVENT_COLUMNS, sessions,
                              dedup_token=f"{dedup_token}/session" if dedup_token else None)
    if ops:
        warehouse.insert_rows("ops_events", OPS_EVENT_COLUMNS, ops,
                              dedup_token=f"{dedup_token}/ops" if dedup_token else None)
    return len(sessions), len(ops)


SESSION_MILLIS_COLUMNS = ("occurred_at", "last_heartbeat_at")
OPS_MILLIS_COLUMNS = ("occurred_at", "window_start", "impact_started_at", "milestone_at",
                      "planned_start", "planned_end")
"""The DateTime64(3) columns, which ``write_rows`` receives as epoch milliseconds."""


def write_rows(warehouse: Warehouse, sessions: Sequence[tuple], ops: Sequence[tuple],
               dedup_token: str | None = None) -> tuple[int, int]:
    """Insert ``schemas.batch.BatchDecoder.decode_rows`` rows (tuples in column order,
    timestamps as epoch milliseconds) into session_events and ops_events, each table as one
    columnar block; returns (session rows, ops rows). ``dedup_token`` as for ``write_events``.
    """
    collecting = gc.isenabled()
    gc.disable()  # zip(*rows) makes one large tuple per column: nothing for a collection to find
    try:
        session_columns = list(zip(*sessions))
        ops_columns = list(zip(*ops))
    finally:
        if collecting:
            gc.enable()
    if sessions:
        warehouse.insert_columns("session_events", SESSION_EVENT_COLUMNS, session_columns,
                                 dedup_token=f"{dedup_token}/session" if dedup_token else None,
                                 millis=SESSION_MILLIS_COLUMNS)
    if ops:
        warehouse.insert_columns("ops_events", OPS_EVENT_COLUMNS, ops_columns,
                                 dedup_token=f"{dedup_token}/ops" if dedup_token else None,
                                 millis=OPS_MILLIS_COLUMNS)
    return len(sessions), len(ops)


def write_events(warehouse: Warehouse, events: Sequence[SessionEvent | OpsEvent],
                 dedup_token: str | None = None) -> tuple[int, int]:
    """Insert a decoded batch into session_events and ops_events; returns (session rows, ops rows).

    ``dedup_token`` should name the batch deterministically (e.g. topic/partition/first-last
    offset) so a re-delivered batch is dropped whole; each table gets its own derived token.
    Duplicates that arrive in differently cut batches are collapsed by the tables themselves.
    """
    sessions, ops = split_rows(events)
    return write_records(warehouse, sessions, ops, dedup_token)
