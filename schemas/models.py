"""The event contract as Python values: frozen pydantic models mirroring the current Avro schemas.

``SessionEvent`` mirrors ``ledger.session.SessionEvent`` (v3) and ``OpsEvent`` mirrors
``ledger.ops.OpsEvent`` (v2), field for field. Values are normalised to what the wire can
carry, so that ``decode(encode(event)) == event`` always holds:

- timestamps must be timezone-aware; they are converted to UTC and cut to whole milliseconds;
- UUIDs are kept as canonical lower-case strings;
- ``packet_loss_pct`` is rounded to the nearest 32-bit float (Avro ``float``).
"""

from __future__ import annotations

import re
import struct
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from enum import StrEnum
from typing import Annotated, Any, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from schemas.errors import NO_VALUE, InvalidEvent

INT_MAX = 2**31 - 1
LONG_MAX = 2**63 - 1


# --- value normalisers -------------------------------------------------------------------


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _canonical_uuid(value: Any) -> str:
    if type(value) is str and _CANONICAL_UUID.fullmatch(value):
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str):
        raise ValueError(f"must be a UUID string, got {type(value).__name__}")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValueError("must be a UUID such as 3f2b8c1e-9a4d-4c1b-8f0e-2d6a7b9c1e5f") from None


def _utc_millis(value: datetime) -> datetime:
    if value.tzinfo is timezone.utc and not value.microsecond % 1000:
        return value
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(
            "must be timezone-aware (UTC); got a naive datetime. "
            "Use datetime.now(timezone.utc) or an ISO string ending in Z"
        )
    value = value.astimezone(timezone.utc)
    return value.replace(microsecond=value.microsecond - value.microsecond % 1000)


def _float32(value: float) -> float:
    return struct.unpack("<f", struct.pack("<f", value))[0]


Uuid = Annotated[str, BeforeValidator(_canonical_uuid)]
UtcMillis = Annotated[datetime, AfterValidator(_utc_millis)]
NonEmpty = Annotated[str, Field(min_length=1)]
NonNegLong = Annotated[int, Field(ge=0, le=LONG_MAX)]
NonNegDouble = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --- enums -------------------------------------------------------------------------------


class Platform(StrEnum):
    pc = "pc"
    playstation = "playstation"
    xbox = "xbox"
    switch = "switch"
    ios = "ios"
    android = "android"
    cloud = "cloud"


class InputMethod(StrEnum):
    keyboard_mouse = "keyboard_mouse"
    controller = "controller"
    touch = "touch"
    other = "other"


class ColorblindMode(StrEnum):
    none = "none"
    protanopia = "protanopia"
    deuteranopia = "deuteranopia"
    tritanopia = "tritanopia"


class SessionEventType(StrEnum):
    requested = "requested"
    started = "started"
    heartbeat = "heartbeat"
    disconnected = "disconnected"
    reconnected = "reconnected"
    migrated = "migrated"
    ended = "ended"
    timed_out = "timed_out"


class DisconnectReason(StrEnum):
    network = "network"
    client_crash = "client_crash"
    server_crash = "server_crash"
    kicked = "kicked"
    idle = "idle"
    unknown = "unknown"


class EndReason(StrEnum):
    normal = "normal"
    quit = "quit"
    kicked = "kicked"
    error = "error"
    server_crash = "server_crash"
    server_shutdown = "server_shutdown"
    maintenance = "maintenance"


ABNORMAL_END_REASONS = frozenset({EndReason.error, EndReason.server_crash})
"""End reasons that count against availability; a timeout does too (see docs/projections.md)."""

DERIVED_SEQ = 0
"""The seq of an event the ledger derives itself (timed_out): outside every producer's sequence."""


class OpsEventType(StrEnum):
    incident_opened = "incident_opened"
    incident_acknowledged = "incident_acknowledged"
    incident_mitigated = "incident_mitigated"
    incident_resolved = "incident_resolved"
    deploy_started = "deploy_started"
    deploy_finished = "deploy_finished"
    anomaly_detected = "anomaly_detected"
    incident_detected = "incident_detected"
    incident_corrected = "incident_corrected"
    maintenance_scheduled = "maintenance_scheduled"
    slo_burn = "slo_burn"
    fleet_scaled = "fleet_scaled"


INCIDENT_MILESTONE_TYPES = {
    "incident_opened": "opened", "incident_detected": "detected",
    "incident_acknowledged": "acknowledged", "incident_mitigated": "mitigated",
    "incident_resolved": "resolved",
}
"""Incident event type -> the milestone it marks (incident_corrected marks none: it corrects one)."""


class IncidentKind(StrEnum):
    unplanned = "unplanned"
    drill = "drill"
    maintenance = "maintenance"


PLANNED_KINDS = frozenset({IncidentKind.drill, IncidentKind.maintenance})
"""Kinds of planned work: left out of availability, SLO budgets, MTTR and MTBF by default."""


class Milestone(StrEnum):
    impact_started = "impact_started"
    opened = "opened"
    detected = "detected"
    acknowledged = "acknowledged"
    mitigated = "mitigated"
    resolved = "resolved"


MILESTONE_ORDER: tuple[Milestone, ...] = tuple(Milestone)
"""The order milestones must keep in time (each at or after the one before)."""


class BurnAlert(StrEnum):
    page = "page"
    ticket = "ticket"


class BurnState(StrEnum):
    opened = "opened"
    resolved = "resolved"


class Severity(StrEnum):
    sev1 = "sev1"
    sev2 = "sev2"
    sev3 = "sev3"
    sev4 = "sev4"


class DeployOutcome(StrEnum):
    success = "success"
    failure = "failure"
    rolled_back = "rolled_back"


# --- session payloads --------------------------------------------------------------------


class Accessibility(_Frozen):
    subtitles: bool = False
    colorblind_mode: ColorblindMode = ColorblindMode.none
    screen_reader: bool = False
    reduced_motion: bool = False


class SessionRequested(_Frozen):
    game_mode: NonEmpty
    matchmaking_ticket: str | None = None


class SessionStarted(_Frozen):
    server_id: NonEmpty
    game_mode: NonEmpty
    queue_ms: NonNegLong


class Heartbeat(_Frozen):
    latency_ms: Annotated[int, Field(ge=0, le=INT_MAX)]
    packet_loss_pct: Annotated[float, Field(ge=0.0, le=100.0, allow_inf_nan=False)]

    @field_validator("packet_loss_pct")
    @classmethod
    def _as_float32(cls, value: float) -> float:
        return _float32(value)


class Disconnected(_Frozen):
    reason: DisconnectReason


class Reconnected(_Frozen):
    server_id: NonEmpty
    downtime_ms: NonNegLong


class Migrated(_Frozen):
    from_server_id: NonEmpty
    to_server_id: NonEmpty
    reason: str


class Ended(_Frozen):
    reason: EndReason


class TimedOut(_Frozen):
    last_heartbeat_at: UtcMillis
    timeout_s: Annotated[int, Field(ge=1, le=INT_MAX)]


SessionPayload = Union[
    SessionRequested, SessionStarted, Heartbeat, Disconnected,
    Reconnected, Migrated, Ended, TimedOut,
]

SESSION_PAYLOADS: dict[SessionEventType, type[BaseModel]] = {
    SessionEventType.requested: SessionRequested,
    SessionEventType.started: SessionStarted,
    SessionEventType.heartbeat: Heartbeat,
    SessionEventType.disconnected: Disconnected,
    SessionEventType.reconnected: Reconnected,
    SessionEventType.migrated: Migrated,
    SessionEventType.ended: Ended,
    SessionEventType.timed_out: TimedOut,
}


# --- ops payloads ------------------------------------------------------------------------


class Incident(_Frozen):
    incident_id: NonEmpty
    severity: Severity
    title: str
    regions: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    kind: IncidentKind = IncidentKind.unplanned
    impact_started_at: UtcMillis | None = None
    milestone: Milestone | None = None
    milestone_at: UtcMillis | None = None
    planned_start: UtcMillis | None = None
    planned_end: UtcMillis | None = None


class Deploy(_Frozen):
    deploy_id: NonEmpty
    service: NonEmpty
    version: NonEmpty
    regions: tuple[str, ...] = ()
    outcome: DeployOutcome | None = None
    build: str | None = None


class Anomaly(_Frozen):
    kind: NonEmpty
    region: NonEmpty
    window_start: UtcMillis
    count: NonNegLong
    threshold: NonNegLong
    slo: NonEmpty | None = None
    alert: BurnAlert | None = None
    state: BurnState | None = None
    burn_rate: Annotated[float, Field(ge=0)] | None = None
    long_window_s: Annotated[int, Field(gt=0, le=LONG_MAX)] | None = None


class FleetCapacity(_Frozen):
    region: NonEmpty
    servers: NonNegLong
    player_slots: NonNegLong
    hourly_cost: NonNegDouble
    currency: NonEmpty = "USD"


OpsPayload = Union[Incident, Deploy, Anomaly, FleetCapacity]

OPS_PAYLOADS: dict[OpsEventType, type[BaseModel]] = {
    OpsEventType.incident_opened: Incident,
    OpsEventType.incident_acknowledged: Incident,
    OpsEventType.incident_mitigated: Incident,
    OpsEventType.incident_resolved: Incident,
    OpsEventType.deploy_started: Deploy,
    OpsEventType.deploy_finished: Deploy,
    OpsEventType.anomaly_detected: Anomaly,
    OpsEventType.fleet_scaled: FleetCapacity,
    OpsEventType.incident_detected: Incident,
    OpsEventType.incident_corrected: Incident,
    OpsEventType.maintenance_scheduled: Incident,
    OpsEventType.slo_burn: Anomaly,
}

_REQUIRED_BY_TYPE: dict[OpsEventType, tuple[str, ...]] = {
    OpsEventType.incident_corrected: ("milestone", "milestone_at"),
    OpsEventType.maintenance_scheduled: ("planned_start", "planned_end"),
    OpsEventType.slo_burn: ("slo", "alert", "state", "burn_rate", "long_window_s"),
}
"""Payload fields, optional in the schema, that an event of this type must set."""

_ONLY_ON_TYPE: dict[str, OpsEventType] = {
    field: event_type for event_type, fields in _REQUIRED_BY_TYPE.items() for field in fields
}


# --- envelopes ---------------------------------------------------------------------------


def _payload_for(payloads: Mapping[Any, type[BaseModel]], value: Any, info: ValidationInfo) -> Any:
    """Resolve the payload to the model its event_type calls for, or say why it cannot be."""
    event_type = info.data.get("event_type")
    if event_type is None:
        raise ValueError("cannot be checked until event_type is valid")
    expected = payloads[event_type]
    if isinstance(value, Mapping):
        return expected.model_validate(value)
    if type(value) is not expected:
        raise ValueError(
            f"is {type(value).__name__} but event_type '{event_type.value}' "
            f"needs {expected.__name__}"
        )
    return value


class SessionEvent(_Frozen):
    """One step in a player session's lifecycle (Avro ``ledger.session.SessionEvent`` v3)."""

    event_id: Uuid
    session_id: Uuid
    player_id: NonEmpty
    seq: Annotated[int, Field(ge=DERIVED_SEQ, le=LONG_MAX)]
    """From 1 for producers' events; ``DERIVED_SEQ`` (0) on the ledger's own timed_out events."""
    occurred_at: UtcMillis
    producer: NonEmpty
    platform: Platform
    region: NonEmpty
    build: str
    cross_play: bool
    input_method: InputMethod
    accessibility: Accessibility = Accessibility()
    trace_id: str | None = None
    party_id: str | None = None
    event_type: SessionEventType
    payload: SessionPayload

    @field_validator("payload", mode="before")
    @classmethod
    def _payload_model(cls, value: Any, info: ValidationInfo) -> Any:
        return _payload_for(SESSION_PAYLOADS, value, info)

    @model_validator(mode="after")
    def _derived_seq_only_on_timeouts(self) -> SessionEvent:
        if self.seq == DERIVED_SEQ and self.event_type is not SessionEventType.timed_out:
            raise ValidationError.from_exception_data("SessionEvent", [{
                "type": "value_error", "loc": ("seq",), "input": self.seq,
                "ctx": {"error": ValueError(
                    f"must be >= 1 on a {self.event_type.value} event: 0 marks the timed_out "
                    "events the ledger derives itself")},
            }])
        return self

    @property
    def is_derived(self) -> bool:
        """Whether the ledger derived this event (a timed_out verdict), not a producer."""
        return self.event_type is SessionEventType.timed_out

    @property
    def key(self) -> bytes:
        """The Kafka message key: one session's events share a partition and stay in order."""
        return self.session_id.encode()


class OpsEvent(_Frozen):
    """An incident, deploy, maintenance, SLO burn, anomaly or fleet capacity fact (Avro ``ledger.ops.OpsEvent`` v2)."""

    event_id: Uuid
    occurred_at: UtcMillis
    producer: NonEmpty
    event_type: OpsEventType
    payload: OpsPayload

    @field_validator("payload", mode="before")
    @classmethod
    def _payload_model(cls, value: Any, info: ValidationInfo) -> Any:
        return _payload_for(OPS_PAYLOADS, value, info)

    @model_validator(mode="after")
    def _fields_of_type(self) -> "OpsEvent":
        """The v2 fields a type needs are set, and set only on that type."""
        payload, event_type = self.payload, self.event_type
        for name in _REQUIRED_BY_TYPE.get(event_type, ()):
            if getattr(payload, name) is None:
                raise ValueError(f"payload.{name} is required on {event_type.value}")
        for name, owner in _ONLY_ON_TYPE.items():
            if owner is not event_type and getattr(payload, name, None) is not None:
                raise ValueError(f"payload.{name} is only for {owner.value}, not {event_type.value}")
        if event_type is OpsEventType.maintenance_scheduled:
            if payload.kind is not IncidentKind.maintenance:
                raise ValueError("payload.kind must be maintenance on maintenance_scheduled")
            if payload.planned_end < payload.planned_start:
                raise ValueError("payload.planned_end is before payload.planned_start")
        elif isinstance(payload, Incident) and payload.kind is IncidentKind.maintenance:
            raise ValueError(
                "payload.kind maintenance is only for maintenance_scheduled; a gameday is a drill")
        return self

    @property
    def key(self) -> bytes:
        """The Kafka message key: the incident or maintenance id, deploy id, the SLO's name
        (slo_burn), or the anomaly's or fleet's region."""
        payload = self.payload
        if isinstance(payload, Incident):
            return payload.incident_id.encode()
        if isinstance(payload, Deploy):
            return payload.deploy_id.encode()
        if isinstance(payload, Anomaly) and payload.slo is not None:
            return payload.slo.encode()
        return payload.region.encode()  # an anomaly's or a fleet's region


Event = Union[SessionEvent, OpsEvent]


# --- parsing untrusted mappings ----------------------------------------------------------

_SESSION_TYPES = frozenset(t.value for t in SessionEventType)
_OPS_TYPES = frozenset(t.value for t in OpsEventType)


def parse_event(data: Mapping[str, Any]) -> Event:
    """Validate a plain mapping (e.g. one JSON line) as a session or ops event.

    The kind is chosen by ``event_type``. Raises ``InvalidEvent`` naming the first bad field.
    """
    if not isinstance(data, Mapping):
        raise InvalidEvent("(event)", "must be a JSON object", data)
    event_type = data.get("event_type")
    if event_type in _SESSION_TYPES:
        model: type[BaseModel] = SessionEvent
    elif event_type in _OPS_TYPES:
        model = OpsEvent
    else:
        raise InvalidEvent(
            "event_type",
            "must be one of " + ", ".join(sorted(_SESSION_TYPES | _OPS_TYPES)),
            event_type,
        )
    try:
        return model.model_validate(data)  # type: ignore[return-value]
    except ValidationError as exc:
        raise invalid_event_from(exc) from None


def invalid_event_from(exc: ValidationError) -> InvalidEvent:
    """Convert pydantic's report into an ``InvalidEvent`` whose field is a dotted path."""
    problems = list(_flatten(exc.errors(include_url=False), ()))
    (field, reason, value) = problems[0]
    return InvalidEvent(field, reason, value, [(f, r) for f, r, _ in problems])


def _flatten(errors: list[dict[str, Any]], prefix: tuple[Any, ...]):
    for error in errors:
        loc = prefix + tuple(error["loc"])
        inner = (error.get("ctx") or {}).get("error")
        if isinstance(inner, ValidationError):
            yield from _flatten(inner.errors(include_url=False), loc)
            continue
        message = error["msg"].removeprefix("Value error, ")
        value = error.get("input")
        if error["type"] == "extra_forbidden":
            message = "is not part of the contract"
        elif error["type"] == "missing":
            message, value = "is required", NO_VALUE
        path = ".".join(str(part) for part in loc) or "(event)"
        yield path, message[:1].lower() + message[1:], value
