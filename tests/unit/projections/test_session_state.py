"""One session's state: the lifecycle, anomalies, duplicates and gaps."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest

from projections.errors import BadStateRecord, NotTimedOut, WrongSession
from projections.fold import fold_session
from projections.session_state import (
    MAX_ANOMALIES,
    TRANSITIONS,
    SessionState,
    SessionStatus,
    apply,
    is_timed_out,
    step,
    timeout_event,
    timeout_event_fields,
)
from schemas.models import SessionEventType
from schemas.records import session_record
from tests.support.factories import T0, session_event, session_script


def story(*steps: str | tuple[str, dict], session_id: str | None = None) -> list:
    """Events of one session ten seconds apart, producers' with seq 1..n; a step may carry
    overrides. A ``timed_out`` step is the ledger's verdict: seq 0, outside the producers' count."""
    session_id = session_id or str(uuid.uuid4())
    events = []
    seq = 0
    for i, spec in enumerate(steps):
        event_type, overrides = (spec, {}) if isinstance(spec, str) else spec
        derived = event_type == "timed_out"
        seq += 0 if derived else 1
        events.append(session_event(
            event_type, session_id=session_id, seq=0 if derived else seq,
            occurred_at=T0 + timedelta(seconds=10 * i), **overrides,
        ))
    return events


# --- the lifecycle ------------------------------------------------------------------------


def test_a_session_that_plays_and_ends_normally():
    events = session_script(heartbeats=3, end="normal")

    state = fold_session(events)

    assert state.status is SessionStatus.ended
    assert state.end_reason == "normal"
    assert state.last_seq == 6
    assert state.heartbeat_count == 3
    assert state.started_at == T0 + timedelta(seconds=2)
    assert state.ended_at == events[-1].occurred_at
    assert state.play_seconds == 31.0  # started at +2s, three 10s heartbeats, ended 1s later
    assert state.anomalies == ()
    assert state.pending == ()


def test_starting_records_server_mode_and_queue_time():
    state = fold_session(story(
        "requested", ("started", {"server_id": "gs-9", "game_mode": "duo", "queue_ms": 4200}),
    ))

    assert state.status is SessionStatus.active
    assert (state.server_id, state.game_mode, state.queue_ms) == ("gs-9", "duo", 4200)
    assert state.requested_at == T0
    assert state.opened_at == T0


def test_heartbeats_keep_the_latest_network_quality():
    state = fold_session(story(
        "requested", "started",
        ("heartbeat", {"latency_ms": 30, "packet_loss_pct": 0.0}),
        ("heartbeat", {"latency_ms": 180, "packet_loss_pct": 12.5}),
    ))

    assert state.heartbeat_count == 2
    assert (state.latency_ms, state.packet_loss_pct) == (180, 12.5)
    assert state.last_heartbeat_at == T0 + timedelta(seconds=30)


def test_a_disconnect_and_reconnect_returns_to_active_on_the_new_server():
    disconnected = fold_session(story(
        "requested", "started", ("disconnected", {"reason": "client_crash"}),
    ))
    assert disconnected.status is SessionStatus.disconnected
    assert disconnected.last_disconnect_reason == "client_crash"

    state = fold_session(story(
        "requested", "started", "disconnected",
        ("reconnected", {"server_id": "gs-eu-7", "downtime_ms": 8000}),
        "disconnected",
        ("reconnected", {"server_id": "gs-eu-8", "downtime_ms": 2000}),
    ))

    assert state.status is SessionStatus.active
    assert state.server_id == "gs-eu-8"
    assert (state.disconnect_count, state.reconnect_count) == (2, 2)
    assert state.downtime_ms == 10_000


def test_a_migration_moves_the_session_to_another_server_and_stays_active():
    state = fold_session(story(
        "requested", ("started", {"server_id": "gs-a"}),
        ("migrated", {"from_server_id": "gs-a", "to_server_id": "gs-b"}),
        ("migrated", {"from_server_id": "gs-b", "to_server_id": "gs-c"}),
    ))

    assert state.status is SessionStatus.active
    assert state.server_id == "gs-c"
    assert state.migration_count == 2
    assert state.anomalies == ()


def test_a_migration_from_a_server_the_session_was_not_on_is_applied_and_flagged():
    state = fold_session(story(
        "requested", ("started", {"server_id": "gs-a"}),
        ("migrated", {"from_server_id": "gs-x", "to_server_id": "gs-b"}),
    ))

    assert state.server_id == "gs-b"
    assert state.migration_count == 1
    [anomaly] = state.anomalies
    assert anomaly.seq == 3
    assert anomaly.from_status is SessionStatus.active
    assert "gs-x" in anomaly.reason and "gs-a" in anomaly.reason


def test_a_session_may_start_without_a_matchmaking_request():
    state = fold_session(story("started", "heartbeat"))

    assert state.status is SessionStatus.active
    assert state.opened_at == T0
    assert state.anomalies == ()


def test_a_request_abandoned_before_start_ends_with_no_play_time():
    state = fold_session(story("requested", ("ended", {"reason": "quit"})))

    assert state.status is SessionStatus.ended
    assert state.end_reason == "quit"
    assert state.play_seconds == 0.0


def test_a_timed_out_session_stops_counting_play_at_its_last_sign_of_life():
    events = session_script(heartbeats=2, end="timed_out", timeout_s=30)

    state = fold_session(events)

    assert state.status is SessionStatus.timed_out
    assert state.end_reason == "timed_out"
    assert state.ended_at == events[-1].occurred_at
    assert state.play_ended_at == events[-2].occurred_at
    assert state.play_seconds == 20.0


def test_the_envelope_describes_the_session_as_last_reported():
    state = fold_session(story(
        ("requested", {"platform": "xbox", "region": "us-east", "cross_play": False}),
        ("started", {"platform": "xbox", "region": "us-west", "cross_play": False,
                     "party_id": "party-7"}),
    ))

    assert (state.platform, state.region, state.cross_play) == ("xbox", "us-west", False)
    assert state.party_id == "party-7"


# --- anomalies ----------------------------------------------------------------------------

REACH = {
    SessionStatus.requested: ("requested",),
    SessionStatus.active: ("requested", "started"),
    SessionStatus.disconnected: ("requested", "started", "disconnected"),
    SessionStatus.ended: ("requested", "started", "ended"),
}
"""Producers' steps that reach each status the state machine has (a timeout is a verdict)."""


def _combinations(allowed: bool) -> list:
    return [
        pytest.param(status, kind, id=f"{kind}-while-{status}")
        for status in REACH
        for kind in SessionEventType
        if kind in TRANSITIONS and (status in TRANSITIONS[kind]) is allowed
    ]


@pytest.mark.parametrize(("status", "kind"), _combinations(allowed=False))
def test_an_event_not_allowed_in_a_status_is_an_anomaly_and_changes_only_the_seq(status, kind):
    events = story(*REACH[status], kind)
    before = fold_session(events[:-1])

    after = apply(before, events[-1])

    assert after.status is status
    assert after.last_seq == before.last_seq + 1
    [anomaly] = after.anomalies
    assert (anomaly.seq, anomaly.event_type, anomaly.from_status) == (len(events), kind, status)
    assert after.anomaly_count == 1
    unchanged = {"last_seq", "anomalies", "anomaly_count"}
    for name in SessionState.__dataclass_fields__:
        if name not in unchanged:
            assert getattr(after, name) == getattr(before, name), name


@pytest.mark.parametrize(("status", "kind"), _combinations(allowed=True))
def test_an_allowed_event_moves_to_the_status_the_table_names(status, kind):
    events = story(*REACH[status], kind)

    after = fold_session(events)

    assert after.status is TRANSITIONS[kind][status]
    assert after.anomalies == ()


@pytest.mark.parametrize("kind", [k for k in SessionEventType
                                  if k not in ("requested", "started", "timed_out")])
def test_an_event_before_the_session_began_is_an_anomaly(kind):
    state = fold_session(story(kind))

    assert state.status is SessionStatus.new
    assert state.last_seq == 1
    assert state.anomalies[0].reason == f"{kind} before the session was requested or started"


@pytest.mark.parametrize(("steps", "reason"), [
    (("requested", "started", "started"), "started twice"),
    (("requested", "requested"), "requested twice"),
    (("requested", "started", "ended", "heartbeat"), "heartbeat after the session ended"),
    (("requested", "started", "reconnected"),
     "reconnected while active: no disconnect preceded it"),
    (("requested", "heartbeat"), "heartbeat before the session started"),
    (("requested", "started", "disconnected", "heartbeat"),
     "heartbeat while disconnected: no reconnect preceded it"),
])
def test_anomalies_say_what_was_wrong(steps, reason):
    state = fold_session(story(*steps))

    assert [a.reason for a in state.anomalies] == [reason]


def test_a_session_keeps_its_earliest_anomalies_and_counts_them_all():
    extra = MAX_ANOMALIES + 5
    state = fold_session(story("requested", "started", "ended", *["heartbeat"] * extra))

    assert state.anomaly_count == extra
    assert len(state.anomalies) == MAX_ANOMALIES
    assert state.anomalies[0].seq == 4
    assert state.last_seq == 3 + extra


# --- duplicates and gaps ------------------------------------------------------------------


def test_a_redelivered_event_changes_nothing():
    events = story("requested", "started", "heartbeat")
    state = fold_session(events)

    for event in events:
        result = step(state, event)
        assert result.after is state
        assert result.outcome == "duplicate"


def test_an_event_ahead_of_a_gap_is_held_until_the_gap_fills():
    requested, started, heartbeat, ended = story("requested", "started", "heartbeat", "ended")

    state = apply(apply(None, requested), heartbeat)

    assert state.status is SessionStatus.requested
    assert state.last_seq == 1
    assert [e.seq for e in state.pending] == [3]
    assert state.gap.missing == range(2, 3)
    assert state.gap.held == 1

    state = apply(state, ended)
    assert [e.seq for e in state.pending] == [3, 4]

    filled = step(state, started)

    assert [e.seq for e in filled.applied] == [2, 3, 4]
    assert filled.after.status is SessionStatus.ended
    assert filled.after.pending == ()
    assert filled.after.gap is None
    assert filled.after == fold_session([requested, started, heartbeat, ended])


def test_a_held_event_delivered_again_is_a_duplicate():
    requested, _started, heartbeat = story("requested", "started", "heartbeat")
    state = apply(apply(None, requested), heartbeat)

    result = step(state, heartbeat)

    assert result.outcome == "duplicate"
    assert result.after is state


def test_a_session_first_seen_behind_a_gap_is_new_and_described_by_its_earliest_event():
    events = story(
        "requested",
        ("started", {"region": "ap-northeast"}),
        ("heartbeat", {"region": "us-east"}),
    )

    state = apply(apply(None, events[2]), events[1])

    assert state.status is SessionStatus.new
    assert state.last_seq == 0
    assert state.region == "ap-northeast"
    assert state.gap.missing == range(1, 2)


def test_a_session_with_only_rejected_events_is_described_by_its_first_event_in_any_order():
    stray, later = story(("heartbeat", {"region": "eu-west"}), ("heartbeat", {"region": "us-east"}))

    in_order = apply(apply(None, stray), later)
    reversed_order = apply(apply(None, later), stray)

    assert in_order.status is SessionStatus.new
    assert in_order.region == "eu-west"
    assert reversed_order == in_order


def test_held_events_are_released_across_several_gaps_in_seq_order():
    events = story("requested", "started", "heartbeat", "disconnected", "reconnected", "ended")
    one, two, three, four, five, six = events

    state = None
    for event in (six, four, one, three):
        state = apply(state, event)
    assert state.last_seq == 1
    assert state.gap.missing == range(2, 3)

    state = apply(state, two)
    assert state.last_seq == 4
    assert state.gap.missing == range(5, 6)

    state = apply(state, five)
    assert state == fold_session(events)


def test_an_event_of_another_session_is_refused():
    mine = story("requested")[0]
    theirs = story("requested")[0]

    with pytest.raises(WrongSession, match=theirs.session_id):
        apply(apply(None, mine), theirs)


# --- records ------------------------------------------------------------------------------


def test_a_state_survives_a_json_round_trip_with_held_events_and_anomalies():
    events = story("requested", "started", "started", ("heartbeat", {"party_id": "p-1"}), "ended")
    state = apply(fold_session(events[:3]), events[4])

    record = json.loads(json.dumps(state.to_dict()))

    assert SessionState.from_dict(record) == state
    assert SessionState.from_dict(record).pending == (session_record(events[4]),)


def test_a_record_from_another_version_is_refused_with_what_to_do():
    record = fold_session(story("requested")).to_dict() | {"v": 99}

    with pytest.raises(BadStateRecord, match="rebuild"):
        SessionState.from_dict(record)


def test_a_record_with_a_bad_field_names_it():
    record = fold_session(story("requested")).to_dict() | {"status": "dancing"}

    with pytest.raises(BadStateRecord, match="'status'"):
        SessionState.from_dict(record)


# --- timeouts -----------------------------------------------------------------------------


def test_a_silent_open_session_times_out_after_the_timeout():
    state = fold_session(story("requested", "started", "heartbeat"))  # last at T0+20s
    last = T0 + timedelta(seconds=20)

    assert not is_timed_out(state, last + timedelta(seconds=29.999), timeout_s=30)
    assert is_timed_out(state, last + timedelta(seconds=30), timeout_s=30)


def test_a_session_that_is_over_or_unknown_never_times_out():
    later = T0 + timedelta(hours=1)

    assert not is_timed_out(fold_session(story("requested", "started", "ended")), later, 30)
    assert not is_timed_out(fold_session(story("requested", "started", "timed_out")), later, 30)
    assert not is_timed_out(fold_session(story("heartbeat")), later, 30)  # never began
    assert not is_timed_out(None, later, 30)


def test_events_held_behind_a_gap_count_as_signs_of_life():
    requested, _started, heartbeat = story("requested", "started", "heartbeat")  # +0s, +20s
    state = apply(apply(None, requested), heartbeat)

    assert not is_timed_out(state, T0 + timedelta(seconds=45), timeout_s=30)
    assert is_timed_out(state, T0 + timedelta(seconds=50), timeout_s=30)


def test_the_timed_out_verdict_takes_no_producer_seq_and_occurs_when_the_silence_reached_the_timeout():
    events = story("requested", "started", "heartbeat", "heartbeat")
    state = fold_session(events)
    now = T0 + timedelta(seconds=95)

    event = timeout_event(state, now, timeout_s=60)

    assert event.seq == 0
    assert event.event_type is SessionEventType.timed_out
    assert event.producer == "ledger-worker"
    assert event.occurred_at == T0 + timedelta(seconds=90)  # last sign of life + 60 s
    assert event.payload.last_heartbeat_at == T0 + timedelta(seconds=30)
    assert event.payload.timeout_s == 60
    assert (event.player_id, event.region, event.platform) == (
        state.player_id, state.region, state.platform,
    )
    ended = apply(state, event)
    assert ended.status is SessionStatus.timed_out
    assert ended.end_reason == "timed_out"
    assert ended.last_seq == 4
    assert ended.play_seconds == 20.0
    assert not is_timed_out(ended, now + timedelta(hours=1), timeout_s=60)


def test_deciding_the_same_timeout_twice_gives_the_same_event():
    state = fold_session(story("requested", "started"))
    now = T0 + timedelta(minutes=5)

    first = timeout_event_fields(state, now, 60)
    again = timeout_event_fields(state, now + timedelta(seconds=7), 60)

    assert first == again
    assert uuid.UUID(first["event_id"]).version == 5


def test_a_verdict_applies_even_while_producer_events_are_missing():
    requested, _started, heartbeat = story("requested", "started", "heartbeat")
    state = apply(apply(None, requested), heartbeat)
    now = T0 + timedelta(minutes=5)

    state = apply(state, timeout_event(state, now, 30))

    assert state.status is SessionStatus.timed_out
    assert state.verdict.at == T0 + timedelta(seconds=50)
    assert [e.seq for e in state.pending] == [3]
    assert not is_timed_out(state, now + timedelta(minutes=5), 30)


def test_asking_for_a_timeout_that_has_not_happened_is_an_error():
    state = fold_session(story("requested", "started"))

    with pytest.raises(NotTimedOut, match="is_timed_out"):
        timeout_event_fields(state, T0 + timedelta(seconds=15), 30)
