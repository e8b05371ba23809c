"""The history sink against the real broker and real chDB: what is emitted is stored once."""
from __future__ import annotations

import time

from kafka import KafkaProducer, TopicPartition

from schemas.codec import encode
from streams.sink.consumer import HistorySink
from tests.support.factories import ops_event, session_script
from tests.support.history import committed, drain, end_offsets, produce, produce_to, rows_per_event, unique
from tests.support.kafka import read_all


def test_emitted_events_land_once_each_and_their_offsets_are_committed(test_settings, warehouse):
    events = [e for _ in range(40) for e in session_script(heartbeats=4, disconnect_and_reconnect=True)]
    incidents = [ops_event("incident_opened", incident_id="INC-7"),
                 ops_event("incident_resolved", incident_id="INC-7")]
    produce(test_settings, events, incidents)
    sink = HistorySink.from_settings(test_settings, warehouse, group_id=(group := unique("sink-once")),
                                     batch_max_events=100, batch_max_wait_s=0.3)

    drain(sink, rows=len(events) + len(incidents))
    sink.close()

    assert rows_per_event(warehouse, "session_events") == (len(events), len(events))
    assert rows_per_event(warehouse, "ops_events") == (2, 2)
    assert committed(test_settings, group) == end_offsets(test_settings)
    assert sink.stats.batches >= len(events) // 100
    print(f"\nevents={len(events) + 2} rows={sink.stats.rows} batches={sink.stats.batches}")


def test_a_range_read_again_by_another_group_adds_no_rows(test_settings, warehouse, new_topic):
    topic = new_topic(1)
    events = [e for _ in range(250) for e in session_script(heartbeats=8)]  # 2,750: 11 x 250
    produce_to(test_settings.bootstrap_servers, topic, events)

    for group in (unique("first-reader"), unique("second-reader")):
        sink = HistorySink(bootstrap=test_settings.bootstrap_servers, topics=[topic],
                           warehouse=warehouse, dead_letters=lambda message, error: None,
                           group_id=group, batch_max_events=250, batch_max_wait_s=30.0)
        drain(sink, rows=len(events))
        sink.close()

    # Both groups cut the one partition into the same ranges 0-249, 250-499, ...: every second
    # insert carries a token ClickHouse has seen, so no row is stored twice, not even before merges.
    raw = warehouse.query("SELECT count() AS n FROM session_events")[0]["n"]
    assert raw == len(events)
    print(f"\nevents={len(events)} rows written twice={2 * len(events)} rows stored={raw}")


def test_an_undecodable_message_goes_to_the_dead_letter_topic_and_is_not_a_row(test_settings, warehouse):
    good = session_script(heartbeats=2)
    producer = KafkaProducer(bootstrap_servers=test_settings.bootstrap_servers, acks="all")
    for event in good[:2]:
        producer.send(test_settings.session_topic, key=b"s", value=encode(event), partition=0)
    producer.send(test_settings.session_topic, key=b"s", value=b'{"event_type": "started"}', partition=0)
    producer.send(test_settings.session_topic, key=b"s", value=encode(good[2])[:15], partition=0)
    for event in good[2:]:
        producer.send(test_settings.session_topic, key=b"s", value=encode(event), partition=0)
    producer.flush()
    producer.close()
    sink = HistorySink.from_settings(test_settings, warehouse, group_id=(group := unique("sink-poison")),
                                     batch_max_events=100, batch_max_wait_s=0.3)

    drain(sink, rows=len(good))
    sink.close()

    assert rows_per_event(warehouse, "session_events") == (len(good), len(good))
    letters = read_all(test_settings.bootstrap_servers, test_settings.dead_letter_topic)
    assert [dict(letter.headers)["source_offset"] for letter in letters] == [b"2", b"3"]
    first = dict(letters[0].headers)
    assert first["source_topic"] == test_settings.session_topic.encode()
    assert first["source_partition"] == b"0"
    assert first["reason"] == b"bad_marker"
    assert first["detected_by"] == b"sink"
    assert b"c3 01" in first["error"]
    assert dict(letters[1].headers)["reason"] == b"truncated"
    assert letters[0].value == b'{"event_type": "started"}'
    assert committed(test_settings, group)[TopicPartition(test_settings.session_topic, 0)] \
        == len(good) + 2
    assert sink.stats.dead_letters == 2


def test_dead_letters_can_go_to_a_function_instead_of_a_topic(test_settings, warehouse):
    produce_to(test_settings.bootstrap_servers, test_settings.session_topic, [], raw=[b"\xc3\x01junk"])
    seen = []
    sink = HistorySink(bootstrap=test_settings.bootstrap_servers, topics=[test_settings.session_topic],
                       warehouse=warehouse, dead_letters=lambda m, error: seen.append((m.offset, error.code)),
                       group_id=unique("sink-callback"), batch_max_events=10, batch_max_wait_s=0.2)

    deadline = time.monotonic() + 30
    while not seen and time.monotonic() < deadline:
        sink.poll_once()
    sink.poll_once()
    sink.close()

    assert seen == [(0, "truncated")]
    assert rows_per_event(warehouse, "session_events") == (0, 0)


# --- the small things the stories use ---------------------------------------------------------


def test_a_second_sink_joining_takes_partitions_over_without_losing_or_doubling_events(
        test_settings, warehouse):
    events = [e for _ in range(600) for e in session_script(heartbeats=5)]  # 4,800 events
    produce(test_settings, events[:2_400])
    group = unique("sink-rebalance")
    options = dict(group_id=group, batch_max_events=300, batch_max_wait_s=0.2,
                   dead_letters=lambda message, error: None)
    first = HistorySink.from_settings(test_settings, warehouse, **options)
    while first.stats.rows < 900:
        first.poll_once()

    second = HistorySink.from_settings(test_settings, warehouse, **options)
    deadline = time.monotonic() + 90
    while not second.consumer.assignment():
        assert time.monotonic() < deadline, "the second sink got no partition in 90s"
        first.poll_once(timeout_s=0.1)
        second.poll_once(timeout_s=0.1)
    produce(test_settings, events[2_400:])
    deadline = time.monotonic() + 90
    checked = 0.0
    while True:
        first.poll_once(timeout_s=0.1)
        second.poll_once(timeout_s=0.1)
        if time.monotonic() - checked < 1.0:
            continue  # the offsets are read with fresh clients: once a second is enough
        checked = time.monotonic()
        done, end = committed(test_settings, group), end_offsets(test_settings)
        if done == end:
            break
        assert checked < deadline, (
            "the two sinks did not finish the topics in 90s: "
            f"committed {sorted((tp.topic, tp.partition, o) for tp, o in done.items())}, "
            f"end {sorted((tp.topic, tp.partition, o) for tp, o in end.items())}, "
            f"first owns {sorted(first.consumer.assignment())} {first.stats.as_dict()}, "
            f"second owns {sorted(second.consumer.assignment())} {second.stats.as_dict()}")
    shares = (first.stats.rows, second.stats.rows)
    first.close()
    second.close()

    assert rows_per_event(warehouse, "session_events") == (len(events), len(events))
    assert second.stats.rows > 0  # the newcomer did take partitions over
    print(f"\nevents={len(events)} rows by first/second sink={shares} "
          f"dropped on rebalance={first.stats.dropped_on_rebalance}")
