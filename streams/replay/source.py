"""A session's events read straight from the session topic, for when the history lacks them.

The scan starts at ``offsets_for_times(since)`` on every partition of the topic and stops at the
end offsets taken when it began, keeping the messages whose key is the session id. Messages
that cannot be decoded are counted, not raised: the dead-letter topic already holds their story.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from kafka import KafkaConsumer, TopicPartition

from schemas.codec import decode
from schemas.errors import InvalidMessage
from schemas.models import SessionEvent
from streams.errors import KafkaIncomplete, TopicMissing

_BOOTSTRAP_TIMEOUT_MS = 10_000


@dataclass
class KafkaScan:
    """What a scan of the session topic found for one session."""

    events: list[SessionEvent] = field(default_factory=list)
    scanned: int = 0
    unreadable: int = 0


def session_events_from_kafka(bootstrap: str, topic: str, session_id: str, since: datetime,
                              timeout_s: float = 60.0) -> KafkaScan:
    """Events keyed ``session_id`` on ``topic`` from ``since`` on, in log (delivery) order."""
    key = session_id.encode()
    scan = KafkaScan()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                             bootstrap_timeout_ms=_BOOTSTRAP_TIMEOUT_MS)
    try:
        remaining = _seek_to(consumer, topic, since)
        deadline = time.monotonic() + timeout_s
        while remaining:
            if time.monotonic() > deadline:
                raise KafkaIncomplete(
                    f"scanning {topic!r} for session {session_id} took longer than {timeout_s:.0f}s; "
                    "give a later --since to scan less of the topic")
            for tp, records in consumer.poll(timeout_ms=500, max_records=5000).items():
                for record in records:
                    if record.offset >= remaining.get(tp, 0):
                        continue
                    scan.scanned += 1
                    if record.key == key:
                        _keep(scan, record.value)
            for tp, end in list(remaining.items()):
                if consumer.position(tp) >= end:
                    del remaining[tp]
                    consumer.pause(tp)
    finally:
        consumer.close()
    return scan


def _seek_to(consumer: KafkaConsumer, topic: str, since: datetime) -> dict[TopicPartition, int]:
    """Position every partition at the first offset at or after ``since``; the end offsets to reach."""
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        raise TopicMissing(topic, "check LEDGER_SESSION_TOPIC, or run `ledger stack up`")
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(tps)
    starts = consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in tps})
    ends = consumer.end_offsets(tps)
    remaining = {}
    for tp in tps:
        start = starts.get(tp)
        if start is None or start.offset >= ends[tp]:
            continue
        consumer.seek(tp, start.offset)
        remaining[tp] = ends[tp]
    return remaining


def _keep(scan: KafkaScan, value: bytes | None) -> None:
    try:
        event = decode(value or b"")
    except InvalidMessage:
        scan.unreadable += 1
        return
    if isinstance(event, SessionEvent):
        scan.events.append(event)
