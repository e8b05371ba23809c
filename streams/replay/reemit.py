"""Re-emit a window of the history to another topic, keeping its rhythm at a chosen speed.

Events go out in the order given (the history's replay order: occurred_at, then session and
seq), keyed by session id so one session's events share a partition and keep their order. With
speed ``s`` an event leaves ``(occurred_at - first occurred_at) / s`` seconds after the first;
speed 0 (or ``None``) sends as fast as the producer takes them.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Iterable

from kafka import KafkaProducer

from schemas.codec import encode
from schemas.models import SessionEvent
from streams.errors import KafkaIncomplete


def pacing_delay(first_at: datetime, event_at: datetime, speed: float | None, elapsed_s: float) -> float:
    """Seconds to wait before sending an event at ``event_at``, ``elapsed_s`` after the first was sent."""
    if not speed:
        return 0.0
    due = (event_at - first_at).total_seconds() / speed
    return max(0.0, due - elapsed_s)


@dataclass(frozen=True)
class ReemitReport:
    topic: str
    sent: int
    seconds: float
    speed: float | None
    window_seconds: float
    """Span of the events' occurred_at (last - first)."""

    def as_dict(self) -> dict:
        return {"topic": self.topic, "sent": self.sent, "seconds": round(self.seconds, 3),
                "speed": self.speed or "max", "window_seconds": self.window_seconds,
                "events_per_s": round(self.sent / self.seconds, 1) if self.seconds else None}


def paced(events: Iterable[SessionEvent], speed: float | None,
          clock: Callable[[], float] = time.monotonic,
          sleep: Callable[[float], None] = time.sleep) -> Iterable[SessionEvent]:
    """``events`` released at their scaled relative times."""
    first_at = None
    started = 0.0
    for event in events:
        if first_at is None:
            first_at, started = event.occurred_at, clock()
        wait = pacing_delay(first_at, event.occurred_at, speed, clock() - started)
        if wait > 0:
            sleep(wait)
        yield event


def reemit(events: Iterable[SessionEvent], bootstrap: str, topic: str, speed: float | None,
           on_sent: Callable[[int], None] | None = None) -> ReemitReport:
    """Send ``events`` to ``topic`` (acks=all, idempotent), paced by ``speed``; waits for every ack."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                             max_in_flight_requests_per_connection=5, linger_ms=5)
    sent = 0
    failures: list[BaseException] = []
    first_at = last_at = None
    started = time.monotonic()
    try:
        for event in paced(events, speed):
            producer.send(topic, key=event.key, value=encode(event)).add_errback(failures.append)
            first_at = first_at or event.occurred_at
            last_at = event.occurred_at
            sent += 1
            if on_sent is not None:
                on_sent(sent)
        producer.flush()
    finally:
        producer.close()
    if failures:
        raise KafkaIncomplete(
            f"{len(failures)} of {sent} re-emitted events were not acknowledged by {topic!r} "
            f"(first: {failures[0]}); the topic may hold a partial window, re-emit to a fresh topic")
    span = (last_at - first_at).total_seconds() if first_at else 0.0
    return ReemitReport(topic, sent, time.monotonic() - started, speed, span)
