"""Emit ledger events to Kafka without losing them when the broker is away.

``SessionEmitter`` validates and Avro-encodes each event *before* anything is sent (a bad event
raises ``InvalidEvent`` naming the field, an oversized one ``EventTooLarge``; the bytes are the
codec's, written by writers compiled once per schema: encoder.py), then hands it to a
kafka-python producer configured for durability: ``acks="all"``, idempotence on, at most five
requests in flight per connection (so retries cannot reorder a partition), keyed by
``session_id`` so one session's events share a partition and keep their order.

Two routes, one order
---------------------
*Direct*: while the broker acknowledges, events go straight to the producer and are remembered
in an in-flight window (bytes bounded by ``buffer_memory``; kafka-python itself does not bound
its buffer) until the broker acknowledges them.

*Spooled*: when the producer cannot be built (broker unreachable at start), the window stays
full for ``max_block_s``, a send raises, or the broker reports a failure after the producer's
own retries, the emitter switches to the spool. Every unacknowledged event of the window is
written to the spool first, in send order, then every new event follows it there. A background
drain replays the spool in order once the broker answers and, when the spool is empty, switches
back to direct. The producer that failed is closed without waiting (what it held is in the
spool; after a broker crash kafka-python can keep such a producer stuck) and the drain builds a
fresh one. Because *all* new events queue behind the spool while it is non-empty, each
session's events reach Kafka in emitted order. An event in the window may be delivered by the
producer *and* replayed from the spool: at-least-once, and readers drop repeats by
``event_id``. A new emitter on the same ``spool_dir`` drains what an earlier process left.

A process that ``close()``\\ s spools whatever is still unacknowledged. A process killed with
SIGKILL while the broker is up loses at most its in-flight window (events handed to the
producer but not yet acknowledged: ``linger_ms`` plus one round trip); everything already in
the spool survives.

Sequence numbers
----------------
``emit(event)`` sends an event as it is. ``emit_fields`` / ``emit_session`` fill in what the
emitter owns: ``seq`` (next number for the session), ``event_id`` and ``producer``. The emitter
keeps the last ``seq`` of each open session in a bounded LRU map (``max_open_sessions``); a
session leaves it when its ``ended`` event is emitted. A ``timed_out`` verdict gets seq 0 and
takes no number from the session. A session the map does
not hold starts at 1 with its ``requested`` event; any other event of an unknown session raises
``SequenceUnknown`` rather than guess a number (pass ``seq`` explicitly there).
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from kafka import KafkaProducer
from kafka import codec as kafka_codecs
from kafka.errors import KafkaError
from kafka.structs import TopicPartition

from schemas.codec import Codec, default_codec
from schemas.models import DERIVED_SEQ, Event, SessionEvent, SessionEventType, parse_event
from streams.emit.encoder import EventEncoder
from streams.emit.spool import Spool
from streams.errors import BadStreamsOption, BrokerUnreachable, EmitterClosed, SequenceUnknown
from streams.kafka import backoff, kafka_compat
from streams.kafka.partitioner import key_hash
from streams.settings import Settings

log = logging.getLogger(__name__)

TERMINAL_TYPES = frozenset({SessionEventType.ended})
"""Event types after which a session's sequence is forgotten. A timed_out verdict is not one:
it is outside the producers' sequence (seq 0), and the producer may still report the end."""


LINGER_MS = 20
"""How long the producer holds a partition's batch open for more events (ms). Emitting at
5,000-10,000 events/s, 20 ms cost the emitting process 16-18 % less CPU per event than 10 ms
(28 against 34 µs at 5,000/s, 26 against 31 µs at 10,000/s: fewer, fuller produce requests).
50 ms saves about 1 µs more per event at 10,000 events/s (27.4 against 28.3 µs, nearly all of
it in the producer's I/O thread: 4.7 against 5.7 µs; python -m bench.emit_rate) and 0.6 µs flat
out, but an event then waits about 25 ms on average (at most 50) before it is sent instead
of 10 (at most 20), and a process killed with SIGKILL loses 2.5 times as many events; pass
``linger_ms`` to choose otherwise."""


def best_compression() -> str:
    """The cheapest good codec kafka-python can use here: lz4, then zstd, then gzip (always there).

    lz4 and zstd need the ``lz4`` / ``zstandard`` packages; kafka-python's gzip is built in but
    costs the most CPU per batch.
    """
    if kafka_codecs.has_lz4():
        return "lz4"
    if kafka_codecs.has_zstd():
        return "zstd"
    return "gzip"


@dataclass(frozen=True)
class EmitterStats:
    """Counts since the emitter started. ``acked`` counts broker acknowledgements, direct or drained."""

    accepted: int        # events that passed validation and were taken (sent or spooled)
    sent_direct: int     # handed straight to the producer
    spooled: int         # written to the spool (new events while spooling, plus spilled window)
    acked: int           # acknowledged by the broker (direct route)
    drained: int         # sent from the spool and acknowledged by the broker
    failed: int          # delivery failures the producer reported (those events went to the spool)
    in_flight: int       # handed to the producer, not yet acknowledged
    spool_pending: int   # in the spool, not yet acknowledged
    spooling: bool       # whether new events currently go to the spool


class SessionSequences:
    """The last ``seq`` of each open session, least recently used first, at most ``capacity``."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._last: OrderedDict[str, int] = OrderedDict()

    def __len__(self) -> int:
        return len(self._last)

    def next(self, session_id: str, event_type: SessionEventType) -> int:
        """The seq the next event of ``session_id`` gets (not yet recorded: see ``observe``)."""
        last = self._last.get(session_id)
        if last is not None:
            return last + 1
        if event_type is SessionEventType.requested:
            return 1
        raise SequenceUnknown(session_id, self.capacity)

    def observe(self, event: SessionEvent) -> None:
        """Record that ``event`` was emitted; a session's end forgets the session, and a
        verdict (seq 0, outside the sequence) changes nothing."""
        if event.is_derived:
            return
        if event.event_type in TERMINAL_TYPES:
            self._last.pop(event.session_id, None)
            return
        last = self._last.get(event.session_id, 0)
        self._last[event.session_id] = max(last, event.seq)
        self._last.move_to_end(event.session_id)
        if len(self._last) > self.capacity:
            self._last.popitem(last=False)


def _topic_partitions(producer: KafkaProducer, topic: str) -> list[TopicPartition]:
    return [TopicPartition(topic, p) for p in sorted(producer.partitions_for(topic))]


class SessionEmitter:
    """Validates, encodes and sends ledger events; spools them while Kafka cannot take them."""

    def __init__(
        self,
        *,
        bootstrap: str,
        spool_dir: Path | str,
        topic: str = "session-events",
        ops_topic: str = "ops-events",
        producer: str = "ledger",
        compression: str | None = "auto",
        linger_ms: int = LINGER_MS,
        batch_size: int = 128 * 1024,
        buffer_memory: int = 32 * 1024 * 1024,
        max_in_flight: int = 5,
        max_block_s: float = 5.0,
        connect_timeout_s: float = 5.0,
        request_timeout_ms: int = 10_000,
        delivery_timeout_ms: int = 30_000,
        max_open_sessions: int = 200_000,
        drain_chunk: int = 2_000,
        codec: Codec | None = None,
        client_options: dict[str, Any] | None = None,
    ) -> None:
        if not 1 <= max_in_flight <= 5:
            raise BadStreamsOption("max_in_flight", max_in_flight, "1..5 to keep idempotent ordering")
        self.bootstrap = bootstrap
        self.topic = topic
        self.ops_topic = ops_topic
        self.producer_name = producer
        self.spool_dir = Path(spool_dir)
        self.compression = best_compression() if compression == "auto" else compression
        self.buffer_memory = buffer_memory
        self.max_block_s = max_block_s
        self.drain_chunk = drain_chunk
        self._producer_config = dict(
            bootstrap_servers=bootstrap,
            client_id=f"ledger-emitter-{producer}",
            acks="all",
            enable_idempotence=True,
            max_in_flight_requests_per_connection=max_in_flight,
            linger_ms=linger_ms,
            batch_size=batch_size,
            compression_type=self.compression,
            max_request_size=max(1024 * 1024, batch_size + 64 * 1024),
            request_timeout_ms=request_timeout_ms,
            delivery_timeout_ms=delivery_timeout_ms,
            max_block_ms=int(max_block_s * 1000),
            bootstrap_timeout_ms=int(connect_timeout_s * 1000),
            reconnect_backoff_max_ms=1000,
        )
        self._producer_config.update(client_options or {})  # security: SASL, TLS
        self._codec = codec or default_codec()
        self._encoder = EventEncoder(self._codec)
        self._sequences = SessionSequences(max_open_sessions)
        self._spools = {name: Spool(self.spool_dir / name) for name in (topic, ops_topic)}
        self._lock = threading.RLock()
        self._inflight: deque[tuple[Any, str, bytes, bytes]] = deque()
        self._inflight_bytes = 0
        self._partitions: dict[str, list[TopicPartition]] = {}
        self._counts = dict(accepted=0, sent_direct=0, spooled=0, acked=0, drained=0, failed=0)
        self._closed = False
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._unreachable_reported = False
        self._producer: KafkaProducer | None = self._connect()
        self._spooling = self._producer is None or any(s.pending for s in self._spools.values())
        self._drainer = threading.Thread(target=self._run, name=f"ledger-emitter-drain-{producer}", daemon=True)
        self._drainer.start()

    @classmethod
    def from_settings(cls, settings: Settings, *, producer: str, spool_dir: Path | None = None,
                      **options: Any) -> SessionEmitter:
        """An emitter on the configured broker and topics, spooling under the state directory,
        with the configured Kafka security (SASL/SCRAM, TLS)."""
        from streams.kafka.config import kafka_python_options

        options.setdefault("client_options", kafka_python_options(settings))
        return cls(
            bootstrap=settings.bootstrap_servers,
            topic=settings.session_topic,
            ops_topic=settings.ops_topic,
            producer=producer,
            spool_dir=spool_dir or settings.state_dir / "spool" / producer,
            **options,
        )

    # --- emitting -------------------------------------------------------------------------

    def emit(self, event: Event) -> Event:
        """Encode ``event`` (seq and all as given) and send or spool it. Returns the event.

        Raises ``InvalidEvent`` / ``EventTooLarge`` (nothing is sent) or ``EmitterClosed``.
        """
        value = self._encoder.encode(event)
        topic = self.topic if type(event) is SessionEvent else self.ops_topic
        key = event.key
        with self._lock:
            if self._closed:
                raise EmitterClosed()
            if type(event) is SessionEvent:
                self._sequences.observe(event)
            self._route(topic, key, value)
        return event

    def emit_fields(self, fields: Mapping[str, Any],
                    check: Callable[[Event], None] | None = None) -> Event:
        """Validate a mapping as an event, filling ``event_id``, ``producer`` and ``seq`` if absent.

        ``check``, if given, sees the validated event before it is sent and may refuse it by
        raising (``ledger emit`` refuses incident milestones out of order this way).
        Raises ``InvalidEvent`` naming the first bad field, ``SequenceUnknown`` when a session's
        next seq cannot be known, ``EventTooLarge``, or what ``check`` raises; nothing is sent
        for a rejected event.
        """
        fields = dict(fields)
        if fields.get("seq") is None:
            fields.pop("seq", None)
        fields.setdefault("event_id", str(uuid.uuid4()))
        fields.setdefault("producer", self.producer_name)
        with self._lock:
            if "seq" not in fields and fields.get("event_type") == SessionEventType.timed_out.value:
                fields["seq"] = DERIVED_SEQ  # the ledger's verdict: outside every sequence
                event = parse_event(fields)
            elif "seq" not in fields and _is_session_type(fields.get("event_type")):
                fields["seq"] = 1  # validated first, numbered below
                event = parse_event(fields)
                seq = self._sequences.next(event.session_id, event.event_type)
                event = event.model_copy(update={"seq": seq})
            else:
                event = parse_event(fields)
            if check is not None:
                check(event)
            return self.emit(event)

    def emit_session(self, event_type: str | SessionEventType, *, session_id: str, **fields: Any) -> Event:
        """Emit the next event of a session: ``emit_session("heartbeat", session_id=s, payload=...)``."""
        return self.emit_fields({**fields, "event_type": str(event_type), "session_id": session_id})

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every event emitted so far is acknowledged by the broker.

        Raises ``BrokerUnreachable`` when some are still unacknowledged after ``timeout``
        seconds; those stay in the producer or the spool and keep being retried.
        """
        deadline = time.monotonic() + timeout
        producer = self._producer
        if producer is not None and not self._spooling:
            try:
                producer.flush(timeout=max(0.0, deadline - time.monotonic()))
            except KafkaError as exc:
                log.info("flush: producer did not finish within %.1fs: %s", timeout, exc)
        while True:
            with self._lock:
                self._sweep()
                pending = len(self._inflight) + self._spool_pending()
            if not pending:
                return
            if time.monotonic() >= deadline:
                raise BrokerUnreachable(
                    self.bootstrap, f"{pending} event(s) not acknowledged within {timeout:.0f}s",
                    pending=self._spool_pending(), spool_dir=self.spool_dir)
            self._wake.set()
            time.sleep(0.02)

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what can be delivered within ``timeout``; spool the rest; stop. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            self.flush(timeout)
        except BrokerUnreachable as exc:
            log.warning("closing with events undelivered; they stay spooled: %s", exc)
        self._stop.set()
        self._wake.set()
        self._drainer.join(timeout=timeout + 5)
        with self._lock:
            self._sweep()
            self._spill()
            producer, self._producer = self._producer, None
        if producer is not None:
            _close_now(producer)
        for spool in self._spools.values():
            spool.close()

    def __enter__(self) -> SessionEmitter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def stats(self) -> EmitterStats:
        with self._lock:
            return EmitterStats(**self._counts, in_flight=len(self._inflight),
                                spool_pending=self._spool_pending(), spooling=self._spooling)

    @property
    def idempotent(self) -> bool:
        """Whether the broker gave this producer an idempotent producer id (after a first send)."""
        producer_id = kafka_compat.producer_id(self._producer)
        return producer_id is not None and producer_id >= 0

    # --- routing (under the lock) -----------------------------------------------------------

    def _route(self, topic: str, key: bytes, value: bytes) -> None:
        self._counts["accepted"] += 1
        if not self._spooling and self._send_direct(topic, key, value):
            return
        self._spools[topic].append(key, value)
        self._counts["spooled"] += 1

    def _send_direct(self, topic: str, key: bytes, value: bytes) -> bool:
        if self._inflight_bytes + len(value) > self.buffer_memory and not self._make_room(len(value)):
            self._start_spooling(f"the send buffer stayed full for {self.max_block_s}s")
            return False
        try:
            future = kafka_compat.enqueue(self._producer, self._partition(topic, key), key, value)
        except KafkaError as exc:
            self._start_spooling(f"send failed: {exc}")
            return False
        self._inflight.append((future, topic, key, value))
        self._inflight_bytes += len(value)
        self._counts["sent_direct"] += 1
        if len(self._inflight) & 1023 == 0:
            self._sweep()
        return True

    def _partition(self, topic: str, key: bytes) -> TopicPartition:
        """The partition kafka-python's default partitioner would pick (murmur2 of the key),
        with the key's hash cached: a session's many events hash once."""
        partitions = self._partitions.get(topic)
        if partitions is None:
            partitions = self._partitions[topic] = _topic_partitions(self._producer, topic)
        return partitions[key_hash(key) % len(partitions)]

    def _make_room(self, size: int) -> bool:
        deadline = time.monotonic() + self.max_block_s
        while self._inflight_bytes + size > self.buffer_memory:
            self._sweep()
            if self._spooling:
                return False
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if self._inflight and self._inflight_bytes + size > self.buffer_memory:
                try:
                    self._inflight[0][0].get(timeout=min(remaining, 0.5))
                except KafkaError as exc:
                    log.debug("oldest in-flight event not acknowledged (%s); the sweep decides", exc)
        return True

    def _sweep(self) -> None:
        """Retire acknowledged events from the front of the window; a failure starts spooling."""
        window = self._inflight
        while window:
            future = window[0][0]
            if not future.is_done:
                return
            if future.failed():
                self._counts["failed"] += 1
                self._start_spooling(f"delivery failed: {future.exception}")
                return
            self._inflight_bytes -= len(window.popleft()[3])
            self._counts["acked"] += 1

    def _start_spooling(self, reason: str) -> None:
        """Spill the window to the spool and drop the producer; the drain builds a fresh one.

        A producer that lost its broker can stay stuck after the broker returns (kafka-python
        keeps retrying batches under a stale producer id), and everything it holds is in the
        spool now, so it is closed without waiting.
        """
        if not self._spooling:
            log.warning("Kafka at %s cannot take events (%s); spooling to %s",
                        self.bootstrap, reason, self.spool_dir)
        self._spooling = True
        self._spill()
        self._drop_producer()
        self._wake.set()

    def _drop_producer(self) -> None:
        producer, self._producer = self._producer, None
        self._partitions.clear()
        if producer is not None:
            _close_now(producer)

    def _spill(self) -> None:
        """Move the unacknowledged window, in send order, to the spool."""
        for future, topic, key, value in self._inflight:
            if future.succeeded():
                self._counts["acked"] += 1
                continue
            self._spools[topic].append(key, value)
            self._counts["spooled"] += 1
        self._inflight.clear()
        self._inflight_bytes = 0

    def _spool_pending(self) -> int:
        return sum(spool.pending for spool in self._spools.values())

    # --- the background drain ---------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            self._wake.wait(0.1)
            self._wake.clear()
            for spool in self._spools.values():
                spool.sync_if_due()
            with self._lock:
                self._sweep()
                spooling = self._spooling
            if not spooling:
                continue
            if self._drain():
                failures = 0
            else:
                failures += 1
                self._stop.wait(backoff.SPOOL_DRAIN.delay(failures))

    def _drain(self) -> bool:
        """Replay the spools in order; switch back to direct once they are empty."""
        producer = self._producer
        if producer is None:
            producer = self._connect()
            if producer is None:
                return False
            with self._lock:
                self._producer = producer
        for topic, spool in self._spools.items():
            replay = spool.replay()
            while not self._stop.is_set():
                records = list(islice(replay, self.drain_chunk))
                if not records:  # caught up with the replay; look again for later appends
                    replay = spool.replay()
                    records = list(islice(replay, self.drain_chunk))
                if not records:
                    break
                if not self._deliver(producer, topic, records):
                    with self._lock:
                        if self._producer is producer:
                            self._drop_producer()
                    return False
                with self._lock:  # one step, so flush() never sees the ack without its effects
                    spool.ack(records[-1].offset)
                    self._counts["drained"] += len(records)
                    self._resume_direct_if_drained()
        with self._lock:
            self._resume_direct_if_drained()
        return True

    def _resume_direct_if_drained(self) -> None:
        if self._spooling and not self._spool_pending() and not self._stop.is_set():
            self._spooling = False
            log.info("spool at %s drained; sending directly again", self.spool_dir)

    def _deliver(self, producer: KafkaProducer, topic: str, records: list) -> bool:
        """Send spooled records and wait for all of them; False if any was not acknowledged
        within the delivery timeout (then the producer is replaced and the chunk sent again)."""
        try:
            partitions = _topic_partitions(producer, topic)
            futures = [
                kafka_compat.enqueue(producer, partitions[key_hash(r.key) % len(partitions)], r.key, r.value)
                for r in records
            ]
        except KafkaError as exc:
            log.info("drain: broker not ready (%s); retrying", exc)
            return False
        deadline = time.monotonic() + self._producer_config["delivery_timeout_ms"] / 1000 + 5
        for future in futures:
            while not future.is_done:
                if self._stop.is_set() or time.monotonic() > deadline:
                    return False
                try:
                    future.get(timeout=0.2)
                except KafkaError:
                    continue  # a timeout waits on; a failure ends the loop via is_done
            if future.failed():
                log.info("drain: delivery failed (%s); retrying from the spool", future.exception)
                return False
        return True

    def _connect(self) -> KafkaProducer | None:
        try:
            producer = KafkaProducer(**self._producer_config)
        except KafkaError as exc:
            level = logging.INFO if self._unreachable_reported else logging.WARNING
            log.log(level, "Kafka at %s is unreachable (%s); events go to the spool at %s",
                    self.bootstrap, exc, self.spool_dir)
            self._unreachable_reported = True
            return None
        self._unreachable_reported = False
        return producer


def _close_now(producer: KafkaProducer) -> None:
    """Close a producer without waiting for what it still holds (that is in the spool)."""
    try:
        producer.close(timeout=0)
    except KafkaError:
        # kafka-python's close() stops at its own flush while records are pending
        kafka_compat.force_close(producer)


def _is_session_type(event_type: object) -> bool:
    return isinstance(event_type, str) and event_type in SessionEventType.__members__
