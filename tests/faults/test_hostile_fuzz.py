"""Fuzz: seeded hostile raw messages interleaved with valid sessions, through the real worker
and the real sink processes. Every valid event is folded and in the history once; every bad
message has exactly one letter from each reader; nothing stalls and no process dies."""
from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from kafka import KafkaProducer

from ledger.child import ChildProcess, settings_env
from ledger.child import wait_until
from ledger.stack import free_port
from ledger.worker_process import WorkerProcess
from projections.fold import fold_all
from schemas.codec import MARKER, decode, encode
from schemas.errors import SchemaError
from streams.fold.render import session_document
from streams.kafka.deadletters.letter import read_letter
from tests.support.factories import session_script
from tests.support.kafka import read_all

pytestmark = [pytest.mark.kafka, pytest.mark.faults]

SEED = 15
SESSIONS = 24
HOSTILE = 60


def hostile_message(rnd: random.Random, valid: bytes) -> tuple[bytes | None, bytes | None, list]:
    """One raw message no reader can take: any bytes, keys, headers and sizes, tombstones."""
    kind = rnd.randrange(8)
    value = {
        0: None,                                                     # a tombstone
        1: b"",
        2: rnd.randbytes(rnd.randrange(1, 2000)),
        3: MARKER + rnd.randbytes(8) + valid[10:],                   # a fingerprint no one knows
        4: valid[:rnd.randrange(2, len(valid) - 1)],                 # cut short
        5: MARKER + valid[2:10] + rnd.randbytes(rnd.randrange(0, 300)),  # a known header, any body
        6: rnd.randbytes(rnd.randrange(64 * 1024, 300 * 1024)),      # over the event size limit
        7: b'{"event_type": "started"}',
    }[kind]
    key = rnd.choice([None, b"", rnd.randbytes(rnd.randrange(1, 64)), b"\xff\xfe"])
    if key is None and value is None:
        key = b""  # kafka-python sends no message with neither (the unit tests cover that letter)
    headers = rnd.choice([[], [("reason", b"spoof"), ("source_offset", b"x")],
                          [(str(i), rnd.randbytes(rnd.randrange(0, 100))) for i in range(rnd.randrange(1, 6))]])
    return key, value, headers


def test_hostile_messages_among_valid_sessions_through_the_worker_and_the_sink(test_settings, tmp_path):
    rnd = random.Random(SEED)
    start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=5)
    scripts = [session_script(player_id=f"p-{uuid.uuid4().hex[:6]}", start=start + timedelta(seconds=i),
                              heartbeats=rnd.randrange(0, 4), end=rnd.choice(["normal", "quit"]))
               for i in range(SESSIONS)]
    valid = [event for script in scripts for event in script]
    queue = [list(script) for script in scripts]
    producer = KafkaProducer(bootstrap_servers=test_settings.bootstrap_servers, acks="all",
                             max_request_size=2 * 1024 * 1024)
    sent_bad = 0
    while any(queue):  # sessions in order, interleaved with each other and with hostile messages
        script = rnd.choice([q for q in queue if q])
        event = script.pop(0)
        producer.send(test_settings.session_topic, key=event.session_id.encode(), value=encode(event))
        if sent_bad < HOSTILE and rnd.random() < HOSTILE / len(valid) * 1.5:
            key, value, headers = hostile_message(rnd, encode(event))
            producer.send(test_settings.session_topic, key=key, value=value, headers=headers)
            sent_bad += 1
    producer.flush()
    producer.close()
    bad_positions = unreadable_positions(test_settings)
    assert len(bad_positions) == sent_bad > HOSTILE // 2

    env = settings_env(test_settings, warehouse=True)
    worker = WorkerProcess(test_settings, web_port=free_port(), store="memory", log_path=tmp_path / "worker.log")
    sink = ChildProcess(["-m", "streams.sink.consumer"], tmp_path / "sink.log", env=env)
    with worker, sink:
        worker.wait_ready(timeout_s=90)
        wanted = {sid: session_document(state) for sid, state in fold_all(valid).sessions.items()}
        wait_until(lambda: all(served(worker, sid) == doc for sid, doc in wanted.items()), timeout_s=90,
                   what="every valid session folded as the fold says")
        letters = wait_until(lambda: (found := letters_by_reader(test_settings))
                             and all(len(found.get(r, [])) >= sent_bad for r in ("worker", "sink")) and found,
                             timeout_s=60, what="a letter from each reader for each bad message")
        status, health = worker.get("/health")
        assert (status, health["status"]) == (200, "ok"), health  # recovered, not stalled
        assert worker.alive() and sink.alive()
        assert sink.stop() == 0, sink.log_tail()

    for reader in ("worker", "sink"):
        sources = [letter.source[1:] for letter in letters[reader]]
        assert len(sources) == len(set(sources)) == sent_bad, reader  # once each, none twice
        assert set(sources) == bad_positions, reader
    from analytics.warehouse import ChdbWarehouse

    history = ChdbWarehouse(test_settings.chdb_path)
    try:
        [row] = history.query("SELECT count() AS n, uniqExact(event_id) AS ids FROM session_events FINAL")
        [raw] = history.query("SELECT count() AS n FROM session_events")
    finally:
        history.close()
    assert (row["n"], row["ids"]) == (len(valid), len(valid))
    assert raw["n"] == len(valid)  # one batch per range: not even a physical duplicate
    print(f"\nvalid={len(valid)} hostile={sent_bad} letters={sum(len(v) for v in letters.values())}")


def served(worker, session_id):
    status, body = worker.get(f"/sessions/{session_id}")
    return body if status == 200 else None




def unreadable_positions(settings) -> set[tuple[int, int]]:
    positions = set()
    for record in read_all(settings.bootstrap_servers, settings.session_topic):
        try:
            decode(record.value if record.value is not None else b"")
        except SchemaError:
            positions.add((record.partition, record.offset))
    return positions


def letters_by_reader(settings) -> dict[str, list]:
    found: dict[str, list] = {}
    for record in read_all(settings.bootstrap_servers, settings.dead_letter_topic):
        letter = read_letter(record.key, record.value, record.headers)
        found.setdefault(letter.detected_by, []).append(letter)
    return found
