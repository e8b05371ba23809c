"""Kill the broker or the emitting process mid-stream: every event still arrives, in session order."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections import defaultdict
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from schemas.codec import decode
from streams.emit.emitter import SessionEmitter
from tests.support.factories import session_script

pytestmark = [pytest.mark.kafka, pytest.mark.faults]

REPO = Path(__file__).resolve().parents[2]


def interleaved(sessions: list[list]) -> list:
    events, index = [], 0
    while any(index < len(s) for s in sessions):
        events.extend(s[index] for s in sessions if index < len(s))
        index += 1
    return events


def read_until_complete(bootstrap: str, topic: str, wanted_ids: set[str], timeout_s: float = 90.0) -> list:
    """Every event of ``topic`` in partition-offset order, once all ``wanted_ids`` are among them."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        records, seen = [], set()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not wanted_ids <= seen:
            for messages in consumer.poll(timeout_ms=500).values():
                for message in messages:
                    event = decode(message.value)
                    records.append((message.partition, message.offset, event))
                    seen.add(event.event_id)
        records.sort(key=lambda r: (r[0], r[1]))
        return [event for _, _, event in records]
    finally:
        consumer.close()


def delivery_figures(emitted: list, received: list) -> dict:
    """Missing and duplicate counts, and whether each session's first deliveries kept seq order."""
    first_seen, order = set(), defaultdict(list)
    for event in received:
        if event.event_id not in first_seen:
            first_seen.add(event.event_id)
            order[event.session_id].append(event.seq)
    return {
        "emitted": len(emitted),
        "delivered": len(received),
        "missing": len({e.event_id for e in emitted} - first_seen),
        "duplicates": len(received) - len(first_seen),
        "sessions_out_of_order": sum(seqs != sorted(seqs) for seqs in order.values()),
    }


def test_a_broker_crash_mid_stream_loses_nothing_and_keeps_session_order(kafka_broker, new_topic, tmp_path):
    topic = new_topic(3, prefix="fault-broker-crash")
    events = interleaved([session_script(heartbeats=10) for _ in range(600)])  # 7,800 events
    before, during, after = events[:3000], events[3000:6000], events[6000:]
    emitter = SessionEmitter(
        bootstrap=kafka_broker.bootstrap, topic=topic, ops_topic=new_topic(1, prefix="fault-ops"),
        spool_dir=tmp_path / "spool", buffer_memory=256 * 1024, max_block_s=1.0,
        request_timeout_ms=3000, delivery_timeout_ms=8000,
    )
    try:
        for event in before:
            emitter.emit(event)
        emitter.flush(timeout=30)

        kafka_broker.kill()
        try:
            started = time.monotonic()
            for event in during:
                emitter.emit(event)
            accept_s = time.monotonic() - started
            spooled_while_down = emitter.stats.spooled
        finally:
            kafka_broker.start()
        restarted = time.monotonic()
        for event in after:
            emitter.emit(event)
        emitter.flush(timeout=120)
        recovery_s = time.monotonic() - restarted
        stats = emitter.stats
    finally:
        emitter.close()

    received = read_until_complete(kafka_broker.bootstrap, topic, {e.event_id for e in events})
    figures = delivery_figures(events, received)
    print(f"\nbroker crash: {figures}, spooled={stats.spooled} (while down: {spooled_while_down}), "
          f"drained={stats.drained}, failed={stats.failed}, 3000 events accepted while down in "
          f"{accept_s:.1f}s, recovery {recovery_s:.1f}s")
    assert spooled_while_down > 0
    assert accept_s < 30
    assert figures["missing"] == 0
    assert figures["sessions_out_of_order"] == 0
    assert stats.spool_pending == 0 and not stats.spooling


SPOOLING_PROCESS = textwrap.dedent("""
    import json, os, sys
    from streams.emit.emitter import SessionEmitter
    from tests.support.factories import session_script

    bootstrap, topic, spool_dir, sessions = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    emitter = SessionEmitter(bootstrap=bootstrap, topic=topic, ops_topic=topic + "-ops",
                             spool_dir=spool_dir, connect_timeout_s=1.0)
    ids = []
    for index in range(sessions):
        for event in session_script(heartbeats=4):
            emitter.emit(event)
            ids.append(event.event_id)
    stats = emitter.stats
    print(json.dumps({"ids": ids, "spooled": stats.spooled, "sent_direct": stats.sent_direct}), flush=True)
    os.kill(os.getpid(), 9)
""")


def test_a_killed_emitter_process_leaves_its_spool_for_the_next_one(kafka_broker, new_topic, tmp_path):
    topic = new_topic(3, prefix="fault-process-kill")
    spool_dir = tmp_path / "spool"

    kafka_broker.kill()
    try:
        first = subprocess.run(
            [sys.executable, "-c", SPOOLING_PROCESS, kafka_broker.bootstrap, topic, str(spool_dir), "400"],
            cwd=REPO, capture_output=True, text=True, timeout=120,
        )
    finally:
        kafka_broker.start()
    assert first.returncode == -9, first.stderr[-2000:]
    report = json.loads(first.stdout)
    assert report["sent_direct"] == 0 and report["spooled"] == len(report["ids"]) == 2800

    started = time.monotonic()
    with SessionEmitter(bootstrap=kafka_broker.bootstrap, topic=topic, ops_topic=topic + "-ops",
                        spool_dir=spool_dir) as successor:
        assert successor.stats.spool_pending == 2800
        successor.flush(timeout=120)
        recovery_s = time.monotonic() - started
        drained = successor.stats.drained

    wanted = set(report["ids"])
    received = read_until_complete(kafka_broker.bootstrap, topic, wanted)
    figures = delivery_figures([e for e in received if e.event_id in wanted], received)
    print(f"\nprocess kill: {figures}, spooled by the killed process={report['spooled']}, "
          f"drained by its successor={drained}, recovery {recovery_s:.1f}s")
    assert {e.event_id for e in received} == wanted
    assert figures["sessions_out_of_order"] == 0
    assert drained == 2800
