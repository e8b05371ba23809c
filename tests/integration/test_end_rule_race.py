"""The race of a late `ended` with the worker's timeout, on the real broker: live state, rebuild,
replay and the warehouse's summary end the session the same way (the end rule).

Story: a session is requested, starts, sends one heartbeat and goes quiet. The worker, with a
5 s heartbeat timeout, appends its timed_out verdict. Then the game server's `ended` arrives
(spooled through an outage): seq 4, as the emitter numbered it, and occurred before the verdict.
"""
from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from kafka import KafkaProducer

from analytics.replay.history import session_events_of
from analytics.replay.session_timeline import replay_session
from ledger.child import wait_until
from ledger.stack import free_port
from ledger.worker_process import WorkerProcess
from schemas.codec import encode
from streams.fold.rebuild import rebuild_projections
from streams.fold.render import session_document
from streams.sink.consumer import HistorySink
from tests.support.factories import session_event

pytestmark = pytest.mark.kafka

TIMEOUT_S = 5


@pytest.fixture
def worker(test_settings):
    process = WorkerProcess(test_settings, web_port=free_port(), heartbeat_timeout_s=TIMEOUT_S,
                            timeout_check_interval_s=0.5).start()
    try:
        process.wait_ready(timeout_s=120)
        yield process
    finally:
        process.kill()


def _send(settings, events):
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    for event in events:
        producer.send(settings.session_topic, key=event.session_id.encode(), value=encode(event))
    producer.flush()
    producer.close()


def _served(worker, session_id):
    status, body = worker.get(f"/sessions/{session_id}")
    return body if status == 200 else None


def _quiet_session(start):
    session_id = str(uuid.uuid4())
    player = f"racer-{uuid.uuid4().hex[:6]}"
    events = [session_event(kind, session_id=session_id, player_id=player, seq=seq,
                            occurred_at=start + timedelta(seconds=seq - 1), producer="gameserver")
              for seq, kind in enumerate(("requested", "started", "heartbeat"), start=1)]
    return session_id, player, events


def _history(settings, warehouse, rows):
    sink = HistorySink.from_settings(settings, warehouse, group_id=f"race-{uuid.uuid4().hex[:6]}",
                                     batch_max_events=100, batch_max_wait_s=0.2)
    deadline = time.monotonic() + 60
    while sink.stats.rows < rows and time.monotonic() < deadline:
        sink.poll_once()
    sink.flush()
    sink.close()
    assert sink.stats.rows >= rows, f"the sink wrote {sink.stats.rows} of {rows} rows"


@pytest.mark.parametrize(("ended_after_s", "status", "end_reason"), [
    (-2, "ended", "normal"),      # ended before the verdict's instant: it overrules the timeout
    (+2, "timed_out", "timed_out"),  # ended after it: the verdict stands, the end is late
])
def test_a_late_ended_and_the_timeout_verdict_give_one_truth_everywhere(
        worker, test_settings, warehouse, ended_after_s, status, end_reason):
    start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=1)
    session_id, player, events = _quiet_session(start)
    _send(test_settings, events)

    timed_out = wait_until(lambda: (d := _served(worker, session_id)) and d["status"] == "timed_out" and d,
                           timeout_s=30, what="the worker's timeout verdict")
    verdict_at = datetime.fromisoformat(timed_out["timeout_verdict"]["at"].replace("Z", "+00:00"))
    assert verdict_at == events[-1].occurred_at + timedelta(seconds=TIMEOUT_S)
    assert timed_out["last_seq"] == 3  # the verdict took no producer seq

    ended = session_event("ended", session_id=session_id, player_id=player, seq=4, reason="normal",
                          occurred_at=verdict_at + timedelta(seconds=ended_after_s),
                          producer="gameserver")
    _send(test_settings, [ended])

    live = wait_until(lambda: (d := _served(worker, session_id)) and d["last_seq"] == 4 and d,
                      timeout_s=30, what="the late ended folded")
    assert (live["status"], live["end_reason"]) == (status, end_reason)
    assert (live["late_end"] is not None) == (status == "timed_out")

    rebuilt = rebuild_projections(test_settings).to_dict()["sessions"][session_id]
    assert rebuilt == live

    _history(test_settings, warehouse, rows=5)
    replayed = replay_session(session_id, session_events_of(warehouse, session_id), "history")
    assert session_document(replayed.final) == live
    [summary] = warehouse.query(
        "SELECT status, end_reason, ended_at FROM session_summary WHERE session_id = {id:String}",
        {"id": session_id})
    assert (summary["status"], summary["end_reason"]) == (status, end_reason)
    expected_end = ended.occurred_at if status == "ended" else verdict_at
    assert summary["ended_at"] == expected_end
    assert live["ended_at"] == expected_end.isoformat().replace("+00:00", "Z")
