"""The sessions the worker indexes beside its live counters: open ones for the timeout check,
finished ones for their removal after the retention."""

from __future__ import annotations

import uuid
from datetime import timedelta

from projections.live_index import PartitionCounters
from projections.session_state import step
from tests.support.factories import T0, session_script


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


# --- finished sessions -------------------------------------------------------------------------

RETENTION_S = 100.0


def test_a_finished_session_is_due_one_retention_after_the_sweep_that_saw_it_finish():
    counters = PartitionCounters()
    fold_into(counters, 0, session_script(sid("done"), heartbeats=1, end="normal"))
    fold_into(counters, 0, session_script(sid("playing"), heartbeats=1, end=None))

    assert counters.sweep_finished(1000.0, RETENTION_S) == {}  # seen finished in this sweep
    assert counters.sweep_finished(1099.0, RETENTION_S) == {}
    assert counters.sweep_finished(1100.0, RETENTION_S) == {0: {sid("done")}}
    assert counters.sweep_finished(1300.0, RETENTION_S) == {}  # due once only
    assert counters.finished_sessions() == 0


def test_each_sweep_keeps_what_finished_since_the_one_before():
    counters = PartitionCounters()
    fold_into(counters, 1, session_script(sid("first"), heartbeats=0, end="quit"))
    counters.sweep_finished(0.0, RETENTION_S)
    fold_into(counters, 2, session_script(sid("second"), heartbeats=0, end="normal"))
    counters.sweep_finished(50.0, RETENTION_S)

    assert counters.finished_sessions() == 2
    assert counters.sweep_finished(120.0, RETENTION_S) == {1: {sid("first")}}
    assert counters.sweep_finished(150.0, RETENTION_S) == {2: {sid("second")}}


def test_a_repeat_of_the_last_event_does_not_count_a_session_finished_twice():
    counters = PartitionCounters()
    events = session_script(sid("done"), heartbeats=1, end="normal")
    fold_into(counters, 0, events + events[-1:])

    counters.sweep_finished(0.0, RETENTION_S)
    assert counters.sweep_finished(200.0, RETENTION_S) == {0: {sid("done")}}


def test_a_partition_recovered_or_revoked_starts_its_finished_sessions_over():
    counters = PartitionCounters()
    states = fold_into(counters, 0, session_script(sid("done"), heartbeats=0, end="normal"))
    fold_into(counters, 1, session_script(sid("elsewhere"), heartbeats=0, end="normal"))
    counters.sweep_finished(0.0, RETENTION_S)

    counters.reset(0, states.values())  # the records read again at recovery
    counters.drop([1])

    assert counters.sweep_finished(100.0, RETENTION_S) == {}
    assert counters.sweep_finished(200.0, RETENTION_S) == {0: {sid("done")}}


def test_finished_sessions_kept_for_ever_are_not_indexed():
    counters = PartitionCounters(track_finished=False)
    states = fold_into(counters, 0, session_script(sid("done"), heartbeats=0, end="normal"))
    counters.reset(1, states.values())

    assert counters.finished_sessions() == 0
    assert counters.sweep_finished(1e9, RETENTION_S) == {}


def test_a_record_known_only_from_a_late_event_is_swept_like_a_finished_one():
    counters = PartitionCounters()
    late = session_script(sid("evicted-long-ago"), heartbeats=2, end="normal")[-1]  # seq 5 alone
    states = fold_into(counters, 0, [late])
    assert states[sid("evicted-long-ago")].status.value == "new"

    assert counters.sweep_finished(now=0.0, retention_s=60) == {}
    assert counters.sweep_finished(now=60.0, retention_s=60) == {0: {sid("evicted-long-ago")}}


def test_a_record_that_opens_before_the_sweep_is_kept():
    counters = PartitionCounters()
    events = session_script(sid("seq-one-was-late"), heartbeats=1, end=None)
    states = fold_into(counters, 0, events[1:])  # held behind the missing seq 1
    counters.sweep_finished(now=0.0, retention_s=60)
    fold_into(counters, 0, events[:1])  # the gap fills: the session opens

    assert counters.sweep_finished(now=60.0, retention_s=60) == {0: set()}
    assert states[sid("seq-one-was-late")].status.value == "new"
