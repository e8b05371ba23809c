"""Every private attribute of kafka-python the tree reads or writes, behind small named functions.

``INTERNALS`` lists each one; tests/unit/streams/kafka/test_kafka_compat.py checks against the
installed kafka-python that every one still exists with the shape used here, and fails naming it.
"""
from __future__ import annotations

from typing import Any

from kafka import KafkaProducer
from kafka.structs import TopicPartition

INTERNALS: tuple[tuple[str, str, str], ...] = (
    # (library, owner, internal)
    ("kafka-python", "KafkaProducer", "_accumulator"),
    ("kafka-python", "KafkaProducer", "_sender"),
    ("kafka-python", "KafkaProducer", "_closed"),
    ("kafka-python", "KafkaProducer", "_transaction_manager"),
)


def enqueue(producer: KafkaProducer, partition: TopicPartition, key: bytes, value: bytes) -> Any:
    """Append one serialised record to ``producer``'s batch for ``partition`` and return its
    future, as ``KafkaProducer.send`` would, without send's per-call checks (serialisers,
    headers, metadata wait, size: the caller caps records). Uses ``send`` on a kafka-python
    without the accumulator and sender this relies on. Raises what the accumulator raises
    (``KafkaError`` subclasses)."""
    accumulator = getattr(producer, "_accumulator", None)
    if accumulator is None or not hasattr(producer, "_sender"):
        return producer.send(partition.topic, value=value, key=key, partition=partition.partition)
    future, batch_is_full, new_batch, _ = accumulator.append(partition, None, key, value, [])
    if batch_is_full or new_batch:
        producer._sender.wakeup()
    return future


def force_close(producer: KafkaProducer) -> None:
    """Stop ``producer``'s sender thread at once and mark it closed, as ``close()`` does after
    its flush: for a producer whose ``close(timeout=0)`` raised with records still pending."""
    producer._sender.force_close()
    producer._closed = True


def producer_id(producer: KafkaProducer | None) -> int | None:
    """The idempotent producer id the broker gave ``producer`` (-1 before its first send), or
    None for no producer or one without idempotence."""
    manager = getattr(producer, "_transaction_manager", None)
    return None if manager is None else manager.producer_id_and_epoch.producer_id
