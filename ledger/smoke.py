"""An end-to-end round trip through the real parts: events -> Kafka -> decode -> ClickHouse -> query.

It proves the stack works on this machine: what was produced is consumed, decoded to the same
events, written to the history tables and counted back, exactly once each.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from analytics.rows import write_events
from analytics.warehouse import Warehouse
from schemas.codec import decode, encode
from schemas.models import SessionEvent
from streams.errors import TopicMissing


_BOOTSTRAP_TIMEOUT_MS = 10_000  # how long to wait for an absent broker before saying so


@dataclass
class SmokeResult:
    run_id: str
    produced: int = 0
    consumed: int = 0
    decoded_equal: bool = False
    rows_in_history: int = 0
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.decoded_equal and self.produced == self.consumed == self.rows_in_history

    def as_dict(self) -> dict:
        return {"run_id": self.run_id, "produced": self.produced, "consumed": self.consumed,
                "decoded_equal": self.decoded_equal, "rows_in_history": self.rows_in_history,
                "timings_s": self.timings_s, "ok": self.ok}


def smoke_events(run_id: str, sessions: int, now: datetime) -> list[SessionEvent]:
    """A few complete sessions: requested, started, two heartbeats, ended."""
    script = [
        ("requested", {"game_mode": "casual"}),
        ("started", {"server_id": "smoke-1", "game_mode": "casual", "queue_ms": 1200}),
        ("heartbeat", {"latency_ms": 35, "packet_loss_pct": 0.0}),
        ("heartbeat", {"latency_ms": 41, "packet_loss_pct": 0.2}),
        ("ended", {"reason": "normal"}),
    ]
    events = []
    for number in range(sessions):
        session_id = str(uuid.uuid4())
        for seq, (event_type, payload) in enumerate(script, start=1):
            events.append(SessionEvent.model_validate({
                "event_id": str(uuid.uuid4()), "session_id": session_id,
                "player_id": f"smoke-{run_id}-{number}", "seq": seq,
                "occurred_at": now + timedelta(seconds=10 * seq), "producer": "ledger-smoke",
                "platform": ("pc", "playstation", "switch")[number % 3], "region": "local",
                "build": "smoke", "cross_play": True, "input_method": "controller",
                "event_type": event_type, "payload": payload,
            }))
    return events


def run_smoke(bootstrap: str, topic: str, warehouse: Warehouse, sessions: int = 20,
              timeout_s: float = 30.0) -> SmokeResult:
    run_id = uuid.uuid4().hex[:8]
    result = SmokeResult(run_id=run_id)
    events = smoke_events(run_id, sessions, datetime.now(timezone.utc).replace(microsecond=0))

    started = time.monotonic()
    start_offsets = _end_offsets(bootstrap, topic)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    try:
        for event in events:
            producer.send(topic, key=event.session_id.encode(), value=encode(event))
        producer.flush(timeout=timeout_s)
    finally:
        producer.close()
    result.produced = len(events)
    result.timings_s["produce"] = round(time.monotonic() - started, 3)

    started = time.monotonic()
    wanted = {event.event_id for event in events}
    consumed = [event for event in _consume_from(bootstrap, topic, start_offsets, timeout_s)
                if isinstance(event, SessionEvent) and event.event_id in wanted]
    result.consumed = len(consumed)
    result.decoded_equal = sorted(consumed, key=_key) == sorted(events, key=_key)
    result.timings_s["consume+decode"] = round(time.monotonic() - started, 3)

    started = time.monotonic()
    write_events(warehouse, consumed, dedup_token=f"smoke-{run_id}")
    write_events(warehouse, consumed, dedup_token=f"smoke-{run_id}")  # a re-delivery adds nothing
    rows = warehouse.query(
        "SELECT uniqExact(event_id) AS events, count() AS rows FROM session_events FINAL "
        "WHERE producer = 'ledger-smoke' AND player_id LIKE {prefix:String}",
        {"prefix": f"smoke-{run_id}-%"},
    )
    result.rows_in_history = int(rows[0]["rows"])
    result.timings_s["insert+query"] = round(time.monotonic() - started, 3)
    return result


def _key(event: SessionEvent) -> tuple[str, int]:
    return event.session_id, event.seq


def _end_offsets(bootstrap: str, topic: str) -> dict[TopicPartition, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             bootstrap_timeout_ms=_BOOTSTRAP_TIMEOUT_MS)
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise TopicMissing(topic, f"start the broker at {bootstrap} with `ledger stack up` first")
        return consumer.end_offsets([TopicPartition(topic, p) for p in sorted(partitions)])
    finally:
        consumer.close()


def _consume_from(bootstrap: str, topic: str, offsets: dict[TopicPartition, int], timeout_s: float):
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             consumer_timeout_ms=int(timeout_s * 1000))
    try:
        consumer.assign(list(offsets))
        end = consumer.end_offsets(list(offsets))
        for partition, offset in offsets.items():
            consumer.seek(partition, offset)
        remaining = {tp for tp in offsets if end[tp] > offsets[tp]}
        for message in consumer:
            yield decode(message.value)
            tp = TopicPartition(message.topic, message.partition)
            if message.offset + 1 >= end[tp]:
                remaining.discard(tp)
            if not remaining:
                return
    finally:
        consumer.close()
