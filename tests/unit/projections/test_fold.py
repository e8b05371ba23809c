"""Folding whole streams: the ledger now, the ledger as of an instant, one session's timeline."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from projections.concurrency import Concurrency
from projections.disconnect_spikes import (
    WindowKey,
    count_disconnects,
    crossed_threshold,
    minute_bucket,
    spike_anomaly_fields,
    spikes,
)
from projections.errors import NaiveTimestamp
from projections.fold import LedgerFold, fold_all, fold_until, session_timeline
from projections.session_state import SessionStatus
from schemas.models import OpsEvent
from tests.support.factories import T0, ops_event, session_event, session_script

SESSION = "5d2f7c1a-0b3e-4c6d-8e9f-1a2b3c4d5e6f"


def test_a_mixed_stream_folds_sessions_players_and_concurrency():
    ada = session_script(player_id="ada", heartbeats=2, end="normal")
    bob = session_script(player_id="bob", heartbeats=1, end=None, region="us-east")
    incident = ops_event("incident_opened")

    view = fold_all([incident, *ada, *bob])

    assert view.sessions[ada[0].session_id].status is SessionStatus.ended
    assert view.sessions[bob[0].session_id].status is SessionStatus.active
    assert view.players["ada"].total_play_seconds == 21.0
    assert view.players["bob"].current_session_id == bob[0].session_id
    assert view.concurrency.live() == 1
    assert view.concurrency.live(region="us-east") == 1


def test_the_ledger_as_of_an_instant_sees_only_what_had_happened():
    events = session_script(player_id="ada", heartbeats=3, end="normal")  # started at T0+2s

    before_start = fold_until(events, T0 + timedelta(seconds=1))
    mid_game = fold_until(events, T0 + timedelta(seconds=15))
    afterwards = fold_until(events, T0 + timedelta(hours=1))

    sid = events[0].session_id
    assert before_start.sessions[sid].status is SessionStatus.requested
    assert before_start.concurrency.live() == 0
    assert mid_game.sessions[sid].status is SessionStatus.active
    assert mid_game.sessions[sid].heartbeat_count == 1
    assert mid_game.concurrency.live() == 1
    assert mid_game.players["ada"].current_session_id == sid
    assert afterwards.sessions[sid].status is SessionStatus.ended
    assert afterwards.concurrency == Concurrency()


def test_time_travel_needs_an_aware_instant():
    with pytest.raises(NaiveTimestamp):
        fold_until([], datetime(2025, 3, 14, 12, 0))


def test_deliveries_are_counted_by_what_the_fold_did_with_them():
    requested, started, heartbeat = session_script(heartbeats=1, end=None)
    ledger = LedgerFold()

    for event in (requested, heartbeat, heartbeat, requested, started, ops_event("deploy_started")):
        ledger.deliver(event)

    counts = ledger.deliveries
    assert (counts.applied, counts.held, counts.duplicate, counts.ignored) == (3, 1, 2, 1)


def test_a_session_timeline_shows_the_state_after_each_delivery():
    requested, started, heartbeat, ended = session_script(heartbeats=1, end="quit")

    timeline = session_timeline([requested, heartbeat, started, ended, ended])

    assert [s.outcome for s in timeline] == ["applied", "held", "applied", "applied", "duplicate"]
    assert [s.after.status for s in timeline] == [
        SessionStatus.requested, SessionStatus.requested, SessionStatus.active,
        SessionStatus.ended, SessionStatus.ended,
    ]
    assert [e.seq for e in timeline[2].applied] == [2, 3]


# --- disconnect windows -------------------------------------------------------------------


def test_a_timestamp_falls_in_the_minute_that_contains_it():
    at = T0 + timedelta(minutes=3, seconds=59, milliseconds=999)

    assert minute_bucket(at) == T0 + timedelta(minutes=3)
    assert minute_bucket(T0) == T0


def test_disconnects_are_counted_per_region_and_minute_of_occurrence():
    def disconnect(region, seconds):
        return session_event("disconnected", region=region,
                             occurred_at=T0 + timedelta(seconds=seconds))

    counts = count_disconnects([
        disconnect("eu-west", 5), disconnect("eu-west", 59), disconnect("eu-west", 61),
        disconnect("us-east", 10), session_event("heartbeat", region="eu-west"),
    ])

    assert counts == {
        WindowKey("eu-west", T0): 2,
        WindowKey("eu-west", T0 + timedelta(minutes=1)): 1,
        WindowKey("us-east", T0): 1,
    }
    assert spikes(counts, threshold=2) == [(WindowKey("eu-west", T0), 2)]


def test_the_ledger_counts_only_disconnects_it_applied():
    events = session_script(heartbeats=0, disconnect_and_reconnect=True, end=None)
    disconnected = events[2]

    view = fold_all([*events, disconnected, disconnected])

    assert view.disconnects == {WindowKey("eu-west", minute_bucket(disconnected.occurred_at)): 1}


def test_a_disconnect_the_state_machine_rejects_is_not_counted():
    requested, started, disconnected = [
        session_event(kind, session_id=SESSION, seq=seq, occurred_at=T0 + timedelta(seconds=seq))
        for seq, kind in enumerate(("requested", "started", "disconnected"), start=1)
    ]
    twice = session_event("disconnected", session_id=SESSION, seq=4, occurred_at=T0)

    view = fold_all([requested, started, disconnected, twice])

    assert view.sessions[SESSION].anomaly_count == 1
    assert view.disconnects == {WindowKey("eu-west", T0): 1}


def test_a_window_reports_a_spike_once_when_it_reaches_the_threshold():
    crossings = [crossed_threshold(n, n + 1, threshold=3) for n in range(6)]

    assert crossings == [False, False, True, False, False, False]


def test_a_spike_becomes_one_anomaly_event_per_window():
    key = WindowKey("eu-west", T0 + timedelta(minutes=2))

    first = spike_anomaly_fields(key, 120, 50, T0 + timedelta(minutes=3), "ledger-worker")
    again = spike_anomaly_fields(key, 121, 50, T0 + timedelta(minutes=9), "ledger-worker")
    event = OpsEvent.model_validate(first)

    assert first["event_id"] == again["event_id"]
    assert event.payload.kind == "disconnect_spike"
    assert (event.payload.region, event.payload.window_start) == ("eu-west", key.window_start)
    assert (event.payload.count, event.payload.threshold) == (120, 50)
