"""The open sessions the worker indexes beside its live counters, for the timeout check."""

from __future__ import annotations

import uuid
from datetime import timedelta

from projections.session_state import step
from streams.worker.counters import PartitionCounters
from tests.factories import T0, session_script


def sid(name):
    """A session id (ids are UUIDs) that reads as ``name`` in the test."""
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, name))


def fold_into(counters, partition, events):
    """Fold ``events`` in order, moving ``counters`` as the worker's session fold does."""
    states = {}
    for event in events:
        result = step(states.get(event.session_id), event)
        if result.after is not result.before:
            counters.move(partition, result.before, result.after)
        states[event.session_id] = result.after
    return states


def test_only_sessions_silent_past_the_cutoff_are_named():
    counters = PartitionCounters()
    quiet = session_script(sid("quiet"), heartbeats=1, end=None, start=T0)
    busy = session_script(sid("busy"), heartbeats=1, end=None, start=T0 + timedelta(minutes=5))
    fold_into(counters, 0, quiet + busy)
    last_quiet = quiet[-1].occurred_at

    assert list(counters.silent_since([0], last_quiet)) == [sid("quiet")]
    assert list(counters.silent_since([0], last_quiet - timedelta(seconds=1))) == []
    assert sorted(counters.silent_since([0], busy[-1].occurred_at)) == sorted([sid("busy"), sid("quiet")])


def test_a_finished_session_leaves_the_index():
    counters = PartitionCounters()
    ended = session_script(sid("ended"), heartbeats=1, end="normal")
    timed_out = session_script(sid("timed-out"), heartbeats=1, end="timed_out")
    fold_into(counters, 0, ended + timed_out)

    assert counters.open_sessions() == 0
    assert list(counters.silent_since([0], T0 + timedelta(days=1))) == []


def test_a_session_held_behind_a_gap_counts_its_held_event_as_a_sign_of_life():
    counters = PartitionCounters()
    events = session_script(sid("gappy"), heartbeats=3, end=None)
    fold_into(counters, 0, events[:2] + events[3:])  # the first heartbeat never arrives

    held_at = events[-1].occurred_at
    assert list(counters.silent_since([0], held_at - timedelta(seconds=1))) == []
    assert list(counters.silent_since([0], held_at)) == [sid("gappy")]


def test_reset_rebuilds_a_partition_and_drop_forgets_it():
    counters = PartitionCounters()
    states = fold_into(PartitionCounters(), 3, session_script(sid("a"), end=None)
                       + session_script(sid("b"), end="normal"))
    counters.reset(3, states.values())
    counters.reset(4, fold_into(PartitionCounters(), 4, session_script(sid("c"), end=None)).values())
    far = T0 + timedelta(days=1)

    assert list(counters.silent_since([3], far)) == [sid("a")]
    assert sorted(counters.silent_since([3, 4], far)) == sorted([sid("a"), sid("c")])
    counters.drop([3])
    assert list(counters.silent_since([3, 4], far)) == [sid("c")]
    assert counters.open_sessions() == 1
