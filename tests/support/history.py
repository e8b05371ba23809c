"""Putting events on the broker and reading back what the history sink did with them."""
from __future__ import annotations

import time
import uuid

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.errors import CoordinatorNotAvailableError, NotCoordinatorError

from schemas.codec import encode


def produce(settings, session_events, ops_events=()):
    produce_to(settings.bootstrap_servers, settings.session_topic, session_events)
    produce_to(settings.bootstrap_servers, settings.ops_topic, ops_events)


def produce_to(bootstrap, topic, events, raw=()):
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    for event in events:
        key = getattr(event, "session_id", None) or event.event_id
        producer.send(topic, key=key.encode(), value=encode(event))
    for value in raw:
        producer.send(topic, value=value)
    producer.flush()
    producer.close()


def drain(sink, rows, timeout_s=60.0):
    """Poll until ``rows`` rows are written and nothing is buffered."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        sink.poll_once()
        if sink.stats.rows >= rows and not sink._slices:
            return
    raise AssertionError(f"the sink wrote {sink.stats.rows} of {rows} rows in {timeout_s}s")


def rows_per_event(warehouse, table):
    """(rows the ledger reads, distinct event ids)."""
    row = warehouse.query(f"SELECT count() AS n, uniqExact(event_id) AS ids FROM {table} FINAL")[0]
    return row["n"], row["ids"]


def committed(settings, group, topics=None):
    """The group's committed offsets on ``topics`` (default: the test's session and ops topics);
    none while the broker has no coordinator for the group yet (its first moments)."""
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    try:
        offsets = admin.list_group_offsets(group).get(group, {})
    except (CoordinatorNotAvailableError, NotCoordinatorError):
        return {}
    finally:
        admin.close()
    ours = topics or (settings.session_topic, settings.ops_topic)
    return {tp: meta.offset for tp, meta in offsets.items() if tp.topic in ours}


def unique(name):
    return f"{name}-{uuid.uuid4().hex[:8]}"


def end_offsets(settings):
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers)
    try:
        partitions = [TopicPartition(topic, p) for topic in (settings.session_topic, settings.ops_topic)
                      for p in consumer.partitions_for_topic(topic)]
        return {tp: end for tp, end in consumer.end_offsets(partitions).items() if end}
    finally:
        consumer.close()

