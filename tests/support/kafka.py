"""Reading a topic back whole, as the tests check what reached the broker."""
from __future__ import annotations

import time

from kafka import KafkaConsumer, TopicPartition

from schemas.codec import decode


def read_all(bootstrap: str, topic: str) -> list:
    """Every record of ``topic`` from the beginning to the end offsets it has now."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        records = []
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def read_topic(bootstrap: str, topic: str, expected: int, timeout_s: float = 30.0) -> list:
    """Every message of ``topic`` as (partition, key, event), in log order per partition."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        messages = []
        deadline = time.monotonic() + timeout_s
        while len(messages) < expected and time.monotonic() < deadline:
            for tp, records in sorted(consumer.poll(timeout_ms=500).items()):
                messages += [(tp.partition, r.key, decode(r.value)) for r in records]
        return messages
    finally:
        consumer.close()
