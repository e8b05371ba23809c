"""Replay meets the real broker: a window re-emitted and read back, a session read from the log."""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone


from analytics.replay import Window, iter_session_events
from analytics.rows import write_events
from streams.replay.reemit import reemit
from streams.replay.source import session_events_from_kafka
from tests.support.factories import T0, session_script
from tests.support.kafka import read_topic


def interleaved_sessions():
    """Five sessions over about three minutes, starting ten seconds apart."""
    return [e for n in range(5) for e in session_script(
        player_id=f"p-{n}", start=T0 + timedelta(seconds=10 * n), heartbeats=8,
        heartbeat_every=timedelta(seconds=15), disconnect_and_reconnect=n % 2 == 0,
        region=("eu-west", "us-east")[n % 2])]


def by_session(events) -> dict[str, list[int]]:
    seqs = defaultdict(list)
    for event in events:
        seqs[event.session_id].append(event.seq)
    return dict(seqs)


def test_a_reemitted_window_reads_back_as_the_same_events_in_the_same_session_order(
        warehouse, kafka_broker, new_topic):
    original = interleaved_sessions()
    write_events(warehouse, original)
    topic = new_topic(3)
    window = Window(T0, T0 + timedelta(hours=1))
    span_s = (max(e.occurred_at for e in original) - T0).total_seconds()
    speed = 400.0

    report = reemit(iter_session_events(warehouse, window, chunk=7), kafka_broker.bootstrap, topic, speed)

    messages = read_topic(kafka_broker.bootstrap, topic, len(original))
    back = [event for _, _, event in messages]
    assert report.sent == len(original) == len(back)
    assert sorted(back, key=lambda e: e.event_id) == sorted(original, key=lambda e: e.event_id)
    assert by_session(back) == by_session(original)
    assert all(key == event.session_id.encode() for _, key, event in messages)
    assert len({(partition, event.session_id) for partition, _, event in messages}) == 5
    assert report.seconds >= span_s / speed * 0.95
    assert report.seconds < span_s / speed + 30


def test_a_session_missing_from_the_history_is_found_on_the_topic_from_an_instant(kafka_broker, new_topic):
    topic = new_topic(3)
    wanted, other = session_script(heartbeats=2), session_script(heartbeats=4)
    before = datetime.now(timezone.utc) - timedelta(seconds=5)
    reemit([*wanted, *other], kafka_broker.bootstrap, topic, speed=None)

    scan = session_events_from_kafka(kafka_broker.bootstrap, topic, wanted[0].session_id, since=before)

    assert scan.events == wanted
    assert scan.scanned == len(wanted) + len(other)
    later = session_events_from_kafka(kafka_broker.bootstrap, topic, wanted[0].session_id,
                                      since=datetime.now(timezone.utc) + timedelta(minutes=1))
    assert later.events == [] and later.scanned == 0
