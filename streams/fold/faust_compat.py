"""Every private attribute of faust (with its ``mode``) and aiokafka that the worker reads,
writes or overrides, behind small named functions and three thin subclasses.

Nothing else in the tree touches these libraries' private names. ``INTERNALS`` lists each one
with the library it belongs to; tests/unit/streams/fold/test_faust_compat.py checks against the
installed versions that every one still exists with the shape used here, and fails naming it.
"""
from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer
from faust.streams import _current_event
from faust.transport import producer as faust_producer
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP, Message
from faust.types.tuples import FutureMessage
from mode import Service
from mode.utils.futures import notify

INTERNALS: tuple[tuple[str, str, str], ...] = (
    # (library, owner, internal)
    ("faust", "faust.streams", "_current_event"),
    ("faust", "faust.App", "_new_transport"),
    ("faust", "faust.App", "_new_producer_transport"),
    ("faust", "TopicConductor", "_acking_topics"),
    ("faust", "ProducerBuffer", "_send_pending"),
    ("faust", "aiokafka_driver.Producer", "_producer"),
    ("faust", "aiokafka_driver.Consumer", "_new_consumer_thread"),
    ("faust", "aiokafka_driver.Consumer", "_drain_messages"),
    ("faust", "aiokafka_driver.Consumer", "_wait_next_records"),
    ("faust", "aiokafka_driver.Consumer", "_thread"),
    ("faust", "aiokafka_driver.Consumer", "_to_message"),
    ("faust", "aiokafka_driver.Consumer", "_getmany"),
    ("faust", "aiokafka_driver.Consumer", "_get_active_partitions"),
    ("faust", "aiokafka_driver.Consumer", "_set_active_tps"),
    ("faust", "aiokafka_driver.Consumer", "_paused_partitions"),
    ("faust", "aiokafka_driver.Consumer", "_buffered_partitions"),
    ("faust", "aiokafka_driver.Consumer", "_read_offset"),
    ("faust", "aiokafka_driver.Consumer", "_committed_offset"),
    ("faust", "aiokafka_driver.Consumer", "_add_gap"),
    ("faust", "aiokafka_driver.Consumer", "_gap"),
    ("faust", "aiokafka_driver.Consumer", "_acked"),
    ("faust", "aiokafka_driver.Consumer", "_acked_index"),
    ("faust", "aiokafka_driver.Consumer", "_n_acked"),
    ("faust", "aiokafka_driver.Consumer", "_commit_every"),
    ("faust", "aiokafka_driver.Consumer", "_waiting_for_ack"),
    ("faust", "AIOKafkaConsumerThread", "_create_worker_consumer"),
    ("faust", "AIOKafkaConsumerThread", "_ensure_consumer"),
    ("faust", "AIOKafkaConsumerThread", "_consumer"),
    ("faust", "rocksdb.Store", "_dbs"),
    ("faust", "rocksdb.Store", "_db_for_partition"),
    ("mode", "Service", "_stopped"),
    ("aiokafka", "AIOKafkaConsumer", "_fetch_max_wait_ms"),
    ("aiokafka", "AIOKafkaConsumer", "_fetch_min_bytes"),
    ("aiokafka", "AIOKafkaConsumer", "_subscription"),
    ("aiokafka", "AIOKafkaConsumer", "_coordinator"),
    ("aiokafka", "AIOKafkaConsumer", "_fetcher"),
    ("aiokafka", "Fetcher", "_records"),
    ("aiokafka", "Fetcher", "_in_flight"),
)


# --- Subclasses: the overrides of private methods, each handing over to a public hook --------

class App(faust.App):
    """``faust.App`` building its transports from ``transport_class``."""

    transport_class: type[aiokafka_driver.Transport] = aiokafka_driver.Transport

    def _new_transport(self) -> aiokafka_driver.Transport:
        return self.transport_class(self.conf.broker_consumer, self)

    def _new_producer_transport(self) -> aiokafka_driver.Transport:
        return self.transport_class(self.conf.broker_producer, self)


class ConsumerThread(aiokafka_driver.AIOKafkaConsumerThread):
    """Faust's consumer thread, handing each aiokafka consumer it builds to ``client_built``
    before the client starts."""

    def _create_worker_consumer(self, transport: Any) -> AIOKafkaConsumer:
        client = super()._create_worker_consumer(transport)
        self.client_built(client)
        return client

    def client_built(self, client: AIOKafkaConsumer) -> None:
        """Adjust a client just built (not started yet); does nothing here."""


class Consumer(aiokafka_driver.Consumer):
    """Faust's aiokafka consumer, whose fetcher runs ``fetcher_loop`` (instead of Faust's
    message loop) in a ``consumer_thread_class`` client thread, and whose ``getmany`` fetches
    with ``next_records``."""

    consumer_thread_class: type[ConsumerThread] = ConsumerThread

    def _new_consumer_thread(self) -> ConsumerThread:
        return self.consumer_thread_class(self, loop=self.loop, beacon=self.beacon)

    async def _drain_messages(self, fetcher: Service) -> None:
        await self.fetcher_loop(fetcher)

    async def fetcher_loop(self, fetcher: Service) -> None:
        """The fetcher's task: runs until ``fetcher`` or the consumer stops."""
        raise NotImplementedError

    async def _wait_next_records(self, timeout: float) -> tuple[dict[TP, list], set[TP] | None]:
        return await self.next_records(timeout)

    async def next_records(self, timeout: float) -> tuple[dict[TP, list], set[TP] | None]:
        """One fetch, waiting up to ``timeout`` seconds: the records by partition, and the
        partitions it was made for."""
        return await super()._wait_next_records(timeout)


class ProducerBuffer(faust_producer.ProducerBuffer):
    """Faust's producer buffer, whose sending task hands each message to ``hand_to_client``."""

    async def _send_pending(self, fut: FutureMessage) -> None:
        await self.hand_to_client(fut)

    async def hand_to_client(self, fut: FutureMessage) -> None:
        """Give ``fut``'s message to the client, as Faust's buffer does."""
        await super()._send_pending(fut)


# --- The current event (which partition table writes go to) ---------------------------------

@contextmanager
def current_event(event: Any) -> Iterator[None]:
    """Make ``event`` Faust's current event inside the block: table writes go to the changelog
    partition of ``event.message``. Faust keeps only a weak reference: the caller holds ``event``."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


# --- Faust's consumer ------------------------------------------------------------------------

def is_stopped(service: Service) -> bool:
    """Whether ``service`` (a mode service: a consumer, a fetcher) has stopped."""
    return service._stopped.is_set()


def client_thread(consumer: aiokafka_driver.Consumer) -> aiokafka_driver.AIOKafkaConsumerThread:
    """The thread the consumer's aiokafka client runs in."""
    return consumer._thread


def client(thread: aiokafka_driver.AIOKafkaConsumerThread) -> AIOKafkaConsumer:
    """The aiokafka client of ``thread``; raises ``ConsumerNotStarted`` before it is built."""
    return thread._ensure_consumer()


def client_if_built(consumer: aiokafka_driver.Consumer) -> AIOKafkaConsumer | None:
    """The consumer's aiokafka client, or None before its thread built it."""
    return consumer._thread._consumer


def read_offsets(consumer: aiokafka_driver.Consumer) -> dict[TP, int | None]:
    """The last offset read of each partition in this generation (None: none yet); the live
    mapping, written by the caller as it reads."""
    return consumer._read_offset


def committed_offsets(consumer: aiokafka_driver.Consumer) -> dict[TP, int | None]:
    """The committed offset of each partition (None: unknown); the live mapping."""
    return consumer._committed_offset


def buffered_partitions(consumer: aiokafka_driver.Consumer) -> set[TP]:
    """Partitions whose fetched records Faust still holds (the live set)."""
    return consumer._buffered_partitions


def paused_partitions(consumer: aiokafka_driver.Consumer) -> set[TP]:
    """Partitions Faust has paused (the live set)."""
    return consumer._paused_partitions


def active_partitions(consumer: aiokafka_driver.Consumer) -> set[TP]:
    """Assigned partitions not paused: the live set that pausing and resuming changes."""
    return consumer._get_active_partitions()


def set_active_partitions(consumer: aiokafka_driver.Consumer, tps: set[TP]) -> None:
    """Make ``tps`` the consumer's active partitions, as an assignment does."""
    consumer._set_active_tps(tps)


async def fetch(consumer: aiokafka_driver.Consumer, partitions: set[TP], timeout: float) -> dict[TP, list]:
    """One fetch from the client for ``partitions``, waiting up to ``timeout`` seconds: the
    records fetched, by partition. An empty ``partitions`` means every assigned partition."""
    return await consumer._getmany(active_partitions=partitions, timeout=timeout)


NO_PARTITION = TP("", -1)
"""A partition no consumer is ever assigned: a fetch for it alone returns nothing."""


async def poll_for_nothing(consumer: aiokafka_driver.Consumer, timeout: float) -> dict[TP, list]:
    """A fetch for ``NO_PARTITION`` alone: returns after ``timeout`` seconds with nothing, and
    no record of any partition is taken from the client (its positions stay where they are), yet
    the client counts it as a poll. aiokafka leaves the group of a client not polled for
    ``max_poll_interval_ms`` and rejoins only once it is polled again (its coordinator's
    ``fetcher_idle_time``), while Faust polls only once it has an assignment: holding the
    intake without polling would leave the worker outside its group for good. Returns what the
    fetch returned: nothing, unless a later client no longer filters by partition."""
    return await consumer._getmany(active_partitions={NO_PARTITION}, timeout=timeout)


def to_message(consumer: aiokafka_driver.Consumer, tp: TP, record: Any) -> Message:
    """The Faust message made of one fetched record of ``tp``."""
    return consumer._to_message(tp, record)


async def add_gap(consumer: aiokafka_driver.Consumer, tp: TP, start: int, end: int) -> None:
    """Record offsets ``start`` to ``end`` (exclusive) of ``tp`` as a gap the commit passes over."""
    await consumer._add_gap(tp, start, end)


def gaps(consumer: aiokafka_driver.Consumer, tp: TP) -> Any:
    """The gaps recorded for ``tp`` (an interval tree), or None if none was."""
    return consumer._gap.get(tp)


def acked_offsets(consumer: aiokafka_driver.Consumer, tp: TP) -> tuple[set[int], list[int]]:
    """The offsets of ``tp`` acknowledged and not yet committed: the live index and list Faust's
    commit reads. Change them only under ``faust.types.tuples.ack_lock``."""
    return consumer._acked_index[tp], consumer._acked[tp]


def count_acked(consumer: aiokafka_driver.Consumer, count: int) -> None:
    """Add ``count`` acknowledgements to those ``commit_due`` counts (under ``ack_lock``)."""
    consumer._n_acked += count


def acked_count(consumer: aiokafka_driver.Consumer) -> int:
    """Acknowledgements counted since the last commit ``commit_due`` asked for."""
    return consumer._n_acked


def commit_due(consumer: aiokafka_driver.Consumer) -> bool:
    """Whether ``broker_commit_every`` acknowledgements were counted since the last commit it
    asked for; True restarts the count, and the caller commits."""
    every = consumer._commit_every
    if every is not None and consumer._n_acked >= every:
        consumer._n_acked = 0
        return True
    return False


def notify_acked(consumer: aiokafka_driver.Consumer) -> None:
    """Wake whoever waits for an acknowledgement (Faust's commit, as ``Consumer.ack`` does)."""
    notify(consumer._waiting_for_ack)


def acking_topics(app: faust.App) -> set[str]:
    """Topics whose messages Faust acknowledges and commits (the live set the conductor fills)."""
    return app.topics._acking_topics


# --- Faust's producer ------------------------------------------------------------------------

def producer_client(producer: aiokafka_driver.Producer) -> Any:
    """The producer's aiokafka client, or None before it started."""
    return producer._producer


# --- Faust's tables --------------------------------------------------------------------------

def rocksdb_databases(store: Any) -> dict[int, Any] | None:
    """The open RocksDB database of each partition of a table's store, or None for a store
    that is not RocksDB's."""
    return getattr(store, "_dbs", None)


def rocksdb_database(store: Any, partition: int) -> Any:
    """The RocksDB database of ``partition`` of a table's RocksDB store, opened if it was not."""
    return store._db_for_partition(partition)


def rocksdb_write_batch() -> Any:
    """An empty write batch for the databases Faust opens (raw bytes keys and values)."""
    from rocksdict import WriteBatch

    return WriteBatch(raw_mode=True)


def roll_rocksdb_manifests(max_bytes: int) -> None:
    """Give every RocksDB database opened from now on ``max_manifest_file_size = max_bytes``.

    A MANIFEST logs each version of the database's file set, smallest and largest key of every
    file included, and RocksDB starts a new one (deleting the old) only past that size: with
    the default (1 GiB) the keys of files compacted away long ago, an erased player's id among
    them, stay in it for the life of the store.
    """
    from faust.stores import rocksdb as faust_rocksdb

    original = faust_rocksdb.RocksDBOptions.as_options
    if getattr(original, "manifest_bytes", None) == max_bytes:
        return
    original = getattr(original, "wrapped", original)

    def as_options(self):
        options = original(self)
        if self.use_rocksdict:
            options.set_max_manifest_file_size(max_bytes)
        return options

    as_options.wrapped = original
    as_options.manifest_bytes = max_bytes
    faust_rocksdb.RocksDBOptions.as_options = as_options


# --- aiokafka's consumer client ---------------------------------------------------------------

def set_fetch_max_wait(client: AIOKafkaConsumer, ms: int) -> None:
    """How long the broker may hold a fetch of ``client`` waiting for data, in ms; read by the
    fetcher the client starts, so set it before the client starts."""
    client._fetch_max_wait_ms = ms


def set_fetch_min_bytes(client: AIOKafkaConsumer, size: int) -> None:
    """How many bytes the broker gathers for a fetch of ``client`` before it answers (unless the
    fetch wait runs out first); read by the fetcher the client starts, so set it before."""
    client._fetch_min_bytes = size


def client_parts(client: AIOKafkaConsumer) -> tuple[Any, Any, Any]:
    """The client's subscription state, group coordinator and fetcher (the last two None
    before it started)."""
    return client._subscription, client._coordinator, client._fetcher


def in_flight_nodes(fetcher: Any) -> set[int]:
    """Broker nodes a fetch of ``fetcher`` is out to."""
    return getattr(fetcher, "_in_flight", set())


def holds_records(fetcher: Any, tp: TP) -> bool:
    """Whether ``fetcher`` holds fetched records of ``tp`` not yet handed out."""
    return tp in fetcher._records
