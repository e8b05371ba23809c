"""The worker against the real broker: scripted sessions in, exact state out over HTTP.

One worker process serves the stories of this module; each story uses its own sessions,
players and region, so the stories do not see each other's state.
"""
from __future__ import annotations

import os
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from kafka import KafkaProducer

from ledger.child import wait_until
from ledger.stack import free_port
from ledger.worker_process import WorkerProcess
from projections.fold import fold_all
from schemas.codec import MARKER, decode, encode
from streams.fold.rebuild import rebuild_projections
from streams.fold.render import concurrency_document, player_document, session_document
from streams.kafka.deadletters.letter import read_headers, read_letter
from tests.support.factories import invalid_avro_heartbeat, session_event, session_script
from tests.support.kafka import read_all
from tests.support.ledger_settings import settings_with_own_topics

pytestmark = pytest.mark.kafka

HEARTBEAT_TIMEOUT_S = 45


@pytest.fixture(scope="module")
def ledger_settings(kafka_broker, tmp_path_factory):
    return settings_with_own_topics(kafka_broker.bootstrap, tmp_path_factory.mktemp("worker") / "state", "worker")


@pytest.fixture(scope="module")
def worker(ledger_settings):
    process = WorkerProcess(
        ledger_settings, web_port=free_port(), heartbeat_timeout_s=HEARTBEAT_TIMEOUT_S,
        timeout_check_interval_s=1.0, spike_threshold=3,
    ).start()
    try:
        process.wait_ready(timeout_s=120)
        yield process
    finally:
        process.kill()


@pytest.fixture(scope="module")
def producer(ledger_settings):
    producer = KafkaProducer(bootstrap_servers=ledger_settings.bootstrap_servers, acks="all")
    yield producer
    producer.close()


def emit(producer, topic, events):
    for event in events:
        producer.send(topic, key=event.session_id.encode(), value=encode(event))
    producer.flush()




def served(worker, kind, key):
    status, body = worker.get(f"/{kind}/{key}")
    return body if status == 200 else None


def test_scripted_sessions_are_served_exactly_as_the_fold_says(worker, producer, ledger_settings):
    now = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=20)
    region = f"r-{uuid.uuid4().hex[:6]}"
    alice, bob = f"alice-{uuid.uuid4().hex[:6]}", f"bob-{uuid.uuid4().hex[:6]}"
    stories = [
        session_script(player_id=alice, start=now, heartbeats=2, end="normal", region=region),
        session_script(player_id=alice, start=now + timedelta(seconds=1), heartbeats=1, end=None,
                       migrate=True, region=region, platform="xbox"),
        session_script(player_id=bob, start=now, heartbeats=1, end=None, region=region,
                       platform="ios", cross_play=False, disconnect_and_reconnect=True),
        session_script(player_id=bob, start=now, heartbeats=0, end="quit", region=region),
    ]
    left_disconnected = session_script(player_id=bob, start=now, heartbeats=1, end=None, region=region)
    left_disconnected.append(session_event(
        "disconnected", session_id=left_disconnected[0].session_id, seq=len(left_disconnected) + 1,
        occurred_at=now + timedelta(seconds=15), player_id=bob, region=region))
    stories.append(left_disconnected)
    events = [e for story in stories for e in story]
    emit(producer, ledger_settings.session_topic, events)
    emit(producer, ledger_settings.session_topic, stories[0][:3])  # delivered twice

    expected = fold_all(events)
    for session_id, state in expected.sessions.items():
        wanted = session_document(state)
        wait_until(lambda: served(worker, "sessions", session_id) == wanted, timeout_s=30,
                   what=f"session {session_id} served as folded")
    for player_id, player in expected.players.items():
        wanted = player_document(player)
        wait_until(lambda: served(worker, "players", player_id) == wanted, timeout_s=30,
                   what=f"player {player_id} served as folded")
    status, live = worker.get(f"/live/concurrency?region={region}")
    assert status == 200 and live["complete"]
    assert live == {
        **concurrency_document(expected.concurrency, region=region, platform=None, cross_play=None),
        "partitions": [0, 1, 2], "complete": True,
    }
    assert (live["live"], live["active"], live["disconnected"]) == (3, 2, 1)
    status, ios = worker.get(f"/live/concurrency?region={region}&platform=ios&cross_play=false")
    assert (ios["live"], ios["active"]) == (1, 1)

    rebuilt = rebuild_projections(ledger_settings).to_dict()
    for session_id in expected.sessions:
        assert rebuilt["sessions"][session_id] == served(worker, "sessions", session_id)
    for player_id in expected.players:
        assert rebuilt["players"][player_id] == served(worker, "players", player_id)


def test_unknown_ids_and_bad_filters_get_json_errors(worker):
    status, body = worker.get(f"/sessions/{uuid.uuid4()}")
    assert status == 404 and body["error"] == "not_found"
    status, body = worker.get("/players/nobody-at-all")
    assert status == 404 and "nobody-at-all" in body["message"]
    status, body = worker.get("/live/concurrency?platform=gameboy")
    assert status == 400 and "platform" in body["message"]
    status, body = worker.get("/live/concurrency?cross_play=maybe")
    assert status == 400 and body["error"] == "bad_query"


def test_poison_messages_go_to_the_dead_letter_topic_and_folding_goes_on(worker, producer, ledger_settings):
    poison = {
        "bad_marker": os.urandom(40),
        "unknown_fingerprint": MARKER + bytes(8) + encode(session_event("heartbeat"))[10:],
        "invalid_event": invalid_avro_heartbeat(),
        "truncated": None,  # a tombstone: no value at all
    }
    topic = ledger_settings.session_topic
    for reason, value in poison.items():
        producer.send(topic, key=reason.encode(), value=value)
    after = session_script(player_id=f"carol-{uuid.uuid4().hex[:6]}", heartbeats=1, end="normal")
    emit(producer, topic, after)

    wanted = session_document(fold_all(after).sessions[after[0].session_id])
    wait_until(lambda: served(worker, "sessions", after[0].session_id) == wanted, timeout_s=30,
               what="the session after the poison folded")
    def dead_letters():
        records = read_all(ledger_settings.bootstrap_servers, ledger_settings.dead_letter_topic)
        return [r for r in records if r.key and r.key.decode() in poison]

    letters = wait_until(lambda: len(dead_letters()) == len(poison) and dead_letters(), timeout_s=20,
                         what="a dead letter for each poison message")
    for letter in letters:
        sent_as = letter.key.decode()
        headers = read_headers(letter.headers)
        assert read_letter(letter.key, letter.value, letter.headers).value == poison[sent_as]  # a null stays null
        assert headers["reason"] == sent_as
        assert headers["source_topic"] == topic
        assert int(headers["source_partition"]) in (0, 1, 2)
        assert int(headers["source_offset"]) >= 0
        assert headers["error_class"] in ("BadMarker", "UnknownFingerprint", "InvalidEvent", "TruncatedMessage")
    status, metrics = worker.get("/metrics")
    assert 'ledger_dead_lettered_total{reason="invalid_event"}' in metrics


def test_a_silent_session_gets_a_timed_out_event_appended_to_the_log(worker, producer, ledger_settings):
    long_ago = datetime.now(timezone.utc) - timedelta(seconds=HEARTBEAT_TIMEOUT_S * 3)
    silent = session_script(player_id=f"dave-{uuid.uuid4().hex[:6]}", start=long_ago,
                            heartbeats=0, end=None)
    emit(producer, ledger_settings.session_topic, silent)
    session_id = silent[0].session_id

    document = wait_until(
        lambda: (d := served(worker, "sessions", session_id)) and d["status"] == "timed_out" and d,
        timeout_s=30, what="the silent session timed out")
    assert document["last_seq"] == len(silent)  # the verdict takes no producer seq
    appended = [decode(r.value) for r in read_all(ledger_settings.bootstrap_servers, ledger_settings.session_topic)
                if r.key == session_id.encode()]
    timed_out = [e for e in appended if e.event_type == "timed_out"]
    assert len(timed_out) == 1
    assert timed_out[0].producer == "ledger-worker"
    assert timed_out[0].seq == 0
    assert timed_out[0].occurred_at == silent[-1].occurred_at + timedelta(seconds=HEARTBEAT_TIMEOUT_S)
    assert timed_out[0].payload.timeout_s == HEARTBEAT_TIMEOUT_S
    assert timed_out[0].payload.last_heartbeat_at == silent[-1].occurred_at


def test_a_minute_with_too_many_disconnects_in_a_region_is_reported_once(worker, producer, ledger_settings):
    region = f"spike-{uuid.uuid4().hex[:6]}"
    minute = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(minutes=5)
    events = []
    for n in range(4):  # threshold is 3: the third disconnect makes the spike, the fourth adds to it
        story = session_script(player_id=f"p-{n}", start=minute, heartbeats=0, end=None, region=region,
                               queue=timedelta(seconds=1))
        story.append(session_event("disconnected", session_id=story[0].session_id, seq=3,
                                   occurred_at=minute + timedelta(seconds=10 + n), region=region,
                                   player_id=f"p-{n}"))
        events += story
    emit(producer, ledger_settings.session_topic, events)

    def anomalies():
        found = [decode(r.value) for r in read_all(ledger_settings.bootstrap_servers, ledger_settings.ops_topic)]
        return [e for e in found if e.payload.region == region]

    reported = wait_until(anomalies, timeout_s=30, what="a disconnect spike reported")
    wait_until(lambda: served(worker, "sessions", events[-1].session_id), timeout_s=30,
               what="the last disconnect folded")
    reported = anomalies()
    assert len(reported) == 1
    spike = reported[0]
    assert spike.event_type == "anomaly_detected" and spike.producer == "ledger-worker"
    assert spike.payload.kind == "disconnect_spike"
    assert spike.payload.window_start == minute
    assert (spike.payload.count, spike.payload.threshold) == (3, 3)


def test_finished_sessions_leave_the_live_table_after_the_retention_and_stay_gone(
        kafka_broker, tmp_path):
    settings = settings_with_own_topics(kafka_broker.bootstrap, tmp_path / "state", "retention")
    now = datetime.now(timezone.utc)
    finished = [session_script(player_id=f"erin-{n}", start=now, heartbeats=1, end=end)
                for n, end in enumerate(("normal", "quit", "timed_out"))]
    playing = [session_script(player_id=f"frank-{n}", start=now, heartbeats=1, end=None) for n in range(2)]
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    worker = WorkerProcess(settings, web_port=free_port(), heartbeat_timeout_s=HEARTBEAT_TIMEOUT_S,
                           finished_retention_s=3)
    try:
        worker.start().wait_ready(timeout_s=120)
        emit(producer, settings.session_topic, [e for story in finished + playing for e in story])
        for story in finished + playing:
            wait_until(lambda: served(worker, "sessions", story[0].session_id), timeout_s=30,
                       what="every session folded")

        for story in finished:
            wait_until(lambda: worker.get(f"/sessions/{story[0].session_id}")[0] == 404, timeout_s=30,
                       what="the finished session removed")
        assert all(served(worker, "sessions", story[0].session_id) for story in playing)
        assert 'ledger_sessions_evicted_total 3.0' in worker.get("/metrics")[1]
        gone = finished[0][0].session_id
        assert f"ledger replay session {gone}" in worker.get(f"/sessions/{gone}")[1]["message"]
        expected_players = fold_all([e for story in finished + playing for e in story]).players
        for player_id, player in expected_players.items():
            assert served(worker, "players", player_id) == player_document(player)

        worker.kill()
        worker.start().wait_ready(timeout_s=120)  # recovers the table from its changelog
        for story in playing:
            assert served(worker, "sessions", story[0].session_id)["status"] != "ended"
        for story in finished:
            assert worker.get(f"/sessions/{story[0].session_id}")[0] == 404
    finally:
        worker.kill()
        producer.close()
