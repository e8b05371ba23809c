"""The state of one player session, folded from its events in seq order.

``apply(state, event) -> state`` is the whole fold. It is pure (no clock, no I/O) and
forgiving by design:

- an event whose seq was already applied, or is already held, changes nothing (at-least-once
  delivery is safe);
- an event that arrives ahead of a missing seq is held in ``pending`` until the gap is filled,
  then the held events are applied in seq order, so every delivery order of the same events
  folds to the same state;
- an event the state machine does not allow is recorded in ``anomalies`` and leaves the
  status as it was; its seq still counts as applied;
- a ``timed_out`` event is the ledger's own verdict, not a producer's step: it has no place in
  the producers' seq order, and ``resolve_end`` (the end rule) decides, from the producers'
  end and the earliest verdict, how the session ended, whatever order they arrived in.

The state machine, the end rule, every field and the gap rules are described in
docs/projections.md.
"""

from __future__ import annotations

import bisect
import operator
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from projections.errors import BadStateRecord, NotTimedOut, WrongSession
from projections.timestamps import from_millis, require_utc, to_millis
from schemas.models import DERIVED_SEQ, Accessibility, SessionEvent, SessionEventType

MAX_ANOMALIES = 100
"""How many anomalies a session keeps (the earliest, by seq); ``anomaly_count`` counts them all."""

TIMEOUT_PRODUCER = "ledger-worker"
"""The producer named on the timed_out events the ledger appends itself."""

TIMEOUT_EVENT_NAMESPACE = uuid.UUID("6f1c3b52-8d0e-4f59-9a57-2f0c7d3e4b18")
"""Namespace of the deterministic event_id of a timed_out event (uuid5 of session and seq)."""

RECORD_VERSION = 2
"""Version 2 keeps what the producers reported apart from the timeout verdict; version 1
records (one status for both) are still read."""

RESERVATION_TIMED_OUT = "reservation_timed_out"
"""The end reason of a session timed out before it started: matchmaking never placed it."""

PLAY_TIMED_OUT = "timed_out"
"""The end reason of a started session timed out: its player fell silent."""


class SessionStatus(StrEnum):
    """Where a session is in its lifecycle."""

    new = "new"
    """Nothing applied yet: the session is known only from events held behind a gap."""
    requested = "requested"
    active = "active"
    disconnected = "disconnected"
    ended = "ended"
    timed_out = "timed_out"


OPEN = frozenset({SessionStatus.requested, SessionStatus.active, SessionStatus.disconnected})
"""Statuses a session can still leave: it may end or time out from any of them."""

LIVE = frozenset({SessionStatus.active, SessionStatus.disconnected})
"""Statuses counted as concurrent sessions: started, and not yet ended or timed out."""

TERMINAL = frozenset({SessionStatus.ended, SessionStatus.timed_out})
"""Statuses a session never leaves."""


_S = SessionStatus
_T = SessionEventType

TRANSITIONS: Mapping[str, Mapping[SessionStatus, SessionStatus]] = {
    _T.requested: {_S.new: _S.requested},
    _T.started: {_S.new: _S.active, _S.requested: _S.active},
    _T.heartbeat: {_S.active: _S.active},
    _T.disconnected: {_S.active: _S.disconnected},
    _T.reconnected: {_S.disconnected: _S.active},
    _T.migrated: {_S.active: _S.active, _S.disconnected: _S.disconnected},
    _T.ended: {s: _S.ended for s in OPEN},
}
"""event_type -> {reported status the event is allowed in: reported status after it}. Anything
else is an anomaly. ``timed_out`` is not here: it is a verdict (see ``resolve_end``)."""


@dataclass(frozen=True, slots=True)
class Anomaly:
    """An event the state machine did not allow (or a fact that contradicts the state)."""

    seq: int
    event_type: str
    from_status: SessionStatus
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq, "event_type": self.event_type,
            "from_status": self.from_status.value, "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Anomaly:
        return cls(
            seq=int(data["seq"]), event_type=str(data["event_type"]),
            from_status=SessionStatus(data["from_status"]), reason=str(data["reason"]),
        )


@dataclass(frozen=True, slots=True)
class Gap:
    """Seqs that are missing: events after them are held until they arrive."""

    first_missing: int
    last_missing: int
    held: int
    """How many events are held behind the gap (and any later gaps)."""

    @property
    def missing(self) -> range:
        return range(self.first_missing, self.last_missing + 1)


@dataclass(frozen=True, slots=True, order=True)
class Verdict:
    """A timed_out event the ledger appended: when it declared the session over, and why.

    Verdicts order by ``(at, event_id)``; a session keeps the earliest it has received.
    """

    at: datetime
    """occurred_at of the timed_out event: the instant the silence reached the timeout."""
    event_id: str
    last_heartbeat_at: datetime
    """The last sign of life the verdict was based on: where play stopped."""
    timeout_s: int

    @classmethod
    def of(cls, event: SessionEvent) -> Verdict:
        p = event.payload
        return cls(event.occurred_at, event.event_id, p.last_heartbeat_at, p.timeout_s)

    def to_dict(self) -> dict[str, Any]:
        return {"at": to_millis(self.at), "event_id": self.event_id,
                "last_heartbeat_at": to_millis(self.last_heartbeat_at), "timeout_s": self.timeout_s}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        return cls(from_millis(data["at"]), str(data["event_id"]),
                   from_millis(data["last_heartbeat_at"]), int(data["timeout_s"]))


@dataclass(frozen=True, slots=True)
class End:
    """How a session ended, as ``resolve_end`` decides: the fields a reader sees."""

    status: SessionStatus
    ended_at: datetime | None = None
    play_ended_at: datetime | None = None
    end_reason: str | None = None


def resolve_end(
    reported_status: SessionStatus, reported_ended_at: datetime | None,
    reported_end_reason: str | None, verdict: Verdict | None, started_at: datetime | None,
) -> End:
    """The end rule: how a session ended, from what its producers reported and the verdict.

    A timeout verdict is provisional. The producers' ``ended`` stands when it occurred at or
    before the verdict (it was only late on the wire): the session ended, with its reason.
    Otherwise the verdict stands: the session timed out at the verdict's instant, play stopped
    at the verdict's last sign of life, and an ``ended`` that occurred after it is kept as late.
    A verdict on a session that never started is a reservation timeout (matchmaking failed).

    Pure, and the only place that decides: the worker, rebuild, replay and the tests fold with
    it; analytics/migrations/0006_end_rule.sql is its SQL twin for the warehouse.
    """
    producer_ended = reported_status is _S.ended
    if producer_ended and (verdict is None or reported_ended_at <= verdict.at):
        return End(_S.ended, reported_ended_at, reported_ended_at, reported_end_reason)
    if verdict is not None:
        reason = PLAY_TIMED_OUT if started_at is not None else RESERVATION_TIMED_OUT
        return End(_S.timed_out, verdict.at, verdict.last_heartbeat_at, reason)
    return End(reported_status)


@dataclass(frozen=True, slots=True)
class SessionState:
    """Everything the ledger knows about one session after the events applied so far."""

    session_id: str
    player_id: str
    platform: str
    region: str
    cross_play: bool
    build: str
    input_method: str
    accessibility: Accessibility = Accessibility()
    party_id: str | None = None
    status: SessionStatus = SessionStatus.new
    last_seq: int = 0
    game_mode: str | None = None
    server_id: str | None = None
    queue_ms: int | None = None
    requested_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    play_ended_at: datetime | None = None
    end_reason: str | None = None
    last_event_at: datetime | None = None
    last_heartbeat_at: datetime | None = None
    latency_ms: int | None = None
    packet_loss_pct: float | None = None
    heartbeat_count: int = 0
    disconnect_count: int = 0
    last_disconnect_reason: str | None = None
    reconnect_count: int = 0
    downtime_ms: int = 0
    migration_count: int = 0
    anomalies: tuple[Anomaly, ...] = ()
    anomaly_count: int = 0
    pending: tuple[SessionEvent, ...] = field(default=(), repr=False)
    reported_status: SessionStatus = SessionStatus.new
    """Where the producers' events took the session (never ``timed_out``)."""
    reported_ended_at: datetime | None = None
    reported_end_reason: str | None = None
    """occurred_at and reason of the producers' accepted ``ended``, if any."""
    verdict: Verdict | None = None
    """The earliest timed_out verdict received, if any (``resolve_end`` weighs it)."""
    verdict_changes: int = field(default=0, compare=False)
    """How often the verdict changed here: with ``last_seq``, makes ``revision``."""

    # --- derived views -----------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    @property
    def is_live(self) -> bool:
        return self.status in LIVE

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def opened_at(self) -> datetime | None:
        """When the session entered the ledger's view: requested, or started if never requested."""
        return self.requested_at or self.started_at

    @property
    def play_ms(self) -> int:
        """Milliseconds from started to the end of play; 0 until over, or if never started."""
        if self.started_at is None or self.play_ended_at is None:
            return 0
        return max(0, to_millis(self.play_ended_at) - to_millis(self.started_at))

    @property
    def play_seconds(self) -> float:
        return self.play_ms / 1000

    @property
    def gap(self) -> Gap | None:
        """The first run of missing seqs, if events are held behind it."""
        if not self.pending:
            return None
        return Gap(self.last_seq + 1, self.pending[0].seq - 1, len(self.pending))

    @property
    def revision(self) -> int:
        """Grows with every change a delivery makes (applied events and verdicts): what the
        player fold compares to recognise an update it has already applied."""
        return self.last_seq + self.verdict_changes

    @property
    def late_end(self) -> bool:
        """Whether the producers reported an ``ended`` that occurred after the timeout verdict
        that stands (the verdict keeps it; the end is kept as late)."""
        return (self.verdict is not None and self.reported_status is _S.ended
                and self.status is _S.timed_out)

    @property
    def superseded_verdict(self) -> bool:
        """Whether a timeout verdict was overruled by an ``ended`` that occurred before it."""
        return self.verdict is not None and self.status is _S.ended

    @property
    def highest_seq_seen(self) -> int:
        return self.pending[-1].seq if self.pending else self.last_seq

    @property
    def last_sign_of_life(self) -> datetime | None:
        """The latest occurred_at among applied events and events held behind a gap."""
        times = [e.occurred_at for e in self.pending]
        if self.last_event_at is not None:
            times.append(self.last_event_at)
        return max(times, default=None)

    # --- records -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able record of this state (for Faust tables and snapshots)."""
        return {
            "v": RECORD_VERSION,
            "session_id": self.session_id,
            "player_id": self.player_id,
            "platform": self.platform,
            "region": self.region,
            "cross_play": self.cross_play,
            "build": self.build,
            "input_method": self.input_method,
            "accessibility": self.accessibility.model_dump(mode="json"),
            "party_id": self.party_id,
            "status": self.status.value,
            "last_seq": self.last_seq,
            "game_mode": self.game_mode,
            "server_id": self.server_id,
            "queue_ms": self.queue_ms,
            **{name: to_millis(getattr(self, name)) for name in _TIMESTAMPS},
            "end_reason": self.end_reason,
            "latency_ms": self.latency_ms,
            "packet_loss_pct": self.packet_loss_pct,
            "heartbeat_count": self.heartbeat_count,
            "disconnect_count": self.disconnect_count,
            "last_disconnect_reason": self.last_disconnect_reason,
            "reconnect_count": self.reconnect_count,
            "downtime_ms": self.downtime_ms,
            "migration_count": self.migration_count,
            "anomalies": [a.to_dict() for a in self.anomalies],
            "anomaly_count": self.anomaly_count,
            "pending": [e.model_dump(mode="json") for e in self.pending],
            "reported_status": self.reported_status.value,
            "reported_ended_at": to_millis(self.reported_ended_at),
            "reported_end_reason": self.reported_end_reason,
            "verdict": None if self.verdict is None else self.verdict.to_dict(),
            "verdict_changes": self.verdict_changes,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SessionState:
        """The state a ``to_dict()`` record describes; ``BadStateRecord`` names a bad field."""
        version = data.get("v") if isinstance(data, Mapping) else None
        if version not in (1, RECORD_VERSION):
            raise BadStateRecord("SessionState", "v", f"must be 1 or {RECORD_VERSION}", version)
        values = dict(data)
        del values["v"]
        current = "accessibility"
        try:
            if version == 1:
                values = _from_version_1(values)
            current = "reported_status"
            values["reported_status"] = SessionStatus(values["reported_status"])
            current = "reported_ended_at"
            values["reported_ended_at"] = from_millis(values["reported_ended_at"])
            current = "verdict"
            if values["verdict"] is not None:
                values["verdict"] = Verdict.from_dict(values["verdict"])
            current = "accessibility"
            values["accessibility"] = Accessibility.model_validate(values["accessibility"])
            current = "status"
            values["status"] = SessionStatus(values["status"])
            for current in _TIMESTAMPS:
                values[current] = from_millis(values[current])
            current = "anomalies"
            values["anomalies"] = tuple(Anomaly.from_dict(a) for a in values["anomalies"])
            current = "pending"
            values["pending"] = tuple(SessionEvent.model_validate(e) for e in values["pending"])
            current = "(record)"
            return cls(**values)
        except (KeyError, TypeError, ValueError) as exc:
            raise BadStateRecord("SessionState", current, str(exc), values.get(current)) from None


_TIMESTAMPS = (
    "requested_at", "started_at", "ended_at", "play_ended_at", "last_event_at",
    "last_heartbeat_at",
)


def _from_version_1(values: dict[str, Any]) -> dict[str, Any]:
    """A version 1 record's values in version 2 terms: its one status split into what the
    producers reported and the verdict (a timed-out record's verdict id is unknown: empty)."""
    status = values["status"]
    values["reported_ended_at"] = None
    values["reported_end_reason"] = None
    values["verdict"] = None
    values["verdict_changes"] = 0
    if status == _S.timed_out.value:
        values["reported_status"] = (_S.active if values.get("started_at") is not None
                                     else _S.requested).value
        values["verdict"] = {"at": values["ended_at"], "event_id": "",
                             "last_heartbeat_at": values["play_ended_at"], "timeout_s": 0}
        values["verdict_changes"] = 1
    else:
        values["reported_status"] = status
        if status == _S.ended.value:
            values["reported_ended_at"] = values["ended_at"]
            values["reported_end_reason"] = values["end_reason"]
    return values


@dataclass(frozen=True, slots=True)
class Step:
    """What one delivery did: the state before and after, and the events it applied in order.

    ``applied`` is empty for a duplicate or an event held behind a gap, and holds more than one
    event when the delivery filled a gap and released held events.
    """

    before: SessionState | None
    after: SessionState
    applied: tuple[SessionEvent, ...]
    rejected: frozenset[int] = frozenset()
    """Seqs among ``applied`` that the state machine did not allow (recorded as anomalies)."""

    @property
    def accepted(self) -> tuple[SessionEvent, ...]:
        """The applied events the state machine allowed, in seq order."""
        if not self.rejected:
            return self.applied
        return tuple(e for e in self.applied if e.seq not in self.rejected)

    @property
    def outcome(self) -> str:
        """``applied``, ``held`` (behind a gap) or ``duplicate`` (already applied or held)."""
        if self.applied:
            return "applied"
        if self.before is None or self.after is not self.before:
            return "held"
        return "duplicate"


# --- the fold ----------------------------------------------------------------------------

_FIELD_NAMES = tuple(f.name for f in fields(SessionState))
_FIELD_INDEX = {name: i for i, name in enumerate(_FIELD_NAMES)}
_all_values = operator.attrgetter(*_FIELD_NAMES)


def _evolve(state: SessionState, **changes: Any) -> SessionState:
    """``dataclasses.replace`` without its per-field checks: the fold's hot path."""
    values = list(_all_values(state))
    for name, value in changes.items():
        values[_FIELD_INDEX[name]] = value
    return SessionState(*values)


def apply(state: SessionState | None, event: SessionEvent) -> SessionState:
    """The state after delivering ``event`` to ``state`` (None for a session not seen yet)."""
    return step(state, event).after


def step(state: SessionState | None, event: SessionEvent) -> Step:
    """Deliver ``event``: apply it, hold it behind a gap, or ignore it as a duplicate."""
    before = state
    if state is None:
        state = _blank(event)
    elif event.session_id != state.session_id:
        raise WrongSession(state.session_id, event.session_id)

    if event.event_type is _T.timed_out:
        return _deliver_verdict(before, state, event)
    seq = event.seq
    if seq <= state.last_seq or _is_held(state.pending, seq):
        return Step(before, state, ())
    if seq > state.last_seq + 1:
        return Step(before, _hold(state, event), ())

    applied = [event]
    rejected: set[int] = set()
    state = _transition(state, event, rejected)
    pending = state.pending
    while pending and pending[0].seq == state.last_seq + 1:
        released, pending = pending[0], pending[1:]
        applied.append(released)
        state = _transition(_evolve(state, pending=pending), released, rejected)
    return Step(before, state, tuple(applied), frozenset(rejected))


def _deliver_verdict(before: SessionState | None, state: SessionState,
                     event: SessionEvent) -> Step:
    """Weigh a timeout verdict: the earliest one received is kept, any other changes nothing.

    The verdict is applied whatever seqs are missing (it is not in their order); it is
    ``rejected`` (applied, but not how the session ended) when an earlier ``ended`` overrules it.
    """
    verdict = Verdict.of(event)
    if state.verdict is not None and state.verdict <= verdict:
        return Step(before, state, ())
    if state.last_seq == 0 and not state.pending:
        state = _evolve(state, **_envelope(event))  # known only from verdicts: the earliest
    after = _resolved(_evolve(state, verdict=verdict, verdict_changes=state.verdict_changes + 1))
    rejected = frozenset() if after.status is _S.timed_out else frozenset({event.seq})
    return Step(before, after, (event,), rejected)


def _resolved(state: SessionState) -> SessionState:
    """``state`` with the fields ``resolve_end`` decides brought up to date."""
    end = resolve_end(state.reported_status, state.reported_ended_at, state.reported_end_reason,
                      state.verdict, state.started_at)
    if (end.status is state.status and end.ended_at == state.ended_at
            and end.play_ended_at == state.play_ended_at and end.end_reason == state.end_reason):
        return state
    return _evolve(state, status=end.status, ended_at=end.ended_at,
                   play_ended_at=end.play_ended_at, end_reason=end.end_reason)


def _blank(event: SessionEvent) -> SessionState:
    return SessionState(session_id=event.session_id, **_envelope(event))


def _envelope(event: SessionEvent) -> dict[str, Any]:
    return {
        "player_id": event.player_id,
        "platform": event.platform.value,
        "region": event.region,
        "cross_play": event.cross_play,
        "build": event.build,
        "input_method": event.input_method.value,
        "accessibility": event.accessibility,
        "party_id": event.party_id,
    }


def _is_held(pending: tuple[SessionEvent, ...], seq: int) -> bool:
    return any(held.seq == seq for held in pending)


def _hold(state: SessionState, event: SessionEvent) -> SessionState:
    pending = list(state.pending)
    bisect.insort(pending, event, key=lambda e: e.seq)
    held = _evolve(state, pending=tuple(pending))
    if state.last_seq == 0:
        # Nothing applied yet: describe the session by its earliest known event, whatever
        # order the held events came in.
        held = _evolve(held, **_envelope(held.pending[0]))
    return held


def _transition(state: SessionState, event: SessionEvent, rejected: set[int]) -> SessionState:
    kind = event.event_type
    target = TRANSITIONS[kind].get(state.reported_status)
    if target is None:
        rejected.add(event.seq)
        moved = _evolve(state, last_seq=event.seq)
        if event.seq == 1:
            # Nothing accepted yet: describe the session by its earliest event, as _hold does.
            moved = _evolve(moved, **_envelope(event))
        return _with_anomaly(moved, event, _illegal(kind, state))
    changes, contradiction = _EFFECTS[kind](state, event)
    last_event_at = event.occurred_at
    if state.last_event_at is not None and state.last_event_at > last_event_at:
        last_event_at = state.last_event_at
    after = _evolve(
        state, reported_status=target, last_seq=event.seq, last_event_at=last_event_at,
        **_envelope(event), **changes,
    )
    after = _resolved(after)
    if contradiction is not None:
        after = _with_anomaly(after, event, contradiction, from_status=state.reported_status)
    return after


def _with_anomaly(
    state: SessionState, event: SessionEvent, reason: str,
    from_status: SessionStatus | None = None,
) -> SessionState:
    anomalies = state.anomalies
    if len(anomalies) < MAX_ANOMALIES:
        anomaly = Anomaly(event.seq, event.event_type.value, from_status or state.reported_status,
                          reason)
        anomalies = anomalies + (anomaly,)
    return _evolve(state, anomalies=anomalies, anomaly_count=state.anomaly_count + 1)


def _illegal(kind: SessionEventType, state: SessionState) -> str:
    status = state.reported_status
    if status is _S.ended:
        return f"{kind} after the session ended"
    if status is _S.new:
        return f"{kind} before the session was requested or started"
    if kind is _T.started or (kind is _T.requested and status is _S.requested):
        return f"{kind} twice"
    if kind is _T.requested:
        return "requested after the session started"
    if status is _S.requested:
        return f"{kind} before the session started"
    if kind is _T.reconnected:
        return "reconnected while active: no disconnect preceded it"
    if kind is _T.disconnected:
        return "disconnected twice without a reconnect in between"
    return f"{kind} while disconnected: no reconnect preceded it"


# --- what each allowed event changes ------------------------------------------------------

Effect = Callable[[SessionState, SessionEvent], tuple[dict[str, Any], str | None]]


def _requested(state: SessionState, event: SessionEvent) -> tuple[dict[str, Any], str | None]:
    return {"requested_at": event.occurred_at, "game_mode": event.payload.game_mode}, None


def _started(state: SessionState, event: SessionEvent) -> tuple[dict[str, Any], str | None]:
    p = event.payload
    return {
        "started_at": event.occurred_at, "server_id": p.server_id, "game_mode": p.game_mode,
        "queue_ms": p.queue_ms,
    }, None


def _heartbeat(state: SessionState, event: SessionEvent) -> tuple[dict[str, Any], str | None]:
    p = event.payload
    last = state.last_heartbeat_at
    return {
        "heartbeat_count": state.heartbeat_count + 1,
        "last_heartbeat_at": event.occurred_at if last is None else max(last, event.occurred_at),
        "latency_ms": p.latency_ms, "packet_loss_pct": p.packet_loss_pct,
    }, None


def _disconnected(state: SessionState, event: SessionEvent) -> tuple[dict[str, Any], str | None]:
    return {
        "disconnect_count": state.disconnect_count + 1,
        "last_disconnect_reason": event.payload.reason.value,
    }, None


def _reconnected(state: SessionState, event: SessionEvent) -> tuple[dict[str, Any], str | None]:
    p = event.payload
    return {
        "reconnect_count": state.reconnect_count + 1, "server_id": p.server_id,
        "downtime_ms": state.downtime_ms + p.downtime_ms,
    }, None


def _migrated(state: SessionState, event: SessionEvent) -> tuple[dict[str, Any], str | None]:
    p = event.payload
    contradiction = None
    if p.from_server_id != state.server_id:
        contradiction = (
            f"migrated from server {p.from_server_id} but the session was on {state.server_id}"
        )
    changes = {"migration_count": state.migration_count + 1, "server_id": p.to_server_id}
    return changes, contradiction


def _ended(state: SessionState, event: SessionEvent) -> tuple[dict[str, Any], str | None]:
    return {
        "reported_ended_at": event.occurred_at, "reported_end_reason": event.payload.reason.value,
    }, None


_EFFECTS: Mapping[str, Effect] = {
    _T.requested: _requested,
    _T.started: _started,
    _T.heartbeat: _heartbeat,
    _T.disconnected: _disconnected,
    _T.reconnected: _reconnected,
    _T.migrated: _migrated,
    _T.ended: _ended,
}


# --- timeouts ----------------------------------------------------------------------------


def silent_seconds(state: SessionState, now: datetime) -> float | None:
    """Seconds since the session's last sign of life (None if it has none)."""
    last = state.last_sign_of_life
    if last is None:
        return None
    return (require_utc(now, "now") - last).total_seconds()


def timeout_for(state: SessionState, timeout_s: int, reservation_timeout_s: int | None = None) -> int:
    """The silence, in seconds, after which ``state`` times out: the reservation timeout while
    the session is requested and not started (when one is given), the heartbeat timeout else."""
    if reservation_timeout_s is not None and state.status is _S.requested:
        return reservation_timeout_s
    return timeout_s


def timed_out_at(state: SessionState, timeout_s: int,
                 reservation_timeout_s: int | None = None) -> datetime | None:
    """The instant the session's silence reaches its timeout, or None when it cannot time out
    (not open, already given a verdict, or nothing heard yet)."""
    if state.status not in OPEN or state.verdict is not None:
        return None
    last = state.last_sign_of_life
    if last is None:
        return None
    return last + timedelta(seconds=timeout_for(state, timeout_s, reservation_timeout_s))


def is_timed_out(state: SessionState | None, now: datetime, timeout_s: int,
                 reservation_timeout_s: int | None = None) -> bool:
    """Whether the ledger should append a timed_out event for this session at ``now``.

    True when the session is open (requested, active or disconnected), has no verdict yet, and
    nothing has been heard from it for at least its timeout (``timeout_for``).
    """
    if state is None:
        return False
    due = timed_out_at(state, timeout_s, reservation_timeout_s)
    return due is not None and require_utc(now, "now") >= due


def timeout_event_fields(state: SessionState, now: datetime, timeout_s: int,
                         reservation_timeout_s: int | None = None) -> dict[str, Any]:
    """The fields of the timed_out event to append for a timed-out session.

    The verdict is outside the producers' sequence (seq ``DERIVED_SEQ``, 0). It occurred when
    the silence reached the timeout (last sign of life + timeout), not when the worker looked,
    and its event_id is derived from the session, that sign of life and the timeout: deciding
    twice, before or after a restart, yields the same event.
    """
    if not is_timed_out(state, now, timeout_s, reservation_timeout_s):
        silent = None if state is None else silent_seconds(state, now)
        status = "unknown" if state is None else state.status.value
        session_id = "unknown" if state is None else state.session_id
        raise NotTimedOut(session_id, status, silent, timeout_s)
    used = timeout_for(state, timeout_s, reservation_timeout_s)
    last = state.last_sign_of_life
    basis = f"{state.session_id}/timed_out/{to_millis(last)}/{used}"
    return {
        "event_id": str(uuid.uuid5(TIMEOUT_EVENT_NAMESPACE, basis)),
        "session_id": state.session_id,
        "player_id": state.player_id,
        "seq": DERIVED_SEQ,
        "occurred_at": last + timedelta(seconds=used),
        "producer": TIMEOUT_PRODUCER,
        "platform": state.platform,
        "region": state.region,
        "build": state.build,
        "cross_play": state.cross_play,
        "input_method": state.input_method,
        "accessibility": state.accessibility.model_dump(),
        "party_id": state.party_id,
        "event_type": _T.timed_out.value,
        "payload": {"last_heartbeat_at": last, "timeout_s": used},
    }


def timeout_event(state: SessionState, now: datetime, timeout_s: int,
                  reservation_timeout_s: int | None = None) -> SessionEvent:
    """The timed_out event itself, ready to encode and append."""
    return SessionEvent.model_validate(
        timeout_event_fields(state, now, timeout_s, reservation_timeout_s))
