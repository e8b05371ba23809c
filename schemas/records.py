"""Events as flat records: one tuple per event, one slot per column, no models.

This is the layout the batch decoder (``schemas.batch``) produces and the hot paths take: the
history sink inserts a record as a row as it is, the live fold can read it by attribute.

- ``SessionRecord`` has one field per ``SESSION_COLUMNS``: the envelope, the accessibility
  settings flattened, ``event_type``, then every payload field of every event type, ``None``
  where the event's payload has no such field.
- ``OpsRecord`` likewise for ``OPS_COLUMNS``; ``regions`` and ``services`` are lists (``[]``
  on an anomaly).

Values are what the models hold, as plain Python: UUIDs as canonical lower-case strings, enums
as their string values, timestamps as timezone-aware UTC ``datetime`` (what the fold compares
and adds timedeltas to, and what the warehouse inserts as ``DateTime64(3)``), booleans,
ints, and ``packet_loss_pct`` as the float read from the wire's 32-bit float.

Both record types are ``NamedTuple``s, so a record *is* a row: ``tuple(record)`` and
``record == row`` hold, with no conversion. The column order is the warehouse's insert order
(analytics/migrations); a unit test keeps it equal to ``analytics.rows``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from schemas.models import OpsEvent, SessionEvent


class SessionRecord(NamedTuple):
    """One session event, flat (see the module doc); fields in ``SESSION_COLUMNS`` order."""

    event_id: str
    session_id: str
    player_id: str
    seq: int
    occurred_at: datetime
    producer: str
    platform: str
    region: str
    build: str
    cross_play: bool
    input_method: str
    subtitles: bool
    colorblind_mode: str
    screen_reader: bool
    reduced_motion: bool
    trace_id: str | None
    party_id: str | None
    event_type: str
    game_mode: str | None = None            # requested, started
    matchmaking_ticket: str | None = None   # requested
    server_id: str | None = None            # started, reconnected
    queue_ms: int | None = None             # started
    latency_ms: int | None = None           # heartbeat
    packet_loss_pct: float | None = None    # heartbeat
    disconnect_reason: str | None = None    # disconnected: Disconnected.reason
    downtime_ms: int | None = None          # reconnected
    from_server_id: str | None = None       # migrated
    to_server_id: str | None = None         # migrated
    migration_reason: str | None = None     # migrated: Migrated.reason
    end_reason: str | None = None           # ended: Ended.reason
    last_heartbeat_at: datetime | None = None  # timed_out
    timeout_s: int | None = None            # timed_out

    @property
    def is_derived(self) -> bool:
        """Whether the ledger derived this event (a timed_out verdict), not a producer."""
        return self.event_type == "timed_out"


class OpsRecord(NamedTuple):
    """One ops event, flat (see the module doc); fields in ``OPS_COLUMNS`` order."""

    event_id: str
    occurred_at: datetime
    producer: str
    event_type: str
    incident_id: str | None = None
    severity: str | None = None
    title: str | None = None
    regions: list[str] = []       # incident, deploy (decoders always pass a fresh list)
    services: list[str] = []      # incident
    deploy_id: str | None = None
    service: str | None = None
    version: str | None = None
    deploy_outcome: str | None = None
    anomaly_kind: str | None = None
    anomaly_region: str | None = None
    window_start: datetime | None = None
    anomaly_count: int | None = None
    threshold: int | None = None
    build: str | None = None            # deploy (v2)
    fleet_region: str | None = None     # fleet_scaled
    servers: int | None = None          # fleet_scaled
    player_slots: int | None = None     # fleet_scaled
    hourly_cost: float | None = None    # fleet_scaled
    currency: str | None = None         # fleet_scaled
    incident_kind: str | None = None        # incident, maintenance: unplanned, drill, maintenance
    impact_started_at: datetime | None = None  # incident
    milestone: str | None = None            # incident_corrected: the milestone corrected
    milestone_at: datetime | None = None    # incident_corrected: its corrected time
    planned_start: datetime | None = None   # maintenance_scheduled
    planned_end: datetime | None = None     # maintenance_scheduled
    slo: str | None = None                  # slo_burn
    burn_alert: str | None = None           # slo_burn: page, ticket
    burn_state: str | None = None           # slo_burn: opened, resolved
    burn_rate: float | None = None          # slo_burn: over the long window
    long_window_s: int | None = None        # slo_burn


SESSION_COLUMNS: tuple[str, ...] = SessionRecord._fields
OPS_COLUMNS: tuple[str, ...] = OpsRecord._fields

SESSION_FIELD_COLUMNS: dict[str, str] = {
    **{name: name for name in SESSION_COLUMNS[:SESSION_COLUMNS.index("game_mode")]
       if name not in ("subtitles", "colorblind_mode", "screen_reader", "reduced_motion")},
    **{f"accessibility.{name}": name
       for name in ("subtitles", "colorblind_mode", "screen_reader", "reduced_motion")},
    "payload.SessionRequested.game_mode": "game_mode",
    "payload.SessionRequested.matchmaking_ticket": "matchmaking_ticket",
    "payload.SessionStarted.server_id": "server_id",
    "payload.SessionStarted.game_mode": "game_mode",
    "payload.SessionStarted.queue_ms": "queue_ms",
    "payload.Heartbeat.latency_ms": "latency_ms",
    "payload.Heartbeat.packet_loss_pct": "packet_loss_pct",
    "payload.Disconnected.reason": "disconnect_reason",
    "payload.Reconnected.server_id": "server_id",
    "payload.Reconnected.downtime_ms": "downtime_ms",
    "payload.Migrated.from_server_id": "from_server_id",
    "payload.Migrated.to_server_id": "to_server_id",
    "payload.Migrated.reason": "migration_reason",
    "payload.Ended.reason": "end_reason",
    "payload.TimedOut.last_heartbeat_at": "last_heartbeat_at",
    "payload.TimedOut.timeout_s": "timeout_s",
}
"""Where each leaf of the Avro record (dotted path; payload fields under their record name) goes."""

OPS_FIELD_COLUMNS: dict[str, str] = {
    "event_id": "event_id", "occurred_at": "occurred_at", "producer": "producer",
    "event_type": "event_type",
    "payload.Incident.incident_id": "incident_id",
    "payload.Incident.severity": "severity",
    "payload.Incident.title": "title",
    "payload.Incident.regions": "regions",
    "payload.Incident.services": "services",
    "payload.Deploy.deploy_id": "deploy_id",
    "payload.Deploy.service": "service",
    "payload.Deploy.version": "version",
    "payload.Deploy.regions": "regions",
    "payload.Deploy.outcome": "deploy_outcome",
    "payload.Anomaly.kind": "anomaly_kind",
    "payload.Anomaly.region": "anomaly_region",
    "payload.Anomaly.window_start": "window_start",
    "payload.Anomaly.count": "anomaly_count",
    "payload.Anomaly.threshold": "threshold",
    "payload.Deploy.build": "build",
    "payload.FleetCapacity.region": "fleet_region",
    "payload.FleetCapacity.servers": "servers",
    "payload.FleetCapacity.player_slots": "player_slots",
    "payload.FleetCapacity.hourly_cost": "hourly_cost",
    "payload.FleetCapacity.currency": "currency",
    "payload.Incident.kind": "incident_kind",
    "payload.Incident.impact_started_at": "impact_started_at",
    "payload.Incident.milestone": "milestone",
    "payload.Incident.milestone_at": "milestone_at",
    "payload.Incident.planned_start": "planned_start",
    "payload.Incident.planned_end": "planned_end",
    "payload.Anomaly.slo": "slo",
    "payload.Anomaly.alert": "burn_alert",
    "payload.Anomaly.state": "burn_state",
    "payload.Anomaly.burn_rate": "burn_rate",
    "payload.Anomaly.long_window_s": "long_window_s",
}

LIST_COLUMNS = frozenset({"regions", "services"})
"""Ops columns that hold a list, ``[]`` (never ``None``) when the payload has no such field."""


def session_record(event: SessionEvent) -> SessionRecord:
    """The flat record of a validated session event."""
    a = event.accessibility
    values: dict[str, Any] = {
        "event_id": event.event_id, "session_id": event.session_id,
        "player_id": event.player_id, "seq": event.seq, "occurred_at": event.occurred_at,
        "producer": event.producer, "platform": event.platform.value, "region": event.region,
        "build": event.build, "cross_play": event.cross_play,
        "input_method": event.input_method.value, "subtitles": a.subtitles,
        "colorblind_mode": a.colorblind_mode.value, "screen_reader": a.screen_reader,
        "reduced_motion": a.reduced_motion, "trace_id": event.trace_id,
        "party_id": event.party_id, "event_type": event.event_type.value,
    }
    _payload_into(values, event.payload, SESSION_FIELD_COLUMNS)
    return SessionRecord(**values)


def ops_record(event: OpsEvent) -> OpsRecord:
    """The flat record of a validated ops event."""
    values: dict[str, Any] = {
        "event_id": event.event_id, "occurred_at": event.occurred_at,
        "producer": event.producer, "event_type": event.event_type.value,
        "regions": [], "services": [],
    }
    _payload_into(values, event.payload, OPS_FIELD_COLUMNS)
    return OpsRecord(**values)


def _payload_into(values: dict[str, Any], payload: Any, columns: dict[str, str]) -> None:
    prefix = f"payload.{type(payload).__name__}."
    for name, value in payload.__dict__.items():
        if isinstance(value, tuple):
            value = list(value)
        elif hasattr(value, "value"):  # an enum member
            value = value.value
        values[columns[prefix + name]] = value

