"""Closing the holes deleted heartbeats leave in a session older than the heartbeat TTL."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from analytics.replay import replay_session
from analytics.replay.heartbeat_ttl import NEVER, close_heartbeat_gaps, heartbeat_ttl_days
from tests.support.factories import T0, session_script

AFTER = T0 + timedelta(days=1)
"""A cutoff after every event of the scripts below: they are older than the TTL."""


def without_heartbeats(events):
    return [e for e in events if e.event_type.value != "heartbeat"]


@pytest.mark.parametrize("clause, days", [
    ("toDateTime(occurred_at) + toIntervalDay(30) WHERE event_type = 'heartbeat', "
     "toDateTime(occurred_at) + toIntervalDay(1095)", 30),
    ("toDateTime(occurred_at) + INTERVAL 7 DAY DELETE WHERE event_type = 'heartbeat'", 7),
    ("toDateTime(occurred_at) + toIntervalDay(1095)", None),
    (None, None),
])
def test_the_heartbeat_rule_is_read_from_the_clause_the_engine_shows(clause, days):
    assert heartbeat_ttl_days(clause) == days


def test_an_old_session_is_renumbered_from_its_first_seq_and_maps_back_to_the_stored_seqs():
    events = without_heartbeats(session_script(heartbeats=3, disconnect_and_reconnect=True))

    closed, stored = close_heartbeat_gaps(events, AFTER)

    assert [e.seq for e in events] == [1, 2, 6, 7, 8]
    assert [e.seq for e in closed] == [1, 2, 3, 4, 5]
    assert [e.event_id for e in closed] == [e.event_id for e in events]
    assert stored == {3: 6, 4: 7, 5: 8}


def test_a_session_with_no_event_before_the_cutoff_keeps_its_gaps():
    events = without_heartbeats(session_script(heartbeats=3))

    assert close_heartbeat_gaps(events, T0) == (events, {})
    assert close_heartbeat_gaps(events, NEVER) == (events, {})


def test_a_missing_first_seq_stays_a_gap_and_a_seq_stored_twice_stays_a_duplicate():
    events = without_heartbeats(session_script(heartbeats=2))[1:]  # requested (seq 1) lost
    twice = events[-1].model_copy(update={"event_id": str(uuid.uuid4())})

    closed, _ = close_heartbeat_gaps([*events, twice], AFTER)

    assert [e.seq for e in closed] == [2, 3, 3]


def test_verdicts_keep_their_seq():
    events = without_heartbeats(session_script(heartbeats=4, end="timed_out"))

    closed, _ = close_heartbeat_gaps(events, AFTER)

    assert [(e.event_type.value, e.seq) for e in closed] == [("requested", 1), ("started", 2), ("timed_out", 0)]


def test_an_old_timeline_ends_where_the_session_ended_and_shows_the_stored_seqs():
    events = without_heartbeats(session_script(heartbeats=3, disconnect_and_reconnect=True, end="error"))

    replayed = replay_session(events[0].session_id, events, "history", heartbeats_before=AFTER)
    held = replay_session(events[0].session_id, events, "history")

    assert [line.seq for line in replayed.lines] == [e.seq for e in events]
    assert [line.outcome for line in replayed.lines] == ["applied"] * len(events)
    assert replayed.final.status.value == "ended" and replayed.final.end_reason == "error"
    assert replayed.final.last_seq == events[-1].seq == replayed.lines[-1].last_seq
    assert held.final.status.value == "active"  # held behind the first hole
