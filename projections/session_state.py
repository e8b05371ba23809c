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

import orjson

from projections.errors import BadStateRecord, NotTimedOut, WrongSession
from projections.timestamps import EPOCH, from_millis, require_utc, to_millis
from schemas.models import DERIVED_SEQ, Accessibility, SessionEvent, SessionEventType
from schemas.records import SESSION_COLUMNS, SessionRecord, session_record

MAX_ANOMALIES = 100
"""How many anomalies a session keeps (the earliest, by seq); ``anomaly_count`` counts them all."""

TIMEOUT_PRODUCER = "ledger-worker"
"""The producer named on the timed_out events the ledger appends itself."""

TIMEOUT_EVENT_NAMESPACE = uuid.UUID("6f1c3b52-8d0e-4f59-9a57-2f0c7d3e4b18")
"""Namespace of the deterministic event_id of a timed_out event (uuid5 of session and seq)."""

RECORD_VERSION = 3
"""Version 3 holds the events held behind a gap as flat rows (``SessionRecord`` values in
``SESSION_COLUMNS`` order, instants as epoch milliseconds). Version 2 records (held events as
event documents) and version 1 records (one status for what the producers reported and the
timeout verdict) are still read."""

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
    def of(cls, event: SessionEvent | SessionRecord) -> Verdict:
        r = as_record(event)
        return cls(r.occurred_at, r.event_id, r.last_heartbeat_at, r.timeout_s)

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
    pending: tuple[SessionRecord, ...] = field(default=(), repr=False)
    """Events held behind a gap, in seq order, as flat records."""
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
            "accessibility": _accessibility_dict(self.accessibility),
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
            "pending": [_pending_row(r) for r in self.pending],
            "reported_status": self.reported_status.value,
            "reported_ended_at": to_millis(self.reported_ended_at),
            "reported_end_reason": self.reported_end_reason,
            "verdict": None if self.verdict is None else self.verdict.to_dict(),
            "verdict_changes": self.verdict_changes,
        }

    def to_bytes(self) -> bytes:
        """The table's record of this state: version 3 as a JSON array, ``[3, <every field in
        declaration order>]``, with ``to_dict``'s values and nested records as arrays. The
        same content as ``to_dict`` at a fraction of the cost to make and to store."""
        return orjson.dumps(_row(self))

    @classmethod
    def from_bytes(cls, data: bytes | str | Mapping[str, Any]) -> SessionState:
        """The state a table record describes: a ``to_bytes`` array, or the JSON of a
        ``to_dict`` object of any version (what earlier workers wrote); a mapping is read by
        ``from_dict``. ``BadStateRecord`` names a bad field."""
        if isinstance(data, Mapping):
            return cls.from_dict(data)
        try:
            value = orjson.loads(data)
        except (orjson.JSONDecodeError, TypeError) as exc:
            raise BadStateRecord("SessionState", "(record)", f"not JSON: {exc}", data) from None
        if isinstance(value, list):
            return _from_row(value)
        return cls.from_dict(value)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SessionState:
        """The state a ``to_dict()`` record describes; ``BadStateRecord`` names a bad field."""
        version = data.get("v") if isinstance(data, Mapping) else None
        if version not in (1, 2, RECORD_VERSION):
            raise BadStateRecord("SessionState", "v", f"must be 1 to {RECORD_VERSION}", version)
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
            values["accessibility"] = _accessibility_of(values["accessibility"])
            current = "status"
            values["status"] = SessionStatus(values["status"])
            for current in _TIMESTAMPS:
                values[current] = from_millis(values[current])
            current = "anomalies"
            values["anomalies"] = tuple(Anomaly.from_dict(a) for a in values["anomalies"])
            current = "pending"
            read = _pending_record if version == RECORD_VERSION else _pending_document
            values["pending"] = tuple(read(e) for e in values["pending"])
            current = "(record)"
            return cls(**values)
        except (KeyError, TypeError, ValueError) as exc:
            raise BadStateRecord("SessionState", current, str(exc), values.get(current)) from None


_TIMESTAMPS = (
    "requested_at", "started_at", "ended_at", "play_ended_at", "last_event_at",
    "last_heartbeat_at",
)


def _accessibility_dict(a: Accessibility) -> dict[str, Any]:
    return {"subtitles": a.subtitles, "colorblind_mode": a.colorblind_mode.value,
            "screen_reader": a.screen_reader, "reduced_motion": a.reduced_motion}


def _accessibility_of(data: Any) -> Accessibility:
    """The (shared, frozen) settings a record's ``accessibility`` document describes."""
    if isinstance(data, Mapping) and data.keys() == _ACCESSIBILITY_KEYS:
        key = (data["subtitles"], data["colorblind_mode"], data["screen_reader"],
               data["reduced_motion"])
        found = _ACCESSIBILITIES.get(key)
        if found is not None:
            return found
    found = Accessibility.model_validate(data)
    key = (found.subtitles, found.colorblind_mode.value, found.screen_reader, found.reduced_motion)
    return _ACCESSIBILITIES.setdefault(key, found)


_ACCESSIBILITY_KEYS = frozenset({"subtitles", "colorblind_mode", "screen_reader", "reduced_motion"})
_INSTANT_COLUMNS = frozenset({"occurred_at", "last_heartbeat_at"})
_INSTANT_AT = tuple(i for i, name in enumerate(SESSION_COLUMNS) if name in _INSTANT_COLUMNS)


def _pending_row(record: SessionRecord) -> list[Any]:
    """A held event as a version 3 record keeps it: its values, instants as epoch millis."""
    row = list(record)
    for i in _INSTANT_AT:
        row[i] = to_millis(row[i])
    return row


def _pending_record(row: Any) -> SessionRecord:
    if not isinstance(row, list) or len(row) != len(SESSION_COLUMNS):
        raise ValueError(f"a held event must be a list of {len(SESSION_COLUMNS)} values")
    values = list(row)
    for i in _INSTANT_AT:
        values[i] = from_millis(values[i])
    return SessionRecord(*values)


def _pending_document(document: Any) -> SessionRecord:
    """A held event as version 1 and 2 records keep it: the event's JSON document."""
    return session_record(SessionEvent.model_validate(document))


def _row(state: SessionState) -> list[Any]:
    """``to_bytes``'s array (see there)."""
    values = list(_all_values(state))
    a = state.accessibility
    values[_ACCESSIBILITY] = [a.subtitles, a.colorblind_mode.value, a.screen_reader,
                              a.reduced_motion]
    for i in _ROW_INSTANTS:
        instant = values[i]
        if instant is not None:
            values[i] = (instant - EPOCH) // _MILLISECOND
    if values[_ANOMALIES]:
        values[_ANOMALIES] = [[x.seq, x.event_type, x.from_status.value, x.reason]
                              for x in values[_ANOMALIES]]
    if values[_PENDING]:
        values[_PENDING] = [_pending_row(r) for r in values[_PENDING]]
    verdict = values[_VERDICT]
    if verdict is not None:
        values[_VERDICT] = [to_millis(verdict.at), verdict.event_id,
                            to_millis(verdict.last_heartbeat_at), verdict.timeout_s]
    values.insert(0, RECORD_VERSION)
    return values


def _from_row(row: list[Any]) -> SessionState:
    """The state of a ``to_bytes`` array; ``BadStateRecord`` names a bad field."""
    if not row or row[0] != RECORD_VERSION:
        raise BadStateRecord("SessionState", "v", f"must be {RECORD_VERSION}",
                             row[0] if row else None)
    if len(row) != len(_FIELD_NAMES) + 1:
        raise BadStateRecord("SessionState", "(record)",
                             f"must hold {len(_FIELD_NAMES)} fields after the version", len(row) - 1)
    values = row[1:]
    current = 0
    try:
        current = _ACCESSIBILITY
        values[current] = _accessibility_of(dict(zip(_ACCESSIBILITY_ORDER, values[current],
                                                     strict=True)))
        for current in (_STATUS, _REPORTED_STATUS):
            values[current] = SessionStatus(values[current])
        for current in _ROW_INSTANTS:
            values[current] = from_millis(values[current])
        current = _ANOMALIES
        values[current] = tuple(Anomaly(int(seq), str(kind), SessionStatus(status), str(reason))
                                for seq, kind, status, reason in values[current])
        current = _PENDING
        values[current] = tuple(_pending_record(r) for r in values[current])
        current = _VERDICT
        if values[current] is not None:
            at, event_id, last_heartbeat_at, timeout_s = values[current]
            values[current] = Verdict(from_millis(at), str(event_id),
                                      from_millis(last_heartbeat_at), int(timeout_s))
    except (KeyError, TypeError, ValueError) as exc:
        name = _FIELD_NAMES[current]
        raise BadStateRecord("SessionState", name, str(exc), row[current + 1]) from None
    return _build(values)


_ACCESSIBILITY_ORDER = ("subtitles", "colorblind_mode", "screen_reader", "reduced_motion")
_MILLISECOND = timedelta(milliseconds=1)


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
#
# The fold reads events as flat ``SessionRecord``s (schemas.records): the batch decoder's
# output as it is, or a model mapped once by ``as_record``. A delivery copies the state's
# values into one list, changes them in place and builds one new ``SessionState`` at the end:
# one object per delivery, however many fields it changes or held events it releases.

_FIELD_NAMES = tuple(f.name for f in fields(SessionState))
_FIELD_INDEX = {name: i for i, name in enumerate(_FIELD_NAMES)}
_all_values = operator.attrgetter(*_FIELD_NAMES)
(_PLAYER_ID, _PLATFORM, _REGION, _CROSS_PLAY, _BUILD, _INPUT_METHOD, _ACCESSIBILITY, _PARTY_ID,
 _STATUS, _LAST_SEQ, _GAME_MODE, _SERVER_ID, _QUEUE_MS, _REQUESTED_AT, _STARTED_AT, _ENDED_AT,
 _PLAY_ENDED_AT, _END_REASON, _LAST_EVENT_AT, _LAST_HEARTBEAT_AT, _LATENCY_MS, _PACKET_LOSS_PCT,
 _HEARTBEAT_COUNT, _DISCONNECT_COUNT, _LAST_DISCONNECT_REASON, _RECONNECT_COUNT, _DOWNTIME_MS,
 _MIGRATION_COUNT, _ANOMALIES, _ANOMALY_COUNT, _PENDING, _REPORTED_STATUS, _REPORTED_ENDED_AT,
 _REPORTED_END_REASON, _VERDICT, _VERDICT_CHANGES) = range(1, len(_FIELD_NAMES))
assert _FIELD_NAMES[_VERDICT_CHANGES] == "verdict_changes" and _FIELD_NAMES[_PENDING] == "pending"
_ROW_INSTANTS = tuple(_FIELD_INDEX[name] for name in (*_TIMESTAMPS, "reported_ended_at"))

Values = list
"""A state's field values in ``_FIELD_NAMES`` order, changed in place by one delivery."""


def _builder(cls: type) -> Callable[[Any], Any]:
    """``cls(*values)`` for a frozen slotted dataclass, at a third of the cost: the dataclass's
    ``__init__`` sets each field through ``object.__setattr__``; this sets each slot directly
    (what that ``__init__`` does, with no defaults to fill, since every value is given)."""
    names = [f.name for f in fields(cls)]
    setters = {f"_set{i}": getattr(cls, name).__set__ for i, name in enumerate(names)}
    lines = [f"def build(values, _new=object.__new__, _cls=_cls, "
             f"{', '.join(f'{k}={k}' for k in setters)}):",
             "    made = _new(_cls)"]
    lines += [f"    _set{i}(made, values[{i}])" for i in range(len(names))]
    lines += ["    return made"]
    scope = {"_cls": cls, **setters}
    exec("\n".join(lines), scope)  # noqa: S102 - source made above from the field names only
    return scope["build"]


_build: Callable[[Values], SessionState] = _builder(SessionState)
_new_step: Callable[[tuple], Step] = _builder(Step)
_BLANK = tuple(_all_values(SessionState("", "", "", "", False, "", "")))
"""The values of a session nothing is known of yet (every field at its default)."""


def as_record(event: SessionEvent | SessionRecord) -> SessionRecord:
    """The flat record the fold reads: a ``SessionRecord`` as it is, a model mapped once."""
    return event if type(event) is SessionRecord else session_record(event)


def _evolve(state: SessionState, **changes: Any) -> SessionState:
    """``dataclasses.replace`` without its per-field checks."""
    values = list(_all_values(state))
    for name, value in changes.items():
        values[_FIELD_INDEX[name]] = value
    return _build(values)


def apply(state: SessionState | None, event: SessionEvent | SessionRecord) -> SessionState:
    """The state after delivering ``event`` to ``state`` (None for a session not seen yet)."""
    return step(state, event).after


def step(state: SessionState | None, event: SessionEvent | SessionRecord) -> Step:
    """Deliver ``event`` (a record, or a model read as its record): apply it, hold it behind a
    gap, or ignore it as a duplicate. ``Step.applied`` holds records."""
    record = event if type(event) is SessionRecord else session_record(event)
    before = state
    if state is None:
        state = _blank(record)
    elif record.session_id != state.session_id:
        raise WrongSession(state.session_id, record.session_id)

    if record.event_type == "timed_out":
        return _deliver_verdict(before, state, record)
    seq = record.seq
    last_seq = state.last_seq
    if seq <= last_seq or _is_held(state.pending, seq):
        return _new_step((before, state, (), _NONE_REJECTED))
    if seq > last_seq + 1:
        return _new_step((before, _hold(state, record), (), _NONE_REJECTED))

    values = list(_all_values(state))
    rejected: set[int] = set()
    _transition(values, record, rejected)
    pending = values[_PENDING]
    if not pending or pending[0].seq != seq + 1:
        return _new_step((before, _build(values), (record,),
                      frozenset(rejected) if rejected else _NONE_REJECTED))
    applied = [record]
    while pending and pending[0].seq == values[_LAST_SEQ] + 1:
        released, pending = pending[0], pending[1:]
        values[_PENDING] = pending
        applied.append(released)
        _transition(values, released, rejected)
    return _new_step((before, _build(values), tuple(applied), frozenset(rejected)))


_NONE_REJECTED: frozenset[int] = frozenset()


def _deliver_verdict(before: SessionState | None, state: SessionState,
                     record: SessionRecord) -> Step:
    """Weigh a timeout verdict: the earliest one received is kept, any other changes nothing.

    The verdict is applied whatever seqs are missing (it is not in their order); it is
    ``rejected`` (applied, but not how the session ended) when an earlier ``ended`` overrules it.
    """
    verdict = Verdict.of(record)
    if state.verdict is not None and state.verdict <= verdict:
        return _new_step((before, state, (), _NONE_REJECTED))
    values = list(_all_values(state))
    if state.last_seq == 0 and not state.pending:
        _envelope(values, record)  # known only from verdicts: the earliest
    values[_VERDICT] = verdict
    values[_VERDICT_CHANGES] += 1
    _resolve(values)
    after = _build(values)
    rejected = _NONE_REJECTED if after.status is _S.timed_out else frozenset({record.seq})
    return _new_step((before, after, (record,), rejected))


def _resolve(values: Values) -> None:
    """Bring the fields ``resolve_end`` decides up to date in ``values``."""
    reported = values[_REPORTED_STATUS]
    if values[_VERDICT] is None and reported is not _S.ended:
        values[_STATUS] = reported  # open: what resolve_end answers without a verdict or end
        values[_ENDED_AT] = values[_PLAY_ENDED_AT] = values[_END_REASON] = None
        return
    end = resolve_end(reported, values[_REPORTED_ENDED_AT], values[_REPORTED_END_REASON],
                      values[_VERDICT], values[_STARTED_AT])
    values[_STATUS] = end.status
    values[_ENDED_AT] = end.ended_at
    values[_PLAY_ENDED_AT] = end.play_ended_at
    values[_END_REASON] = end.end_reason


_ACCESSIBILITIES: dict[tuple[bool, str, bool, bool], Accessibility] = {}
"""One frozen ``Accessibility`` per combination of settings (a few dozen at most)."""


def _accessibility(record: SessionRecord) -> Accessibility:
    key = (record.subtitles, record.colorblind_mode, record.screen_reader, record.reduced_motion)
    found = _ACCESSIBILITIES.get(key)
    if found is None:
        found = _ACCESSIBILITIES[key] = Accessibility(
            subtitles=key[0], colorblind_mode=key[1], screen_reader=key[2], reduced_motion=key[3])
    return found


def _blank(record: SessionRecord) -> SessionState:
    values = list(_BLANK)
    values[0] = record.session_id
    _envelope(values, record)
    return _build(values)


def _envelope(values: Values, record: SessionRecord) -> None:
    """Describe the session in ``values`` as ``record`` reports it."""
    values[_PLAYER_ID] = record.player_id
    values[_PLATFORM] = record.platform
    values[_REGION] = record.region
    values[_CROSS_PLAY] = record.cross_play
    values[_BUILD] = record.build
    values[_INPUT_METHOD] = record.input_method
    values[_ACCESSIBILITY] = _accessibility(record)
    values[_PARTY_ID] = record.party_id


def _is_held(pending: tuple[SessionRecord, ...], seq: int) -> bool:
    for held in pending:
        if held.seq == seq:
            return True
    return False


def _hold(state: SessionState, record: SessionRecord) -> SessionState:
    pending = list(state.pending)
    bisect.insort(pending, record, key=_seq_of)
    values = list(_all_values(state))
    values[_PENDING] = tuple(pending)
    if state.last_seq == 0:
        # Nothing applied yet: describe the session by its earliest known event, whatever
        # order the held events came in.
        _envelope(values, pending[0])
    return _build(values)


_seq_of = operator.attrgetter("seq")


def _transition(values: Values, record: SessionRecord, rejected: set[int]) -> None:
    kind = record.event_type
    reported = values[_REPORTED_STATUS]
    target = TRANSITIONS[kind].get(reported)
    if target is None:
        rejected.add(record.seq)
        values[_LAST_SEQ] = record.seq
        if record.seq == 1:
            # Nothing accepted yet: describe the session by its earliest event, as _hold does.
            _envelope(values, record)
        _add_anomaly(values, record, _illegal(kind, reported), reported)
        return
    contradiction = _EFFECTS[kind](values, record)
    occurred_at = record.occurred_at
    last_event_at = values[_LAST_EVENT_AT]
    if last_event_at is None or last_event_at <= occurred_at:
        values[_LAST_EVENT_AT] = occurred_at
    values[_REPORTED_STATUS] = target
    values[_LAST_SEQ] = record.seq
    _envelope(values, record)
    _resolve(values)
    if contradiction is not None:
        _add_anomaly(values, record, contradiction, reported)


def _add_anomaly(values: Values, record: SessionRecord, reason: str,
                 from_status: SessionStatus) -> None:
    anomalies = values[_ANOMALIES]
    if len(anomalies) < MAX_ANOMALIES:
        values[_ANOMALIES] = anomalies + (Anomaly(record.seq, record.event_type, from_status,
                                                  reason),)
    values[_ANOMALY_COUNT] += 1


def _illegal(kind: str, status: SessionStatus) -> str:
    if status is _S.ended:
        return f"{kind} after the session ended"
    if status is _S.new:
        return f"{kind} before the session was requested or started"
    if kind == _T.started or (kind == _T.requested and status is _S.requested):
        return f"{kind} twice"
    if kind == _T.requested:
        return "requested after the session started"
    if status is _S.requested:
        return f"{kind} before the session started"
    if kind == _T.reconnected:
        return "reconnected while active: no disconnect preceded it"
    if kind == _T.disconnected:
        return "disconnected twice without a reconnect in between"
    return f"{kind} while disconnected: no reconnect preceded it"


# --- what each allowed event changes ------------------------------------------------------
#
# Each effect writes what the event changes into ``values`` (the state before the event, as
# far as the effect reads it) and returns the contradiction it found, if any.

Effect = Callable[[Values, SessionRecord], "str | None"]


def _requested(values: Values, r: SessionRecord) -> str | None:
    values[_REQUESTED_AT] = r.occurred_at
    values[_GAME_MODE] = r.game_mode
    return None


def _started(values: Values, r: SessionRecord) -> str | None:
    values[_STARTED_AT] = r.occurred_at
    values[_SERVER_ID] = r.server_id
    values[_GAME_MODE] = r.game_mode
    values[_QUEUE_MS] = r.queue_ms
    return None


def _heartbeat(values: Values, r: SessionRecord) -> str | None:
    values[_HEARTBEAT_COUNT] += 1
    last = values[_LAST_HEARTBEAT_AT]
    if last is None or last < r.occurred_at:
        values[_LAST_HEARTBEAT_AT] = r.occurred_at
    values[_LATENCY_MS] = r.latency_ms
    values[_PACKET_LOSS_PCT] = r.packet_loss_pct
    return None


def _disconnected(values: Values, r: SessionRecord) -> str | None:
    values[_DISCONNECT_COUNT] += 1
    values[_LAST_DISCONNECT_REASON] = r.disconnect_reason
    return None


def _reconnected(values: Values, r: SessionRecord) -> str | None:
    values[_RECONNECT_COUNT] += 1
    values[_SERVER_ID] = r.server_id
    values[_DOWNTIME_MS] += r.downtime_ms
    return None


def _migrated(values: Values, r: SessionRecord) -> str | None:
    contradiction = None
    on = values[_SERVER_ID]
    if r.from_server_id != on:
        contradiction = f"migrated from server {r.from_server_id} but the session was on {on}"
    values[_MIGRATION_COUNT] += 1
    values[_SERVER_ID] = r.to_server_id
    return contradiction


def _ended(values: Values, r: SessionRecord) -> str | None:
    values[_REPORTED_ENDED_AT] = r.occurred_at
    values[_REPORTED_END_REASON] = r.end_reason
    return None


_EFFECTS: Mapping[str, Effect] = {
    _T.requested.value: _requested,
    _T.started.value: _started,
    _T.heartbeat.value: _heartbeat,
    _T.disconnected.value: _disconnected,
    _T.reconnected.value: _reconnected,
    _T.migrated.value: _migrated,
    _T.ended.value: _ended,
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
