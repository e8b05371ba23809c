"""The registry of erased players on Kafka: a compacted topic, one record per player, keyed by the
erasure key (projections/erasure.py), never by a player id.

- ``record_erasure`` appends one (acknowledged by every in-sync replica) and returns the erasure
  in force: the one already there when the player was erased before (the first token stays), or
  the new one.
- ``read_erasures`` reads the whole registry into an ``ErasedPlayers``.
- ``RegistryFollower`` keeps an ``ErasedPlayers`` current from a background thread, for the
  readers that run for long (the worker, the history sink): a reader that starts loads the
  registry before its first event, then learns each new erasure within about a second.

The topic is compacted with no time limit (an erasure must outlive every copy it governs); it
holds one small record per erased player.
"""
from __future__ import annotations

import logging
import threading
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from projections.erasure import BadErasure, ErasedPlayers, Erasure, Receipt, is_receipt
from streams.errors import RegistryUnreadable

log = logging.getLogger(__name__)

REGISTRY_CONFIG = {"cleanup.policy": "compact", "retention.ms": "-1", "min.compaction.lag.ms": "0"}
"""Topic configs of the erasure registry."""
READ_TIMEOUT_S = 60.0


def ensure_registry(settings) -> None:
    """Create the registry topic (compacted, one partition) if it does not exist."""
    from streams.kafka.config import kafka_python_options
    from streams.kafka.topics import ensure_topics, replication_options

    try:
        ensure_topics(settings.bootstrap_servers, {settings.erasure_topic: 1}, config=REGISTRY_CONFIG,
                      client_options=kafka_python_options(settings), **replication_options(settings))
    except KafkaError as error:
        raise RegistryUnreadable(f"cannot create the erasure registry {settings.erasure_topic!r} at "
                                 f"{settings.bootstrap_servers}: {error}") from error


def _consumer(settings) -> KafkaConsumer:
    from streams.kafka.config import kafka_python_options

    return KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=None,
                         enable_auto_commit=False, request_timeout_ms=15000,
                         **kafka_python_options(settings))


def _take(erased: ErasedPlayers, record, receipts: list | None = None) -> Erasure | None:
    if record.value is None:  # a tombstone: nothing un-erases a player, so none is ever written
        return None
    if is_receipt(record.value):
        if receipts is not None:
            try:
                receipts.append(Receipt.from_json(record.value))
            except BadErasure as error:
                log.warning("erasure registry %s@%d skipped: %s", record.topic, record.offset, error)
        return None
    try:
        erasure = Erasure.from_json(record.value)
    except BadErasure as error:
        log.warning("erasure registry %s@%d skipped: %s", record.topic, record.offset, error)
        return None
    return erasure if erased.add(erasure) else None


def read_erasures(settings, *, timeout_s: float = READ_TIMEOUT_S) -> ErasedPlayers:
    """Every erasure in the registry (an empty set when the topic does not exist yet)."""
    return read_registry(settings, timeout_s=timeout_s)[0]


def read_registry(settings, *, timeout_s: float = READ_TIMEOUT_S) -> tuple[ErasedPlayers, list[Receipt]]:
    """Every erasure and every receipt in the registry, receipts in the order written."""
    erased, receipts, _ = _read_registry(settings, timeout_s)
    return erased, receipts


def _read_registry(settings, timeout_s: float) -> tuple[ErasedPlayers, list[Receipt], dict[int, int]]:
    """``read_registry``, and the offset each partition was read to."""
    erased = ErasedPlayers(settings.pepper)
    ends: dict[int, int] = {}
    receipts: list[Receipt] = []
    topic = settings.erasure_topic
    try:
        consumer = _consumer(settings)
    except KafkaError as error:
        raise RegistryUnreadable(f"cannot reach {settings.bootstrap_servers} to read the erasure "
                                 f"registry {topic!r}: {error}") from error
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            return erased, receipts, ends
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = {tp.partition: end for tp, end in consumer.end_offsets(tps).items()}
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < ends[tp.partition] for tp in tps):
            if time.monotonic() > deadline:
                raise RegistryUnreadable(f"reading the erasure registry {topic!r} took longer than "
                                         f"{timeout_s:.0f} s")
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    _take(erased, record, receipts)
    except KafkaError as error:
        raise RegistryUnreadable(f"reading the erasure registry {topic!r}: {error}") from error
    finally:
        consumer.close()
    return erased, receipts, ends


def record_erasure(settings, erasure: Erasure) -> Erasure:
    """Append ``erasure`` unless its player is in the registry already; the erasure in force."""
    from streams.kafka.config import kafka_python_options

    ensure_registry(settings)
    known = read_erasures(settings).get(erasure.key)
    if known is not None:
        return known
    try:
        producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all",
                                 retries=5, **kafka_python_options(settings))
    except KafkaError as error:
        raise RegistryUnreadable(f"cannot reach {settings.bootstrap_servers} to record the erasure: "
                                 f"{error}") from error
    try:
        producer.send(settings.erasure_topic, key=erasure.key.encode(), value=erasure.to_json()).get(timeout=30)
    except KafkaError as error:
        raise RegistryUnreadable(f"the erasure was not recorded in {settings.erasure_topic!r}: {error}") from error
    finally:
        producer.close(timeout=10)
    return erasure


def record_receipt(settings, receipt: Receipt, producer: KafkaProducer | None = None) -> None:
    """Append ``receipt`` to the registry (acknowledged by every in-sync replica)."""
    from streams.kafka.config import kafka_python_options

    own = producer is None
    try:
        if own:
            producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all",
                                     retries=5, **kafka_python_options(settings))
        producer.send(settings.erasure_topic, key=receipt.registry_key.encode(),
                      value=receipt.to_json()).get(timeout=30)
    except KafkaError as error:
        raise RegistryUnreadable(f"the {receipt.layer} receipt of erasure {receipt.key[:12]}… was not "
                                 f"recorded in {settings.erasure_topic!r}: {error}") from error
    finally:
        if own and producer is not None:
            producer.close(timeout=10)


class RegistryFollower:
    """An ``ErasedPlayers`` kept current by a daemon thread that tails the registry topic.

    ``start`` reads the registry to its end before it returns (so the reader's first event is
    already judged against every erasure recorded before it started), then follows it.
    ``on_erasure`` (optional) is called, from the follower's thread, with each erasure learnt
    after the start. A broker that goes away is retried every few seconds; the erasures known
    stay in force meanwhile.
    """

    POLL_MS = 1000

    def __init__(self, settings, on_erasure=None) -> None:
        self.settings = settings
        self.erased = ErasedPlayers(settings.pepper)
        self.receipts: list[Receipt] = []
        """Every receipt in the registry, as read at the start and followed since."""
        self.on_erasure = on_erasure
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._consumer: KafkaConsumer | None = None
        self._start_at: dict[int, int] = {}
        """Where the follower's thread (re)starts each partition: where ``start`` finished
        reading, then past each record it takes."""

    def start(self) -> ErasedPlayers:
        erased, receipts, self._start_at = _read_registry(self.settings, READ_TIMEOUT_S)
        for erasure in erased.erasures():
            self.erased.add(erasure)
        self.receipts.extend(receipts)
        self._thread = threading.Thread(target=self._run, name="erasure-registry", daemon=True)
        self._thread.start()
        return self.erased

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        topic = self.settings.erasure_topic
        while not self._stop.is_set():
            try:
                consumer = self._consumer or _consumer(self.settings)
                self._consumer = consumer
                if not consumer.assignment():
                    if not consumer.partitions_for_topic(topic):
                        self._stop.wait(5)
                        continue
                    tp = TopicPartition(topic, 0)
                    consumer.assign([tp])
                    if 0 in self._start_at:  # what ``start`` read is known already
                        consumer.seek(tp, self._start_at[0])
                    else:
                        consumer.seek_to_beginning(tp)
                for records in consumer.poll(timeout_ms=self.POLL_MS).values():
                    for record in records:
                        self._start_at[record.partition] = record.offset + 1  # a reconnect resumes here
                        learnt = _take(self.erased, record, self.receipts)
                        if learnt is not None:
                            log.info("erasure %s learnt", learnt.token)
                            if self.on_erasure is not None:
                                self.on_erasure(learnt)
            except Exception as error:  # a reader must not die of its registry: retry
                log.warning("erasure registry %r: %s; retrying", topic, error)
                self._close()
                self._stop.wait(5)
        self._close()

    def _close(self) -> None:
        if self._consumer is not None:
            try:
                self._consumer.close()
            except Exception:
                pass
            self._consumer = None
