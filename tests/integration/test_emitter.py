"""The emitter against the real broker: what goes in comes out, in order, and bad events stay out."""
from __future__ import annotations

import json
import time
import uuid
from collections import defaultdict

import pytest
from kafka import KafkaConsumer, TopicPartition

from schemas.codec import decode
from schemas.errors import EventTooLarge, InvalidEvent
from streams.emit.emitter import SessionEmitter
from streams.emit.lines import emit_json_lines
from streams.errors import SequenceUnknown
from streams.kafka.partitioner import partition_of
from tests.support.factories import session_event, session_script

pytestmark = pytest.mark.kafka


def read_topic(bootstrap: str, topic: str, *, expect: int, timeout_s: float = 60.0, settle_s: float = 0.0):
    """Every message of ``topic`` as (partition, event), in partition-offset order."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        records = []
        deadline = time.monotonic() + timeout_s
        quiet_until = None
        while time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=500)
            for messages in batch.values():
                records.extend(messages)
            if len(records) >= expect:
                quiet_until = quiet_until or time.monotonic() + settle_s
                if time.monotonic() >= quiet_until:
                    break
        records.sort(key=lambda r: (r.partition, r.offset))
        return [(r.partition, r.key, decode(r.value)) for r in records]
    finally:
        consumer.close()


@pytest.fixture
def topics(new_topic):
    return new_topic(3, prefix="emitter-sessions"), new_topic(1, prefix="emitter-ops")


@pytest.fixture
def emitter(kafka_broker, topics, tmp_path):
    session_topic, ops_topic = topics
    emitter = SessionEmitter(bootstrap=kafka_broker.bootstrap, topic=session_topic, ops_topic=ops_topic,
                             spool_dir=tmp_path / "spool", producer="gameserver")
    yield emitter
    emitter.close()


def interleaved(sessions: list[list]) -> list:
    """The sessions' events in round-robin order, as many game servers would emit them."""
    events, index = [], 0
    while any(index < len(s) for s in sessions):
        events.extend(s[index] for s in sessions if index < len(s))
        index += 1
    return events


def test_ten_thousand_events_arrive_once_each_and_in_session_order(kafka_broker, topics, emitter):
    sessions = [session_script(heartbeats=7) for _ in range(1000)]
    events = interleaved(sessions)
    assert len(events) == 10_000

    for event in events:
        emitter.emit(event)
    emitter.flush(timeout=60)

    received = read_topic(kafka_broker.bootstrap, topics[0], expect=len(events))
    assert sorted(e.event_id for _, _, e in received) == sorted(e.event_id for e in events)
    assert {e.event_id: e for _, _, e in received} == {e.event_id: e for e in events}
    seqs_by_session, partitions_by_session = defaultdict(list), defaultdict(set)
    for partition, key, event in received:
        assert key == event.session_id.encode()
        seqs_by_session[event.session_id].append(event.seq)
        partitions_by_session[event.session_id].add(partition)
    assert all(seqs == list(range(1, 11)) for seqs in seqs_by_session.values())
    assert all(len(p) == 1 for p in partitions_by_session.values())
    assert all(p == {partition_of(s, 3)} for s, p in partitions_by_session.items()), \
        "a session must land where any Kafka client's default partitioner puts its key"
    stats = emitter.stats
    assert (stats.accepted, stats.acked, stats.spooled, stats.failed) == (10_000, 10_000, 0, 0)
    assert emitter.idempotent


def test_an_invalid_event_names_its_field_and_nothing_is_sent(kafka_broker, topics, emitter):
    fields = session_event("heartbeat").model_dump(mode="json")
    fields["payload"]["latency_ms"] = -5

    with pytest.raises(InvalidEvent) as refused:
        emitter.emit_fields(fields)

    assert refused.value.field == "payload.latency_ms"
    emitter.emit(session_event("requested"))
    emitter.flush(timeout=30)
    assert len(read_topic(kafka_broker.bootstrap, topics[0], expect=2, timeout_s=3)) == 1
    assert emitter.stats.accepted == 1


def test_an_oversized_event_is_refused_before_sending(kafka_broker, topics, emitter):
    huge = session_event("migrated", reason="x" * 100_000)

    with pytest.raises(EventTooLarge, match="over the 65536-byte limit"):
        emitter.emit(huge)

    emitter.flush(timeout=30)
    assert read_topic(kafka_broker.bootstrap, topics[0], expect=1, timeout_s=3) == []


def test_the_emitter_numbers_a_sessions_events_and_forgets_the_session_when_it_ends(kafka_broker, topics, emitter):
    session = str(uuid.uuid4())
    template = session_event("requested").model_dump(mode="json", exclude={"seq", "event_id", "session_id", "event_type", "payload", "producer"})

    emitter.emit_session("requested", session_id=session, payload={"game_mode": "duo"}, **template)
    emitter.emit_session("started", session_id=session, payload={"server_id": "gs-1", "game_mode": "duo", "queue_ms": 900}, **template)
    emitter.emit_session("heartbeat", session_id=session, payload={"latency_ms": 30, "packet_loss_pct": 0.0}, **template)
    emitter.emit_session("ended", session_id=session, payload={"reason": "quit"}, **template)
    with pytest.raises(SequenceUnknown, match=session):
        emitter.emit_session("heartbeat", session_id=session, payload={"latency_ms": 30, "packet_loss_pct": 0.0}, **template)
    emitter.flush(timeout=30)

    received = read_topic(kafka_broker.bootstrap, topics[0], expect=4)
    assert [(e.seq, e.event_type.value, e.producer) for _, _, e in received] == [
        (1, "requested", "gameserver"), (2, "started", "gameserver"),
        (3, "heartbeat", "gameserver"), (4, "ended", "gameserver"),
    ]


def test_json_lines_are_emitted_and_bad_lines_reported_with_line_and_field(kafka_broker, topics, emitter):
    session = str(uuid.uuid4())
    script = session_script(session, heartbeats=2)
    lines = [json.dumps(e.model_dump(mode="json", exclude={"seq", "event_id"})) for e in script]
    broken = script[2].model_dump(mode="json", exclude={"seq"})
    broken["platform"] = "gameboy"
    lines[3:3] = ["{not json", "", json.dumps(broken), '["a list"]']
    incident = {"event_type": "incident_opened", "occurred_at": "2025-03-14T12:00:00Z", "producer": "pager",
                "payload": {"incident_id": "INC-7", "severity": "sev1", "title": "eu-west down",
                            "regions": ["eu-west"], "services": ["gameserver"]}}
    lines.append(json.dumps(incident))

    report = emit_json_lines(lines, emitter)
    emitter.flush(timeout=30)

    assert report.sent == len(script) + 1
    assert [(r.line, r.field) for r in report.rejected] == [(4, "(line)"), (6, "platform"), (7, "(line)")]
    assert "is not JSON" in report.rejected[0].reason
    sessions = read_topic(kafka_broker.bootstrap, topics[0], expect=len(script))
    assert [e.seq for _, _, e in sessions] == list(range(1, len(script) + 1))
    assert [e.event_type for _, _, e in sessions] == [e.event_type for e in script]
    [(_, key, opened)] = read_topic(kafka_broker.bootstrap, topics[1], expect=1)
    assert key == b"INC-7" and opened.payload.severity == "sev1"


def test_an_incident_milestone_out_of_order_is_refused_and_the_rest_is_sent(kafka_broker, topics, emitter):
    def step(event_type, when, **payload):
        return json.dumps({"event_type": event_type, "occurred_at": when, "producer": "pager",
                           "payload": {"incident_id": "INC-8", "severity": "sev2", "title": "lag",
                                       **payload}})

    lines = [step("incident_opened", "2025-03-14T12:10:00Z"),
             step("incident_resolved", "2025-03-14T12:05:00Z"),           # before it opened
             step("incident_corrected", "2025-03-14T12:20:00Z", milestone="opened",
                  milestone_at="2025-03-14T12:01:00Z"),                   # a correction: fine
             step("incident_resolved", "2025-03-14T12:30:00Z")]

    report = emit_json_lines(lines, emitter)
    emitter.flush(timeout=30)

    assert report.sent == 3
    assert [(r.line, r.field) for r in report.rejected] == [(2, "occurred_at")]
    assert "before opened" in report.rejected[0].reason
    sent = read_topic(kafka_broker.bootstrap, topics[1], expect=3)
    assert [e.event_type for _, _, e in sent] == ["incident_opened", "incident_corrected",
                                                  "incident_resolved"]


def test_a_session_that_does_not_start_with_requested_needs_an_explicit_seq(kafka_broker, topics, emitter):
    heartbeat = session_event("heartbeat").model_dump(mode="json", exclude={"seq"})

    report = emit_json_lines([json.dumps(heartbeat)], emitter)

    assert report.sent == 0
    assert report.rejected[0].field == "seq" and "Pass seq explicitly" in report.rejected[0].reason


def test_an_emitter_started_without_a_broker_spools_and_a_later_one_delivers(kafka_broker, topics, tmp_path):
    from streams.errors import BrokerUnreachable
    from ledger.stack import free_port

    nowhere = f"127.0.0.1:{free_port()}"
    script = session_script(heartbeats=3)
    stranded = SessionEmitter(bootstrap=nowhere, topic=topics[0], ops_topic=topics[1],
                              spool_dir=tmp_path / "spool", connect_timeout_s=0.5)
    try:
        for event in script:
            stranded.emit(event)
        assert stranded.stats.spool_pending == len(script)
        with pytest.raises(BrokerUnreachable, match=f"{nowhere} is unreachable.*kept in the spool"):
            stranded.flush(timeout=1)
    finally:
        stranded.close(timeout=1)

    with SessionEmitter(bootstrap=kafka_broker.bootstrap, topic=topics[0], ops_topic=topics[1],
                        spool_dir=tmp_path / "spool") as successor:
        successor.flush(timeout=60)
        assert successor.stats.drained == len(script)

    received = read_topic(kafka_broker.bootstrap, topics[0], expect=len(script))
    assert [e.event_id for _, _, e in received] == [e.event_id for e in script]


def test_the_least_recently_used_session_is_forgotten_beyond_max_open_sessions(kafka_broker, topics, tmp_path):
    sessions = [str(uuid.uuid4()) for _ in range(3)]
    envelope = session_event("requested").model_dump(
        mode="json", include={"player_id", "occurred_at", "platform", "region", "build", "cross_play", "input_method"})
    heartbeat = {"latency_ms": 20, "packet_loss_pct": 0.0}
    with SessionEmitter(bootstrap=kafka_broker.bootstrap, topic=topics[0], ops_topic=topics[1],
                        spool_dir=tmp_path / "spool", max_open_sessions=2) as emitter:
        for session in sessions:
            emitter.emit_session("requested", session_id=session, payload={"game_mode": "duo"}, **envelope)

        with pytest.raises(SequenceUnknown, match="least recently used of more than 2 open sessions"):
            emitter.emit_session("heartbeat", session_id=sessions[0], payload=heartbeat, **envelope)
        latest = emitter.emit_session("heartbeat", session_id=sessions[2], payload=heartbeat, **envelope)
        explicit = emitter.emit_fields({**envelope, "event_type": "heartbeat", "session_id": sessions[0],
                                        "seq": 2, "payload": heartbeat})
        following = emitter.emit_session("heartbeat", session_id=sessions[0], payload=heartbeat, **envelope)

    assert (latest.seq, explicit.seq, following.seq) == (2, 2, 3)
