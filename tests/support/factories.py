"""One small factory for events: sensible defaults, override only what the story is about.

    session_event("heartbeat", session_id=sid, seq=3, latency_ms=250)
    ops_event("incident_opened", severity="sev1", regions=("eu-west",))
    session_script(heartbeats=2, end="timed_out")

Keyword overrides that are payload fields (``latency_ms``, ``reason``...) go into the payload;
the rest go into the envelope. A whole ``payload=`` (model or dict) may be given instead.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from schemas.models import (
    OPS_PAYLOADS,
    SESSION_PAYLOADS,
    OpsEvent,
    OpsEventType,
    SessionEvent,
    SessionEventType,
)

T0 = datetime(2025, 3, 14, 12, 0, tzinfo=timezone.utc)
"""The instant stories start at unless they say otherwise."""

SESSION_PAYLOAD_DEFAULTS: dict[SessionEventType, dict[str, Any]] = {
    SessionEventType.requested: {"game_mode": "ranked", "matchmaking_ticket": "ticket-1"},
    SessionEventType.started: {"server_id": "gs-eu-1", "game_mode": "ranked", "queue_ms": 2000},
    SessionEventType.heartbeat: {"latency_ms": 40, "packet_loss_pct": 0.5},
    SessionEventType.disconnected: {"reason": "network"},
    SessionEventType.reconnected: {"server_id": "gs-eu-1", "downtime_ms": 5000},
    SessionEventType.migrated: {
        "from_server_id": "gs-eu-1", "to_server_id": "gs-eu-2", "reason": "rebalance",
    },
    SessionEventType.ended: {"reason": "normal"},
    SessionEventType.timed_out: {"last_heartbeat_at": T0, "timeout_s": 30},
}

OPS_PAYLOAD_DEFAULTS: dict[str, dict[str, Any]] = {
    "Incident": {
        "incident_id": "INC-1", "severity": "sev2", "title": "Disconnect spike in eu-west",
        "regions": ("eu-west",), "services": ("gameserver",),
    },
    "Deploy": {
        "deploy_id": "DEP-1", "service": "gameserver", "version": "1.2.3",
        "regions": ("eu-west",), "outcome": None,
    },
    "Anomaly": {
        "kind": "disconnect_spike", "region": "eu-west", "window_start": T0,
        "count": 120, "threshold": 50,
    },
    "FleetCapacity": {
        "region": "eu-west", "servers": 10, "player_slots": 1000, "hourly_cost": 25.0,
        "currency": "USD",
    },
}

OPS_TYPE_DEFAULTS: dict[str, dict[str, Any]] = {
    "incident_corrected": {"milestone": "detected", "milestone_at": T0},
    "maintenance_scheduled": {
        "incident_id": "MW-1", "title": "Database upgrade", "kind": "maintenance",
        "planned_start": T0, "planned_end": T0 + timedelta(hours=1),
    },
    "slo_burn": {
        "kind": "slo_burn", "slo": "session-success", "alert": "page", "state": "opened",
        "burn_rate": 14.4, "long_window_s": 3600,
    },
}
"""Payload fields an ops event type needs beyond its payload record's defaults."""


def session_event(
    event_type: str | SessionEventType,
    *,
    session_id: str | None = None,
    seq: int = 1,
    occurred_at: datetime = T0,
    **overrides: Any,
) -> SessionEvent:
    """A valid session event of ``event_type``; keyword arguments override any field."""
    event_type = SessionEventType(event_type)
    payload_model = SESSION_PAYLOADS[event_type]
    envelope, payload = _split(overrides, payload_model)
    fields: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "session_id": session_id or str(uuid.uuid4()),
        "player_id": "player-1",
        "seq": seq,
        "occurred_at": occurred_at,
        "producer": "gameserver",
        "platform": "pc",
        "region": "eu-west",
        "build": "1.0.0",
        "cross_play": True,
        "input_method": "keyboard_mouse",
        "event_type": event_type,
        "payload": {**SESSION_PAYLOAD_DEFAULTS[event_type], **payload},
    }
    fields.update(envelope)
    return SessionEvent.model_validate(fields)


def ops_event(
    event_type: str | OpsEventType,
    *,
    occurred_at: datetime = T0,
    **overrides: Any,
) -> OpsEvent:
    """A valid ops event of ``event_type``; keyword arguments override any field."""
    event_type = OpsEventType(event_type)
    payload_model = OPS_PAYLOADS[event_type]
    envelope, payload = _split(overrides, payload_model)
    defaults = dict(OPS_PAYLOAD_DEFAULTS[payload_model.__name__])
    if event_type is OpsEventType.deploy_finished:
        defaults["outcome"] = "success"
    defaults.update(OPS_TYPE_DEFAULTS.get(event_type.value, {}))
    fields: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "occurred_at": occurred_at,
        "producer": {"Incident": "incident-bot", "FleetCapacity": "fleet-scaler"}.get(
            payload_model.__name__, "deployer"),
        "event_type": event_type,
        "payload": {**defaults, **payload},
    }
    fields.update(envelope)
    return OpsEvent.model_validate(fields)


def session_script(
    session_id: str | None = None,
    *,
    player_id: str = "player-1",
    start: datetime = T0,
    heartbeats: int = 3,
    end: str | None = "normal",
    disconnect_and_reconnect: bool = False,
    migrate: bool = False,
    heartbeat_every: timedelta = timedelta(seconds=10),
    queue: timedelta = timedelta(seconds=2),
    downtime: timedelta = timedelta(seconds=5),
    timeout_s: int = 30,
    server_id: str = "gs-eu-1",
    **envelope: Any,
) -> list[SessionEvent]:
    """The ordered events of one session: seq 1..n, occurred_at strictly increasing (a
    timed_out verdict, the ledger's own, has seq 0 and occurs when the silence reached the timeout).

    requested → started → ``heartbeats`` heartbeats → [disconnected → reconnected]
    → [migrated → one heartbeat on the new server] → ended with reason ``end``
    (an EndReason), or timed_out when ``end="timed_out"``, or nothing when ``end=None``.
    ``envelope`` overrides envelope fields (platform, region, party_id...) on every event.
    """
    session_id = session_id or str(uuid.uuid4())
    events: list[SessionEvent] = []
    now = start

    def add(event_type: str, at: datetime, **fields: Any) -> None:
        events.append(session_event(
            event_type, session_id=session_id, seq=len(events) + 1, occurred_at=at,
            **{"player_id": player_id, **fields, **envelope},
        ))

    add("requested", now)
    now += queue
    add("started", now, server_id=server_id, queue_ms=_ms(queue))
    last_heartbeat = now
    for _ in range(heartbeats):
        now += heartbeat_every
        add("heartbeat", now)
        last_heartbeat = now
    if disconnect_and_reconnect:
        now += timedelta(seconds=1)
        add("disconnected", now, reason="network")
        now += downtime
        add("reconnected", now, server_id=server_id, downtime_ms=_ms(downtime))
    if migrate:
        now += timedelta(seconds=1)
        add("migrated", now, from_server_id=server_id, to_server_id=server_id + "-b",
            reason="rebalance")
        now += heartbeat_every
        add("heartbeat", now)
        last_heartbeat = now
    if end == "timed_out":
        now = max(now, last_heartbeat + timedelta(seconds=timeout_s))
        events.append(session_event(
            "timed_out", session_id=session_id, seq=0, occurred_at=now,
            **{"player_id": player_id, "last_heartbeat_at": last_heartbeat,
               "timeout_s": timeout_s, "producer": "ledger-worker", **envelope},
        ))
    elif end is not None:
        now += timedelta(seconds=1)
        add("ended", now, reason=end)
    return events


def _split(overrides: dict[str, Any], payload_model: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    if "payload" in overrides:
        return overrides, {}
    payload_fields = payload_model.model_fields
    envelope = {k: v for k, v in overrides.items() if k not in payload_fields}
    payload = {k: v for k, v in overrides.items() if k in payload_fields}
    return envelope, payload


def _ms(delta: timedelta) -> int:
    return int(delta.total_seconds() * 1000)


def invalid_avro_heartbeat() -> bytes:
    """Poison that decodes with the current writer schema but breaks the model (seq 0)."""
    from io import BytesIO

    from fastavro import schemaless_writer

    from schemas.catalogue import SESSION_EVENT, default_catalogue
    from schemas.codec import MARKER, to_record

    current = default_catalogue().current(SESSION_EVENT)
    record = to_record(session_event("heartbeat"))
    record["seq"] = 0
    out = BytesIO()
    out.write(MARKER + current.fingerprint)
    schemaless_writer(out, current.parsed, record)
    return out.getvalue()
