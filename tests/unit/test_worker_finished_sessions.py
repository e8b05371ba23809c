"""The finished sessions the worker indexes beside its live counters, for their removal."""
from __future__ import annotations

import uuid

from streams.worker.counters import PartitionCounters
from tests.factories import session_script
from tests.unit.test_worker_open_sessions import fold_into

RETENTION_S = 100.0


def sid(name):
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, name))


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
