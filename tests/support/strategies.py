"""Hypothesis strategies for sessions and their deliveries, shared by the property tests.

- ``lawful_sessions``: one session as a game would report it (the factory's script);
- ``lawless_sessions``: event types in any order, anomalies included;
- ``contested_sessions``: a lawful session plus the ledger's timeout verdicts decided on what a
  worker had seen so far (the end rule's cases);
- ``deliveries``: any order of arrival, with redeliveries at any point;
- ``valid_session_events`` / ``valid_ops_events``: any event the contract accepts, every field
  drawn (the codec's and the batch decoder's round-trip properties).
"""
from __future__ import annotations

import string
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from projections.fold import fold_session
from projections.session_state import is_timed_out, timeout_event
from schemas.models import (
    BurnAlert, BurnState, DeployOutcome, DisconnectReason, EndReason, IncidentKind, InputMethod,
    Milestone, OpsEventType, Platform, SessionEvent, SessionEventType, Severity,
)
from tests.support.factories import T0, ops_event, session_event, session_script

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow],
)

ENDS = [None, "normal", "quit", "kicked", "error", "server_crash", "timed_out"]


@st.composite
def lawful_sessions(draw, player_ids=("ada", "bob", "cy")):
    """One session as a game would report it, via the factory's script."""
    return session_script(
        player_id=draw(st.sampled_from(player_ids)),
        start=T0 + timedelta(minutes=draw(st.integers(0, 30))),
        heartbeats=draw(st.integers(0, 4)),
        disconnect_and_reconnect=draw(st.booleans()),
        migrate=draw(st.booleans()),
        end=draw(st.sampled_from(ENDS)),
        region=draw(st.sampled_from(["eu-west", "us-east"])),
        platform=draw(st.sampled_from(["pc", "playstation", "ios"])),
        cross_play=draw(st.booleans()),
    )


@st.composite
def lawless_sessions(draw, platforms=None):
    """One session whose event types are arbitrary: anomalies included. With ``platforms``,
    each event says it came from one of them, so a session's events may disagree."""
    session_id = str(uuid.uuid4())
    kinds = draw(st.lists(st.sampled_from(list(SessionEventType)), min_size=1, max_size=12))
    events, seq = [], 0
    for kind in kinds:
        derived = kind is SessionEventType.timed_out  # the ledger's verdict: seq 0
        seq += 0 if derived else 1
        events.append(session_event(
            kind, session_id=session_id, seq=0 if derived else seq,
            occurred_at=T0 + timedelta(seconds=draw(st.integers(0, 600))),
            region=draw(st.sampled_from(["eu-west", "us-east"])),
            **({} if platforms is None else {"platform": draw(st.sampled_from(platforms))}),
        ))
    return events


@st.composite
def deliveries(draw, events):
    """``events`` in any order, with some delivered more than once at any point."""
    shuffled = draw(st.permutations(events))
    repeats = draw(st.lists(
        st.tuples(st.sampled_from(events), st.integers(0, len(events))), max_size=len(events),
    ))
    delivered = list(shuffled)
    for event, position in repeats:
        delivered.insert(min(position, len(delivered)), event)
    return delivered


FAR_FUTURE = T0 + timedelta(days=365)
"""A wall clock late enough for any verdict to be due."""

END_REASONS = [None, "normal", "quit", "kicked", "error", "server_crash", "server_shutdown",
               "maintenance"]


@dataclass(frozen=True)
class ContestedSession:
    producer_events: tuple[SessionEvent, ...]
    verdicts: tuple[SessionEvent, ...]

    @property
    def events(self) -> list[SessionEvent]:
        return [*self.producer_events, *self.verdicts]


@st.composite
def contested_sessions(draw, player_ids=("ada", "bob", "cy")) -> ContestedSession:
    """A lawful session (it may end, or not) and zero to two timeout verdicts, each decided by a
    worker that had folded only a prefix of the producer events (a late ``ended`` is the case
    that matters), with the heartbeat or the reservation timeout."""
    producer = session_script(
        player_id=draw(st.sampled_from(player_ids)),
        start=T0 + timedelta(minutes=draw(st.integers(0, 30))),
        heartbeats=draw(st.integers(0, 3)),
        heartbeat_every=timedelta(seconds=draw(st.integers(5, 40))),
        disconnect_and_reconnect=draw(st.booleans()),
        end=draw(st.sampled_from(END_REASONS)),
        region=draw(st.sampled_from(["eu-west", "us-east"])),
        platform=draw(st.sampled_from(["pc", "playstation"])),
    )
    verdicts = []
    for _ in range(draw(st.integers(0, 2))):
        seen = producer[:draw(st.integers(1, len(producer)))]
        state = fold_session(seen)
        timeout_s = draw(st.sampled_from([10, 30, 60]))
        reservation_s = draw(st.sampled_from([None, 20, 60]))
        if is_timed_out(state, FAR_FUTURE, timeout_s, reservation_s):
            verdicts.append(timeout_event(state, FAR_FUTURE, timeout_s, reservation_s))
    return ContestedSession(tuple(producer), tuple(verdicts))


arrivals = deliveries
"""The same strategy under the name the end-rule tests read best with."""


# --- any valid event ---------------------------------------------------------------------

text = st.text(alphabet=string.printable + "éü漢字🙂", max_size=30)
ident = st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=1, max_size=20)
longs = st.integers(min_value=0, max_value=2**63 - 1)
ints = st.integers(min_value=0, max_value=2**31 - 1)
ALL_INSTANTS = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31),
                            timezones=st.just(timezone.utc))
"""Every instant a ``datetime`` holds."""
CANONICAL_UUIDS = st.uuids().map(str)


def session_payloads(instants=ALL_INSTANTS) -> dict:
    """A payload strategy per session event type."""
    return {
        SessionEventType.requested: st.fixed_dictionaries(
            {"game_mode": ident}, optional={"matchmaking_ticket": st.none() | text}),
        SessionEventType.started: st.fixed_dictionaries(
            {"server_id": ident, "game_mode": ident, "queue_ms": longs}),
        SessionEventType.heartbeat: st.fixed_dictionaries(
            {"latency_ms": ints, "packet_loss_pct": st.floats(min_value=0, max_value=100)}),
        SessionEventType.disconnected: st.fixed_dictionaries(
            {"reason": st.sampled_from(DisconnectReason)}),
        SessionEventType.reconnected: st.fixed_dictionaries(
            {"server_id": ident, "downtime_ms": longs}),
        SessionEventType.migrated: st.fixed_dictionaries(
            {"from_server_id": ident, "to_server_id": ident, "reason": text}),
        SessionEventType.ended: st.fixed_dictionaries({"reason": st.sampled_from(EndReason)}),
        SessionEventType.timed_out: st.fixed_dictionaries(
            {"last_heartbeat_at": instants, "timeout_s": st.integers(1, 2**31 - 1)}),
    }


@st.composite
def valid_session_events(draw, instants=ALL_INSTANTS, uuids=CANONICAL_UUIDS):
    """Any session event the contract accepts; a timed_out verdict has seq 0."""
    event_type = draw(st.sampled_from(SessionEventType))
    derived = event_type is SessionEventType.timed_out
    return session_event(
        event_type,
        session_id=draw(uuids),
        seq=draw(st.just(0) if derived else st.integers(min_value=1, max_value=2**63 - 1)),
        occurred_at=draw(instants),
        event_id=draw(uuids),
        player_id=draw(ident),
        producer=draw(ident),
        platform=draw(st.sampled_from(Platform)),
        region=draw(ident),
        build=draw(text),
        cross_play=draw(st.booleans()),
        input_method=draw(st.sampled_from(InputMethod)),
        accessibility=draw(st.fixed_dictionaries({}, optional={
            "subtitles": st.booleans(), "screen_reader": st.booleans(),
            "reduced_motion": st.booleans(),
            "colorblind_mode": st.sampled_from(["none", "protanopia", "deuteranopia", "tritanopia"]),
        })),
        trace_id=draw(st.none() | text),
        party_id=draw(st.none() | ident),
        payload=draw(session_payloads(instants)[event_type]),
    )


@st.composite
def valid_ops_events(draw, instants=ALL_INSTANTS, uuids=CANONICAL_UUIDS):
    """Any ops event the contract accepts."""
    event_type = draw(st.sampled_from(OpsEventType))
    kind = {"maintenance": "incident", "slo": "anomaly"}.get(event_type.value.split("_")[0],
                                                           event_type.value.split("_")[0])
    regions = st.lists(ident, max_size=4)
    incident_kinds = st.sampled_from([IncidentKind.unplanned, IncidentKind.drill])
    payload = {
        "incident": st.fixed_dictionaries({
            "incident_id": ident, "severity": st.sampled_from(Severity), "title": text,
            "regions": regions, "services": regions, "kind": incident_kinds,
            "impact_started_at": st.none() | instants}),
        "deploy": st.fixed_dictionaries({
            "deploy_id": ident, "service": ident, "version": ident, "regions": regions,
            "outcome": st.none() | st.sampled_from(DeployOutcome),
            "build": st.none() | ident}),
        "anomaly": st.fixed_dictionaries({
            "kind": ident, "region": ident, "window_start": instants,
            "count": longs, "threshold": longs}),
        "fleet": st.fixed_dictionaries({
            "region": ident, "servers": longs, "player_slots": longs,
            "hourly_cost": st.floats(min_value=0.0, allow_nan=False, allow_infinity=False),
            "currency": ident}),
    }[kind]
    start = draw(instants)
    extra = {
        OpsEventType.incident_corrected: st.fixed_dictionaries({
            "milestone": st.sampled_from(Milestone), "milestone_at": instants}),
        OpsEventType.maintenance_scheduled: st.fixed_dictionaries({
            "kind": st.just(IncidentKind.maintenance), "planned_start": st.just(start),
            "planned_end": st.sampled_from([start, start + timedelta(hours=2)])}),
        OpsEventType.slo_burn: st.fixed_dictionaries({
            "slo": ident, "alert": st.sampled_from(BurnAlert),
            "state": st.sampled_from(BurnState),
            "burn_rate": st.floats(min_value=0, max_value=1e6, allow_nan=False),
            "long_window_s": st.integers(min_value=1, max_value=2**40)}),
    }.get(event_type, st.just({}))
    return ops_event(event_type, event_id=draw(uuids), occurred_at=draw(instants),
                     producer=draw(ident), payload={**draw(payload), **draw(extra)})

