"""The worker killed with SIGKILL: its state comes back from the changelogs, nothing counted twice,
and a second worker takes over the partitions of one that died."""
from __future__ import annotations

import random
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from kafka import KafkaProducer

from ledger.child import wait_until
from ledger.stack import free_port
from ledger.worker_process import WorkerProcess
from projections.fold import fold_all
from schemas.codec import encode
from streams.fold.render import concurrency_document, player_document, session_document
from tests.support.factories import session_script

pytestmark = [pytest.mark.kafka, pytest.mark.faults]

QUIET_S = 3600  # no session of these stories times out while they run


def stories(sessions: int, *, seed: int):
    """Interleaved events of ``sessions`` sessions over a few players, regions and platforms."""
    rng = random.Random(seed)
    now = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=60)
    tag = uuid.uuid4().hex[:6]
    scripts = [
        session_script(
            player_id=f"player-{tag}-{n % 12}", start=now + timedelta(seconds=n % 7),
            heartbeats=rng.randint(0, 6), end=rng.choice(["normal", "quit", None, None]),
            disconnect_and_reconnect=rng.random() < 0.3, migrate=rng.random() < 0.2,
            region=rng.choice(["eu-west", "us-east", "ap-northeast"]),
            platform=rng.choice(["pc", "playstation", "ios"]), cross_play=rng.random() < 0.5,
        )
        for n in range(sessions)
    ]
    events, cursors = [], [0] * len(scripts)
    while any(c < len(s) for c, s in zip(cursors, scripts)):
        i = rng.choice([i for i, s in enumerate(scripts) if cursors[i] < len(s)])
        events.append(scripts[i][cursors[i]])
        cursors[i] += 1
    return events


def emit(producer, topic, events, *, per_second: float | None = None):
    start = time.monotonic()
    for n, event in enumerate(events):
        producer.send(topic, key=event.session_id.encode(), value=encode(event))
        if per_second and n % 50 == 0:
            producer.flush()
            time.sleep(max(0.0, start + n / per_second - time.monotonic()))
    producer.flush()


def folded(worker, outcome: str = "applied") -> float:
    """Deliveries the worker process folded with ``outcome`` (applied, duplicate, ...) so far."""
    status, text = worker.get("/metrics")
    if status != 200:
        return 0.0
    for line in text.splitlines():
        if line.startswith(f'ledger_events_folded_total{{outcome="{outcome}"}}'):
            return float(line.split()[-1])
    return 0.0


def assert_serves(worker, events, *, timeout_s: float = 60.0):
    """Every session, player and region the worker serves is what folding ``events`` gives."""
    expected = fold_all(events)

    def matches(kind, key, wanted):
        status, body = worker.get(f"/{kind}/{key}")
        return status == 200 and body == wanted

    for session_id, state in expected.sessions.items():
        wait_until(lambda: matches("sessions", session_id, session_document(state)),
                   timeout_s=timeout_s, what=f"session {session_id} as folded")
    for player_id, player in expected.players.items():
        wanted = player_document(player)
        wait_until(lambda: matches("players", player_id, wanted), timeout_s=timeout_s,
                   what=f"player {player_id} as folded")
    for region in ("eu-west", "us-east", "ap-northeast"):
        wanted = concurrency_document(expected.concurrency, region=region, platform=None, cross_play=None)

        def counted():
            status, live = worker.get(f"/live/concurrency?region={region}")
            return status == 200 and live["complete"] and {k: live[k] for k in wanted} == wanted

        wait_until(counted, timeout_s=timeout_s, what=f"live sessions in {region} as folded")


@pytest.fixture
def producer(test_settings):
    producer = KafkaProducer(bootstrap_servers=test_settings.bootstrap_servers, acks="all", linger_ms=5)
    yield producer
    producer.close()


def test_a_worker_killed_mid_stream_comes_back_with_every_event_counted_once(test_settings, producer):
    events = stories(120, seed=7)
    worker = WorkerProcess(test_settings, web_port=free_port(), heartbeat_timeout_s=QUIET_S, reservation_timeout_s=QUIET_S)
    try:
        worker.start().wait_ready(timeout_s=120)
        sender = threading.Thread(
            target=emit, args=(producer, test_settings.session_topic, events), kwargs={"per_second": 400})
        sender.start()
        wait_until(lambda: folded(worker) >= len(events) // 4, timeout_s=60, interval_s=0.05,
                   what="a quarter of the events folded")
        folded_before_kill = folded(worker)
        worker.kill()
        killed = time.monotonic()
        sender.join()
        redelivered = events[: len(events) // 2]
        emit(producer, test_settings.session_topic, redelivered)

        worker.start().wait_ready(timeout_s=120)
        ready_s = time.monotonic() - killed
        assert_serves(worker, events)
        expected = fold_all(events)
        print(f"\nworker kill -9: events={len(events)} folded before the kill={folded_before_kill:.0f} "
              f"re-delivered={len(redelivered)} sessions={len(expected.sessions)} "
              f"players={len(expected.players)} mismatched=0 after the restart: applied={folded(worker):.0f} "
              f"recognised as repeats={folded(worker, 'duplicate'):.0f} "
              f"kill to ready={ready_s:.1f}s kill to every key served={time.monotonic() - killed:.1f}s")
    finally:
        worker.kill()


def test_a_worker_restarted_on_an_empty_disk_recovers_every_key_from_the_changelogs(test_settings, producer):
    """Killed, its table files gone (a new machine, a lost volume), restarted: the tables come
    back from the changelogs alone, and the events it had not folded yet are folded once."""
    import shutil

    from streams.fold.options import WorkerOptions

    events = stories(80, seed=19)
    worker = WorkerProcess(test_settings, web_port=free_port(), heartbeat_timeout_s=QUIET_S, reservation_timeout_s=QUIET_S)
    try:
        worker.start().wait_ready(timeout_s=120)
        first_half = events[: len(events) // 2]
        emit(producer, test_settings.session_topic, first_half)
        assert_serves(worker, first_half)  # folded, and its table records in the changelogs
        worker.kill()
        shutil.rmtree(WorkerOptions().datadir(test_settings))
        emit(producer, test_settings.session_topic, events[len(events) // 2:])
        started = time.monotonic()
        worker.start().wait_ready(timeout_s=120)
        assert_serves(worker, events)
        log_text = worker.log_path.read_text()
        assert "Restoring state from changelog topics" in log_text  # recovered, not re-folded
        print(f"\nworker restarted on an empty disk: events={len(events)} "
              f"sessions={len(fold_all(events).sessions)} mismatched=0 "
              f"start to every key served={time.monotonic() - started:.1f}s")
    finally:
        worker.kill()


def test_when_one_of_two_workers_dies_the_other_serves_every_key(test_settings, producer):
    events = stories(60, seed=11)
    first = WorkerProcess(test_settings, web_port=free_port(), worker_id="first", heartbeat_timeout_s=QUIET_S, reservation_timeout_s=QUIET_S)
    second = WorkerProcess(test_settings, web_port=free_port(), worker_id="second", heartbeat_timeout_s=QUIET_S, reservation_timeout_s=QUIET_S)
    try:
        first.start()
        second.start()
        wait_until(
            lambda: (a := first.health()) and (b := second.health()) and a["partitions"] and b["partitions"]
            and set(a["partitions"]) | set(b["partitions"]) == {0, 1, 2},
            timeout_s=120, what="both workers sharing the partitions")
        emit(producer, test_settings.session_topic, events)
        assert_serves(first, events)
        assert_serves(second, events)

        second.kill()
        killed = time.monotonic()
        first.wait_ready(timeout_s=90, partitions={0, 1, 2})
        took_over_s = time.monotonic() - killed
        assert_serves(first, events)
        print(f"\none of two workers killed: events={len(events)} sessions={len(fold_all(events).sessions)} "
              f"mismatched=0 kill to every partition owned={took_over_s:.1f}s "
              f"kill to every key served={time.monotonic() - killed:.1f}s")
    finally:
        first.kill()
        second.kill()


def test_events_flowing_through_rebalances_are_all_folded(test_settings, producer):
    """A second worker joins, leaves and joins again while events flow: each rebalance moves
    partitions between the two mid-stream, and every event still reaches the tables once."""
    events = stories(150, seed=13)
    first = WorkerProcess(test_settings, web_port=free_port(), worker_id="first", heartbeat_timeout_s=QUIET_S, reservation_timeout_s=QUIET_S)
    second = WorkerProcess(test_settings, web_port=free_port(), worker_id="second", heartbeat_timeout_s=QUIET_S, reservation_timeout_s=QUIET_S)
    sender = threading.Thread(target=emit, args=(producer, test_settings.session_topic, events),
                              kwargs={"per_second": 30})
    rebalances = 0
    try:
        first.start().wait_ready(timeout_s=120, partitions={0, 1, 2})
        sender.start()
        for _ in range(2):
            wait_until(lambda: folded(first) > 0, timeout_s=60, what="the first worker folding")
            second.start()
            wait_until(lambda: (h := first.health()) and len(h["partitions"]) < 3, timeout_s=90,
                       what="the second worker taking partitions from the first")
            second.wait_ready(timeout_s=90)
            second.stop(grace_s=30.0)  # leaves the group: the first takes every partition back
            first.wait_ready(timeout_s=90, partitions={0, 1, 2})
            rebalances += 2
        assert sender.is_alive(), "the events ran out before the rebalances were over; emit slower"
        sender.join()
        assert_serves(first, events)
        print(f"\nrebalances while events flow: events={len(events)} rebalances={rebalances} "
              f"sessions={len(fold_all(events).sessions)} mismatched=0 "
              f"applied={folded(first):.0f} repeats={folded(first, 'duplicate'):.0f}")
    finally:
        sender.join()
        first.kill()
        second.kill()


def test_a_worker_that_cannot_send_its_updates_says_it_stalled_and_catches_up_once_it_can(
        test_settings, producer):
    """The worker's player-updates topic refuses every message (a max.message.bytes far too
    small), so each run's updates fail and the run is folded again and again: /health answers
    503 stalled with what waits, /metrics counts the seconds, and the log shows where the fold
    waits. Once the topic takes messages again the retried run goes through and nothing is lost."""
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic

    from streams.fold.options import app_id

    updates_topic = f"{app_id(test_settings)}-player-updates"
    admin = KafkaAdminClient(bootstrap_servers=test_settings.bootstrap_servers)
    admin.create_topics([NewTopic(updates_topic, 3, 1, topic_configs={"max.message.bytes": "100"})])
    events = stories(20, seed=17)
    worker = WorkerProcess(test_settings, web_port=free_port(), heartbeat_timeout_s=QUIET_S, reservation_timeout_s=QUIET_S, stall_after_s=3)
    try:
        worker.start().wait_ready(timeout_s=120)
        emit(producer, test_settings.session_topic, events)

        def stalled():
            status, body = worker.get("/health")
            return body if status == 503 and body["status"] == "stalled" else None

        health = wait_until(stalled, timeout_s=60, what="/health saying stalled")
        assert health["stalled"]["seconds"] >= 3
        assert sum(health["stalled"]["waiting"].values()) > 0
        assert any(name.startswith(f"{test_settings.session_topic}[") for name in health["stalled"]["waiting"])
        status, metrics = worker.get("/metrics")
        stalled_s = next(float(line.split()[-1]) for line in metrics.splitlines()
                         if line.startswith("ledger_intake_stalled_seconds "))
        assert stalled_s >= 3
        log_text = worker.log_path.read_text()
        assert "intake stalled: no run folded for" in log_text
        assert "awaits:" in log_text and "fold_batch" in log_text  # where the fold waits, named

        admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, updates_topic,
                                            configs={"max.message.bytes": str(1024 * 1024)})])
        wait_until(lambda: worker.health() is not None, timeout_s=60, what="/health ok again")
        assert_serves(worker, events)
        assert "intake moving again" in worker.log_path.read_text()
        print(f"\nstalled worker: events={len(events)} said stalled after {health['stalled']['seconds']}s "
              f"with {sum(health['stalled']['waiting'].values())} message(s) waiting; caught up with 0 mismatched "
              f"once the topic took messages again")
    finally:
        admin.close()
        worker.kill()


def _set_topic_config(bootstrap: str, topic: str, key: str, value: str) -> None:
    """Set one config of ``topic``, keeping its other topic configs."""
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)], config_filter="all")
        configs = {name: entry["value"] for name, entry in described["topic"][topic].items()
                   if entry.get("config_source") == "DYNAMIC_TOPIC_CONFIG"}
        configs[key] = value
        result = admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs)])
        assert all(str(outcome) == "OK" for outcome in result["topic"].values()), result
    finally:
        admin.close()


def test_changelog_records_the_broker_refuses_are_sent_again_and_recovered_from(test_settings, producer):
    """The sessions changelog refuses every batch for a while (its max.message.bytes set below a
    record): the worker keeps the run unacknowledged and sends the stored values again until the
    broker takes them. A worker started on an empty disk then recovers every session from the
    changelog alone."""
    import shutil

    from streams.fold.options import WorkerOptions, app_id

    events = stories(40, seed=23)
    changelog = f"{app_id(test_settings)}-sessions-changelog"
    worker = WorkerProcess(test_settings, web_port=free_port(), heartbeat_timeout_s=QUIET_S,
                           reservation_timeout_s=QUIET_S)
    try:
        worker.start().wait_ready(timeout_s=120)
        _set_topic_config(test_settings.bootstrap_servers, changelog, "max.message.bytes", "64")
        emit(producer, test_settings.session_topic, events)
        wait_until(lambda: "sessions changelog record(s) of partition" in worker.log_path.read_text(),
                   timeout_s=60, what="a refused changelog batch reported")
        _set_topic_config(test_settings.bootstrap_servers, changelog, "max.message.bytes", "1048588")
        assert_serves(worker, events)
        wait_until(lambda: "sending the stored values again" in worker.log_path.read_text(),
                   timeout_s=5, what="the resend logged")
        worker.kill()
        shutil.rmtree(WorkerOptions().datadir(test_settings))
        worker.start().wait_ready(timeout_s=120)
        assert "Restoring state from changelog topics" in worker.log_path.read_text()
        assert_serves(worker, events)
    finally:
        worker.kill()
