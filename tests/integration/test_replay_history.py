"""Replaying the ClickHouse history: what a reviewer sees equals what the fold saw live."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from analytics.replay import (
    BadWindow, EmptyWindow, IncidentNotFound, Window, iter_session_events, ledger_as_of,
    replay_incident, replay_session, replay_window, session_events_of,
)
from analytics.rows import write_events
from projections import fold_until
from tests.support.factories import T0
from tests.support.stories import incident_story


@pytest.fixture
def history(warehouse):
    dropped, lost, calm, ops = incident_story()
    write_events(warehouse, [*dropped, *lost, *calm, *ops])
    return warehouse, dropped, lost, calm, ops


def test_a_session_replays_with_the_state_after_each_event(history):
    warehouse, dropped, *_ = history
    session_id = dropped[0].session_id

    replay = replay_session(session_id, session_events_of(warehouse, session_id), "history")

    assert [line.event_type for line in replay.lines] == [e.event_type.value for e in dropped]
    assert [line.status for line in replay.lines] == [
        "requested", "active", *["active"] * 6, "disconnected", "active", "ended"]
    assert [line.last_seq for line in replay.lines] == list(range(1, len(dropped) + 1))
    assert replay.final.downtime_ms == 40_000
    assert replay.lines[1].server_id == "gs-eu-1"


def test_a_session_replayed_as_of_an_instant_stops_there(history):
    warehouse, dropped, *_ = history
    disconnect = next(e for e in dropped if e.event_type == "disconnected")

    replay = replay_session(dropped[0].session_id, session_events_of(warehouse, dropped[0].session_id),
                            "history", at=disconnect.occurred_at)

    assert replay.final.status == "disconnected"
    assert replay.lines[-1].seq == disconnect.seq


def test_streaming_in_small_chunks_gives_every_event_once_in_replay_order(history):
    warehouse, dropped, lost, calm, _ = history
    everything = [*dropped, *lost, *calm]
    window = Window(T0, T0 + timedelta(hours=1))

    streamed = list(iter_session_events(warehouse, window, chunk=3))

    assert sorted(streamed, key=lambda e: e.event_id) == sorted(everything, key=lambda e: e.event_id)
    keys = [(e.occurred_at, e.session_id, e.seq) for e in streamed]
    assert keys == sorted(keys)


def test_the_ledger_as_of_any_instant_equals_the_live_fold_of_that_prefix(history):
    warehouse, dropped, lost, calm, _ = history
    live_log = sorted([*dropped, *lost, *calm], key=lambda e: (e.occurred_at, e.session_id, e.seq))

    for minutes in (0, 1, 1.5, 2.5, 3, 4, 10):
        at = T0 + timedelta(minutes=minutes)
        live = fold_until(live_log, at)

        replayed = ledger_as_of(warehouse, at, chunk=4).view

        assert dict(replayed.sessions) == dict(live.sessions), at
        assert dict(replayed.players) == dict(live.players), at
        assert replayed.concurrency == live.concurrency, at
        assert dict(replayed.disconnects) == dict(live.disconnects), at


def test_the_ledger_as_of_mid_incident_counts_who_was_live(history):
    warehouse, dropped, *_ = history
    disconnect = next(e for e in dropped if e.event_type == "disconnected")

    summary = ledger_as_of(warehouse, disconnect.occurred_at).summary()

    assert summary["sessions"]["count"] == 3
    assert summary["live"] == 3
    eu = next(c for c in summary["concurrency"] if c["region"] == "eu-west")
    assert (eu["active"], eu["disconnected"]) == (1, 1)


def test_an_incident_replays_its_phases_disruptions_and_impact(history):
    warehouse, dropped, lost, calm, ops = history

    replay = replay_incident(warehouse, "INC-7")

    assert list(replay.phases) == ["opened", "acknowledged", "mitigated", "resolved"]
    assert [e.what for e in replay.entries if e.kind == "ops"] == [
        "incident_opened", "incident_acknowledged", "incident_mitigated", "incident_resolved"]
    assert {(s["player_id"], s["region"]) for s in replay.sessions_affected} == {
        ("p-drop", "eu-west"), ("p-lost", "eu-west")}
    assert {m["region"] for m in replay.minutes} == {"eu-west"}
    assert sum(m["disconnects"] for m in replay.minutes) == 1
    assert sum(m["timeouts"] for m in replay.minutes) == 1
    assert sum(row["sessions_disrupted"] for row in replay.impact) == 2


def test_a_window_interleaves_ops_events_with_minutes_in_time_order(history):
    warehouse, *_ = history

    replay = replay_window(warehouse, T0, T0 + timedelta(minutes=10))

    times = [entry.at for entry in replay.entries]
    assert times == sorted(times)
    kinds = [entry.kind for entry in replay.entries]
    assert "ops" in kinds and "minute" in kinds
    assert {row["region"] for row in replay.lifecycle_events} == {"eu-west", "us-east"}


def test_a_window_of_one_region_leaves_the_others_out(history):
    warehouse, *_ = history

    replay = replay_window(warehouse, T0, T0 + timedelta(minutes=10), region="us-east")

    assert {row["region"] for row in replay.lifecycle_events} == {"us-east"}
    assert replay.sessions_affected == ()


def test_bad_questions_are_refused_and_empty_answers_said(history):
    warehouse, *_ = history

    with pytest.raises(BadWindow, match="must be before"):
        replay_window(warehouse, T0 + timedelta(minutes=5), T0)
    with pytest.raises(EmptyWindow, match="no events between"):
        replay_window(warehouse, T0 + timedelta(days=3), T0 + timedelta(days=4))
    with pytest.raises(IncidentNotFound, match="INC-404"):
        replay_incident(warehouse, "INC-404")
    assert session_events_of(warehouse, str(uuid.uuid4())) == []
