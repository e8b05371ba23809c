"""A run's table records written at once: one store write and one changelog batch.

Faust writes a table record by record: every ``table[key] = value`` is a store put, a message
through the producer buffer and the client's per-message send, and (once the broker has it) a
persisted-offset put. The fold writes a record per session and per player it changed, and at a
steady rate nearly every event of a run is a different session, so that path was the largest
part of the worker's cost per event (docs/benchmarks.md).

``TableWriter.write(partition, records)`` writes one table partition's records of a run:

- one RocksDB write batch (or the in-memory store's dict), the bytes Faust would store (JSON
  keys, values as they are: app.py);
- one changelog record batch handed to the producer client (``send_batch``), whose
  acknowledgement sets the partition's persisted offset once.

Recovery, standby replicas and Faust's own reads see the same records as before.

Order: every write of a table this writer serves goes through it. The store write and its place
in the partition's queue are taken together, without a wait between them, and one sender per
partition hands the queue to the client in order, so a key's changelog records are in the order
of its store writes, whichever coroutine (a run, a timer) made them.

Nothing lost: ``settle`` (awaited before a run is acknowledged, intake.py) waits for every batch
handed over. A batch the broker did not take is sent again with the value the store holds now
for each of its keys (a tombstone for a key deleted since), so an older value never follows a
newer one; a partition no longer active here is left to its new owner, who recovers it from
the changelog and folds again the input this worker never acknowledged.
"""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from streams.fold import faust_compat as compat
from streams.kafka import backoff
from streams.kafka.backoff import Backoff

log = logging.getLogger(__name__)

Record = tuple[str, "bytes | None"]
"""A table record to write: the key, and the value (None deletes the key)."""

encode_key = orjson.dumps
"""A key as Faust's tables store it and send it to the changelog: its JSON serializer (the
tables' key serializer), which is orjson's ``dumps`` (tests/unit/streams/fold/test_table_writes.py
checks it against Faust's encoder)."""


@dataclass
class _Sent:
    partition: int
    keys: list[str]
    future: asyncio.Future


class TableWriter:
    """Writes the records of one table (JSON keys, raw values) by partition, in batches."""

    backoff: Backoff = backoff.PRODUCE

    def __init__(self, app, table, source_topic: str) -> None:
        if table.key_serializer != "json" or table.value_serializer != "raw":
            raise ValueError(f"table {table.name}: keys must be JSON and values raw bytes to be "
                             f"written in batches, not {table.key_serializer}/{table.value_serializer}")
        self.app = app
        self.table = table
        self.source_topic = source_topic
        """The topic whose partitions the table's partitions follow (its agent's input)."""
        self.changelog = table.changelog_topic.get_topic_name()
        self._locks: dict[int, asyncio.Lock] = {}
        self._queued: dict[int, deque[list[Record]]] = {}
        self._sent: deque[_Sent] = deque()

    # --- reads ----------------------------------------------------------------------------

    def get(self, partition: int, key: str) -> bytes | None:
        """The value stored for ``key`` in ``partition``'s store (what the table answers for
        ``key`` while a message of ``partition`` is being processed)."""
        store = self.table.data
        if compat.rocksdb_databases(store) is None:
            return store.data.get(key)  # the in-memory store keeps keys as they are
        return compat.rocksdb_database(store, partition).get(encode_key(key))

    # --- writes ---------------------------------------------------------------------------

    def write_now(self, partition: int, records: Sequence[Record]) -> None:
        """Store ``records`` in ``partition`` now, and queue them for its changelog (in the
        order of the store writes); ``hand_over`` or ``write`` sends the queue."""
        if not records:
            return
        records = list(records)
        self._store(partition, records)
        self._queued.setdefault(partition, deque()).append(records)

    async def write(self, partition: int, records: Sequence[Record]) -> None:
        """``write_now``, then ``hand_over`` the partition's queue."""
        self.write_now(partition, records)
        await self.hand_over(partition)

    async def hand_over(self, partition: int | None = None) -> None:
        """Hand the records queued for ``partition`` (default: every partition) to the producer
        client, in order; returns once it has them (``settle`` waits for the broker)."""
        for each in (list(self._queued) if partition is None else [partition]):
            async with self._lock(each):  # one sender per partition: the queue's order is kept
                queue = self._queued.get(each)
                while queue:
                    await self._send(each, queue.popleft())

    def _lock(self, partition: int) -> asyncio.Lock:
        lock = self._locks.get(partition)
        if lock is None:
            lock = self._locks[partition] = asyncio.Lock()
        return lock

    def _store(self, partition: int, records: list[Record]) -> None:
        store = self.table.data
        if compat.rocksdb_databases(store) is None:
            data = store.data
            for key, value in records:
                if value is None:
                    data.pop(key, None)
                else:
                    data[key] = value
            return
        batch = compat.rocksdb_write_batch()
        for key, value in records:
            if value is None:
                batch.delete(encode_key(key))
            else:
                batch.put(encode_key(key), value)
        compat.rocksdb_database(store, partition).write(batch)

    async def _send(self, partition: int, records: list[Record]) -> None:
        client = compat.producer_client(self.app.producer)
        batch, keys = client.create_batch(), []
        for key, value in records:
            raw = encode_key(key)
            if batch.append(key=raw, value=value, timestamp=None) is None:
                await self._send_batch(client, batch, partition, keys)
                batch, keys = client.create_batch(), []
                if batch.append(key=raw, value=value, timestamp=None) is None:
                    raise ValueError(f"a {self.table.name} record of {len(value or b'')} bytes "
                                     "does not fit in one producer batch")
            keys.append(key)
        await self._send_batch(client, batch, partition, keys)

    async def _send_batch(self, client, batch, partition: int, keys: list[str]) -> None:
        refused = 0
        while True:
            try:
                future = await client.send_batch(batch, self.changelog, partition=partition)
                break
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - logged and offered again, never dropped
                if self.app.producer.should_stop:
                    raise
                refused += 1
                pause = self.backoff.delay(refused)
                log.warning("the producer refused a %s changelog batch (%s: %s); offering it again "
                            "in %.1f s", self.table.name, type(error).__name__, error, pause)
                await asyncio.sleep(pause)
        count = len(keys)
        future.add_done_callback(lambda done: self._acknowledged(done, partition, count))
        self._sent.append(_Sent(partition, keys, future))

    def _acknowledged(self, future: asyncio.Future, partition: int, count: int) -> None:
        if future.cancelled() or future.exception() is not None:
            return  # sent again by ``settle``
        metadata = future.result()
        self.table.data.set_persisted_offset(metadata.topic_partition, metadata.offset + count - 1)

    # --- settling -------------------------------------------------------------------------

    async def settle(self) -> None:
        """Return once the broker has every record written so far; send again, with the
        store's current values, what it did not take."""
        failures = 0
        await self.hand_over()
        while self._sent:
            sent = self._sent[0]
            try:
                await sent.future
                error = None
            except asyncio.CancelledError:
                raise
            except Exception as failed:  # noqa: BLE001 - sent again below, never dropped
                error = failed
            if not self._sent or self._sent[0] is not sent:
                continue  # a settle beside this one took it
            self._sent.popleft()
            if error is not None:
                if self.app.producer.should_stop:
                    raise error
                failures += 1
                await self._send_again(sent, error, self.backoff.delay(failures))

    async def _send_again(self, sent: _Sent, error: Exception, pause: float) -> None:
        actives = {tp.partition for tp in self.app.assignor.assigned_actives()
                   if tp.topic == self.source_topic}
        if sent.partition not in actives:
            log.warning("%d %s changelog record(s) of partition %d were not taken (%s: %s); the "
                        "partition moved away, its new owner folds its input again",
                        len(sent.keys), self.table.name, sent.partition, type(error).__name__, error)
            return
        log.warning("%d %s changelog record(s) of partition %d were not taken (%s: %s); sending "
                    "the stored values again in %.1f s", len(sent.keys), self.table.name,
                    sent.partition, type(error).__name__, error, pause)
        await asyncio.sleep(pause)
        # Read now and queued behind every write made so far: nothing older can follow it.
        records = [(key, self.get(sent.partition, key)) for key in sent.keys]
        self._queued.setdefault(sent.partition, deque()).append(records)
        await self.hand_over(sent.partition)
