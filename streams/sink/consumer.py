"""The history sink: session and ops events from Kafka into the warehouse, nothing lost, nothing twice.

    sink = HistorySink.from_settings(settings, warehouse)
    sink.run(stop)                      # or sink.poll_once() step by step

How it keeps the promise of the brief ("offsets are committed only after ClickHouse accepted
the batch; a re-delivered batch does not duplicate rows; while ClickHouse is down the sink waits
and retries and loses nothing"):

- Messages are buffered per topic-partition and flushed as one batch when ``batch_max_events``
  messages are waiting or the oldest has waited ``batch_max_wait_s``.
- A batch is written as one insert per table (``write_rows``: the slices' rows as columns)
  under a dedup token naming its ranges: a single partition's slice keeps
  ``<topic>/<partition>/<first offset>-<last offset>``, several are named together
  (``streams.sink.batch.batch_token``). The same ranges delivered again carry the same token
  and ClickHouse drops them; ranges cut differently collapse in the ReplacingMergeTree tables
  (docs/warehouse.md).
- Offsets are committed explicitly (``enable_auto_commit=False``), one past the last offset of
  each slice the warehouse accepted, and only then.
- A message that cannot be decoded goes to the dead-letter topic with headers ``reason``,
  ``source_topic``, ``source_partition`` and ``source_offset``; its offset still counts in its
  slice, so the commit moves past it once the dead letter is acknowledged.
- While writes fail, every assigned partition is paused, the same slice is retried with capped,
  jittered exponential backoff (each retry logged), and polling goes on so the consumer stays
  in its group; partitions resume once the write succeeds.
- On a rebalance, slices already written are committed and the rest is dropped unwritten: the
  next owner of the partition reads it again from the committed offset.
- With a ``disk_guard`` (streams/disk_guard.py; ``run_sink`` gives it one for embedded chDB),
  while the filesystem of the warehouse is nearly full every assigned partition is paused and
  nothing is written or committed (what was read stays buffered, unwritten); polling goes on so
  the consumer stays in its group, and partitions resume once the guard lets go.
- Erased players (streams/sink/erasure.py): every batch's session rows are anonymised for the
  erasures known when it is written (``batch.anonymise_rows``), so neither new events nor a
  replay of old offsets bring an erased id back; between batches the sink rewrites the history
  for each erasure learnt since (analytics/erasure.py). ``run_sink`` loads the registry before
  the first insert.
"""
from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any, Callable, Iterable, Protocol

from kafka import KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from analytics.rows import write_rows
from analytics.warehouse import Warehouse
from schemas.batch import BatchDecoder
from schemas.errors import InvalidMessage, Unavailable
from streams.disk_guard import DiskGuard
from streams.errors import BadStreamsOption, DeadLetterFailed
from streams.kafka.backoff import DEAD_LETTERS, WAREHOUSE, Backoff
from streams.kafka.deadletters.letter import DeadLetter, WrittenLetters
from streams.kafka.deadletters.limit import DeadLetterLimit, LetterCount
from streams.sink.batch import SinkStats, Slice, anonymise_rows, batch_token, decode_into
from streams.sink.client import KAFKA_ERRORS, Run, SinkConsumer

log = logging.getLogger("ledger.sink")

DEFAULT_GROUP_ID = "ledger-sink"
HOLD_POLL_S = 0.5
"""How long one poll waits while the disk guard holds the sink."""


# --- dead letters ----------------------------------------------------------------------------


class DeadLetters(Protocol):
    """Where undecodable messages go. ``flush`` returns once every letter is acknowledged."""

    def send(self, message: Any, error: InvalidMessage) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


def dead_letter(message: Any, error: InvalidMessage) -> DeadLetter:
    """The letter the sink writes for ``message`` (streams/kafka/deadletters/letter.py)."""
    return DeadLetter(reason=error.code, error=error, source_topic=message.topic, partition=message.partition,
                      offset=message.offset, detected_by="sink")


def dead_letter_headers(message: Any, error: InvalidMessage) -> list[tuple[str, bytes]]:
    """The headers of the sink's letter for ``message``: the reason code, the error, where the
    message came from, and that the sink found it."""
    return dead_letter(message, error).headers()


class KafkaDeadLetters:
    """Dead letters to a Kafka topic: the original key and bytes, the reason in the headers.

    A letter the producer or the broker refuses is sent again at each ``flush``, up to
    ``attempts`` sends with backoff in between; then ``flush`` raises ``DeadLetterFailed``
    and the sink stops (it never commits past a message it could not dead-letter).
    """

    def __init__(self, bootstrap: str, topic: str, flush_timeout_s: float = 30.0,
                 client_options: dict[str, Any] | None = None, attempts: int = 5,
                 backoff: Backoff = DEAD_LETTERS) -> None:
        self.topic = topic
        self._flush_timeout_s = flush_timeout_s
        self._attempts = attempts
        self._backoff = backoff
        self._producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                                       max_request_size=2 * 1024 * 1024, **(client_options or {}))
        self._pending: list[tuple[str, tuple, Any]] = []  # (letter id, (key, value, headers), future)

    def send(self, message: Any, error: InvalidMessage) -> None:
        letter = dead_letter(message, error)
        record = letter.message(message.key, message.value, message.headers)
        self._pending.append((letter.letter_id, record, self._send(record)))

    def _send(self, record: tuple) -> Any:
        key, value, headers = record
        try:
            return self._producer.send(self.topic, key=key, value=value, headers=headers)
        except KafkaError as error:
            return error  # refused before it left: sent again by flush

    def flush(self) -> None:
        for attempt in range(1, self._attempts + 1):
            self._producer.flush(timeout=self._flush_timeout_s)
            failed = [(lid, record, error) for lid, record, future in self._pending
                      if (error := _failure(future)) is not None]
            if not failed:
                self._pending = []
                return
            if attempt == self._attempts:
                letter_id, _, error = failed[0]
                raise DeadLetterFailed(letter_id, self.topic, attempt, f"{type(error).__name__}: {error}")
            log.warning("%d dead letter(s) refused (attempt %d of %d), first %s: %s; sending again",
                        len(failed), attempt, self._attempts, failed[0][0], failed[0][2])
            time.sleep(self._backoff.delay(attempt))
            self._pending = [(lid, record, self._send(record)) for lid, record, _ in failed]

    def close(self) -> None:
        self._producer.close(timeout=5)


def _failure(future: Any) -> Exception | None:
    """The error of a send (a refused one is its KafkaError), or None once the broker has it."""
    if isinstance(future, Exception):
        return future
    try:
        future.get(timeout=0)
    except KafkaError as error:
        return error
    return None


class CallbackDeadLetters:
    """Dead letters handed to a function ``(message, error) -> None``; flush is a no-op."""

    def __init__(self, callback: Callable[[Any, InvalidMessage], None]) -> None:
        self._callback = callback

    def send(self, message: Any, error: InvalidMessage) -> None:
        self._callback(message, error)

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None


# --- the sink --------------------------------------------------------------------------------


class HistorySink:
    """Consumes the ledger topics and writes them to the warehouse in batches (see the module doc)."""

    def __init__(
        self,
        *,
        bootstrap: str,
        topics: Iterable[str],
        warehouse: Warehouse,
        dead_letters: DeadLetters | Callable[[Any, InvalidMessage], None],
        group_id: str = DEFAULT_GROUP_ID,
        batch_max_events: int = 50_000,
        batch_max_wait_s: float = 1.0,
        backoff: Backoff = WAREHOUSE,
        consumer_config: dict[str, Any] | None = None,
        dead_letter_limit: DeadLetterLimit = DeadLetterLimit(),
        disk_guard: DiskGuard | None = None,
        eraser: Any = None,
    ) -> None:
        if batch_max_events < 1 or batch_max_wait_s <= 0:
            raise BadStreamsOption("batch_max_events, batch_max_wait_s", (batch_max_events, batch_max_wait_s),
                                   "batch_max_events >= 1 and batch_max_wait_s > 0")
        self.topics = list(topics)
        self.warehouse = warehouse
        self.eraser = eraser
        """A ``streams.sink.erasure.HistoryEraser``, started (None: no erasure is applied)."""
        self.dead_letters = (dead_letters if hasattr(dead_letters, "flush")
                             else CallbackDeadLetters(dead_letters))
        self.batch_max_events = batch_max_events
        self.batch_max_wait_s = batch_max_wait_s
        self.backoff = backoff
        self.stats = SinkStats()
        self.letters = LetterCount(dead_letter_limit, "sink")
        self._lettered = WrittenLetters()
        self._stop = threading.Event()
        self._slices: dict[TopicPartition, Slice] = {}
        self.decoder = BatchDecoder()
        self._buffered = 0
        self._batch_started: float | None = None
        self._paused = False
        self.disk_guard = disk_guard
        self._disk_held = False
        self._revoked: set[TopicPartition] = set()
        config = {
            "bootstrap_servers": bootstrap, "group_id": group_id, "enable_auto_commit": False,
            "auto_offset_reset": "earliest", "max_partition_fetch_bytes": 8 * 1024 * 1024,
            "fetch_max_bytes": 64 * 1024 * 1024, "client_id": f"{group_id}-sink",
        }
        config.update(consumer_config or {})
        self.consumer = SinkConsumer(config, self.topics, on_assigned=self._on_assigned,
                                     on_revoked=self._on_revoked)

    @classmethod
    def from_settings(cls, settings: Any, warehouse: Warehouse, **options: Any) -> HistorySink:
        """A sink on the session and ops topics of ``settings``, dead letters to its topic.

        The Kafka security settings (SASL/SCRAM, TLS) apply to the consumer and the dead-letter
        producer alike.
        """
        from streams.kafka.config import kafka_python_options

        security = kafka_python_options(settings)
        dead_letters = options.pop("dead_letters", None) or KafkaDeadLetters(
            settings.bootstrap_servers, settings.dead_letter_topic, client_options=security,
            attempts=settings.dead_letter_attempts)
        options.setdefault("dead_letter_limit", settings.dead_letter_limit)
        options["consumer_config"] = {**security, **(options.get("consumer_config") or {})}
        return cls(bootstrap=settings.bootstrap_servers,
                   topics=[settings.session_topic, settings.ops_topic],
                   warehouse=warehouse, dead_letters=dead_letters, **options)

    # -- the loop -------------------------------------------------------------------------

    def run(self, stop: threading.Event | None = None) -> SinkStats:
        """Poll, batch and write until ``stop`` is set; then write what is buffered and close."""
        if stop is not None:
            self._stop = stop
        try:
            while not self._stop.is_set():
                self.poll_once()
            if self._disk_held:
                log.warning("stopping while the disk is low: %d buffered message(s) left unwritten and "
                            "uncommitted, read again by the next run", self._buffered)
            else:
                self.flush()
        finally:
            self.close()
        return self.stats

    def poll_once(self, timeout_s: float | None = None) -> int:
        """Read what is waiting, and write a batch if it is full or old enough; returns rows written.
        While the disk guard holds, only keeps the group membership alive and writes nothing."""
        if self._held_for_disk():
            self._take(self.consumer.poll(HOLD_POLL_S if timeout_s is None else timeout_s,
                                          max_records=self.batch_max_events))
            self._measure_lag()
            return 0
        if self.eraser is not None:  # a rewrite writes parts: not while the disk guard holds
            self.eraser.run_due()
        wait = self.batch_max_wait_s if timeout_s is None else timeout_s
        if self._batch_started is not None:
            wait = max(0.0, min(wait, self._batch_started + self.batch_max_wait_s - time.monotonic()))
        records = self.consumer.poll(wait, max_records=max(1, self.batch_max_events - self._buffered))
        self._take(records)
        self._measure_lag()
        if self._batch_due():
            return self.flush()
        return 0

    def flush(self) -> int:
        """Write every buffered slice as one insert per table (retrying while the warehouse
        fails), then commit them.

        Returns the rows written. A slice whose partition is revoked meanwhile is dropped
        unwritten (its next owner reads it again from the committed offset) and the rest is
        written without it; when ``stop`` is set during an outage the rest is left uncommitted,
        for the next run to read again.
        """
        batch = list(self._slices.values())
        if not batch:
            return 0
        rows = 0
        while pending := [p for p in batch if not p.written and p.partition not in self._revoked]:
            written = self._retrying(lambda: self._write(pending), f"write {batch_token(pending)}",
                                     {p.partition for p in pending})
            if written is None and self._stop.is_set():
                break
            rows += written or 0
        if self._retrying(self.dead_letters.flush, "flush dead letters", None) is not None:
            self._commit([p for p in batch if p.written])
            self.stats.batches += 1
        self._resume()
        self._forget(batch)
        return rows

    def close(self) -> None:
        """Leave the group without committing anything unwritten."""
        try:
            self.consumer.close()
        finally:
            self.dead_letters.close()

    # -- reading --------------------------------------------------------------------------

    def _take(self, records: dict[TopicPartition, Run]) -> None:
        """Buffer what a poll brought, each partition's messages decoded in one call; raises
        ``DeadLetterLimitExceeded`` past the limit."""
        read, letters = 0, []
        for partition, run in records.items():
            if not len(run):
                continue
            piece = self._slices.get(partition)
            if piece is None:
                first = run.first_offset
                piece = self._slices[partition] = Slice(partition, first, first)
            if self._batch_started is None:
                self._batch_started = time.monotonic()
                if self.stats.first_read_at is None:
                    self.stats.first_read_at = self._batch_started
            for message, error in decode_into(piece, run, self.decoder):
                if self._dead_letter(message, error):
                    letters.append(error.code)
            self._buffered += len(run)
            read += len(run)
        if read:
            self.letters.observe(read, letters, time.monotonic())

    def _dead_letter(self, message: Any, error: InvalidMessage) -> bool:
        """Send ``message``'s letter unless this reader wrote it already; whether it did now."""
        letter_id = dead_letter(message, error).letter_id
        if letter_id in self._lettered:
            return False  # read again after a rebalance or a retry: written already
        log.warning("dead-lettering %s/%d@%d: %s", message.topic, message.partition,
                    message.offset, error)
        self.dead_letters.send(message, error)
        self._lettered.add(letter_id)
        self.stats.dead_letters += 1
        return True

    def _batch_due(self) -> bool:
        if not self._slices:
            return False
        if self._buffered >= self.batch_max_events:
            return True
        return time.monotonic() - self._batch_started >= self.batch_max_wait_s

    def _measure_lag(self) -> None:
        for partition in self.consumer.assignment():
            try:
                lag = self.consumer.lag(partition)
            except KAFKA_ERRORS:
                continue
            if lag is not None:  # None: nothing fetched from it yet
                self.stats.lag[f"{partition.topic}/{partition.partition}"] = lag

    # -- writing --------------------------------------------------------------------------

    def _write(self, pieces: list[Slice]) -> int:
        """Insert the rows of ``pieces`` into each table at once, under their batch token."""
        if len(pieces) == 1:
            sessions, ops = pieces[0].sessions, pieces[0].ops
        else:
            sessions = [row for piece in pieces for row in piece.sessions]
            ops = [row for piece in pieces for row in piece.ops]
        if self.eraser is not None:
            sessions, anonymised = anonymise_rows(sessions, self.eraser.erased)
            self.stats.anonymised_rows += anonymised
        sessions, ops = write_rows(self.warehouse, sessions, ops, dedup_token=batch_token(pieces))
        for piece in pieces:
            piece.written = True
        self.stats.session_rows += sessions
        self.stats.ops_rows += ops
        self.stats.rows += sessions + ops
        return sessions + ops

    def _retrying(self, action: Callable[[], Any], what: str,
                  partitions: set[TopicPartition] | None) -> Any:
        """``action()`` until it succeeds; None when stopped or one of ``partitions`` is
        revoked first."""
        attempt = 0
        while True:
            try:
                result = action()
            except (Unavailable, *KAFKA_ERRORS) as error:  # the Kafka clients' errors reach here untranslated
                if isinstance(error, Unavailable) and not error.retryable:
                    raise  # its own attempts are spent (DeadLetterFailed): the sink stops
                attempt += 1
                self.stats.retries += 1
                self.stats.last_error = str(error)
                self._pause()
                delay = self.backoff.delay(attempt)
                log.warning("%s failed (attempt %d): %s; partitions paused, retrying in %.2fs",
                            what, attempt, error, delay)
                if not self._wait(delay, partitions):
                    log.warning("%s abandoned uncommitted (%s); Kafka will deliver it again", what,
                                "stopping" if self._stop.is_set() else "partition revoked")
                    return None
                continue
            if attempt:
                log.info("%s succeeded after %d retries", what, attempt)
            return 0 if result is None else result

    def _wait(self, delay_s: float, partitions: set[TopicPartition] | None) -> bool:
        """Keep the group membership alive for ``delay_s``; False if stopped or one of
        ``partitions`` is revoked meanwhile."""
        deadline = time.monotonic() + delay_s
        while (left := deadline - time.monotonic()) > 0:
            if self._stop.is_set():
                return False
            self._take(self.consumer.poll(min(left, 0.5) + 0.001, max_records=self.batch_max_events))
            if partitions and not partitions.isdisjoint(self._revoked):
                return False
        return not self._stop.is_set()

    def _commit(self, pieces: list[Slice]) -> None:
        offsets = {p.partition: p.next_offset for p in pieces if p.partition not in self._revoked}
        if not offsets:
            return
        try:
            self.consumer.commit(offsets)
            self.stats.commits += 1
        except KAFKA_ERRORS as error:
            # The rows are in. A later commit covers this range; if none comes (a crash, a
            # rebalance), the range is read again and dropped by its dedup token.
            self.stats.last_error = str(error)
            log.warning("commit of %s failed after the write (%s); it will be covered by the next "
                        "commit or re-delivered and dropped by its dedup token", _ranges(pieces), error)

    def _held_for_disk(self) -> bool:
        """Ask the disk guard; pause every assigned partition when it starts holding, resume them
        when it lets go."""
        held = self.disk_guard is not None and self.disk_guard.holding(time.monotonic())
        if held and not self._disk_held:
            assigned = self.consumer.assignment()
            if assigned:
                self.consumer.pause(*assigned)
        elif self._disk_held and not held:
            paused = self.consumer.paused()
            if paused:
                self.consumer.resume(*paused)
        self._disk_held = held
        self.stats.disk_low = held
        self.stats.disk_pauses = 0 if self.disk_guard is None else self.disk_guard.pauses
        return held

    def status(self) -> dict[str, Any]:
        """The sink's state for its warehouse owner's /status: ``status`` is ``disk_low`` while
        the disk guard holds it (with ``disk``: path, free_bytes, threshold_bytes), else ``ok``;
        ``stats`` are its figures (``SinkStats.as_dict``)."""
        guard = self.disk_guard
        body: dict[str, Any] = {"status": "disk_low" if self._disk_held else "ok",
                                "stats": self.stats.as_dict()}
        if guard is not None and guard.reading is not None:
            body["disk"] = guard.reading.as_dict()
        return body

    def _pause(self) -> None:
        assigned = self.consumer.assignment()
        if assigned:
            self.consumer.pause(*assigned)
        self._paused = True

    def _resume(self) -> None:
        if self._paused and not self._disk_held:
            paused = self.consumer.paused()
            if paused:
                self.consumer.resume(*paused)
            self._paused = False
            log.info("partitions resumed")

    def _forget(self, batch: list[Slice]) -> None:
        """Drop a flushed batch from the buffer, keeping anything read while it was written."""
        for piece in batch:
            if self._slices.get(piece.partition) is piece:
                del self._slices[piece.partition]
        self._recount()
        if not self._slices:
            self._revoked.clear()

    def _recount(self) -> None:
        self._buffered = sum(p.messages for p in self._slices.values())
        if not self._slices:
            self._batch_started = None

    # -- rebalancing ----------------------------------------------------------------------

    def _on_revoked(self, revoked: set[TopicPartition]) -> None:
        written = [p for p in self._slices.values() if p.written and p.partition in revoked]
        self._commit(written)
        dropped = [p for p in self._slices.values() if not p.written and p.partition in revoked]
        self.stats.dropped_on_rebalance += sum(piece.messages for piece in dropped)
        if dropped:
            log.info("partitions revoked: dropped unwritten %s, the next owner reads them again",
                     _ranges(dropped))
        self._revoked |= set(revoked)
        for partition in revoked:
            self._slices.pop(partition, None)
        self._recount()

    def _on_assigned(self, assigned: set[TopicPartition]) -> None:
        self._revoked -= set(assigned)
        if (self._paused or self._disk_held) and assigned:
            self.consumer.pause(*assigned)  # an outage or a low disk: read nothing new until it ends


def _ranges(pieces: Iterable[Slice]) -> str:
    return ", ".join(p.dedup_token for p in pieces) or "nothing"


# --- the process -----------------------------------------------------------------------------


def run_sink(settings: Any, *, stop: threading.Event | None = None, **options: Any) -> SinkStats:
    """Run the sink of ``settings`` until ``stop`` is set (or SIGTERM/SIGINT in the main thread).

    Opens the warehouse (chDB at ``settings.chdb_path`` or the ClickHouse server of
    ``settings.clickhouse_url``), waiting with backoff while it cannot be reached, applies the
    migrations, then consumes the session and ops topics until stopped. ``options`` go to
    ``HistorySink`` (``group_id``, ``batch_max_events``, ``batch_max_wait_s``, ``backoff``,
    ``consumer_config``, e.g. ``{"group_instance_id": "sink-1"}`` so a restarted sink takes its
    partitions back at once). The erasure registry is read before the first insert (retried
    while it cannot be) and followed while the sink runs (streams/sink/erasure.py). Returns the
    sink's stats.
    """
    from analytics.migrate import migrate
    from analytics.retention import WarehouseRetention
    from analytics.serve.owner import ServedWarehouse
    from streams.kafka.replication import session_topic_warnings

    stop = stop or _stop_on_signals()
    warehouse = _open_when_reachable(settings, stop)
    if warehouse is None:
        return SinkStats()
    with warehouse:
        migrate(warehouse, retention=WarehouseRetention.from_settings(settings))
        session_topic_warnings(settings)  # logged at ERROR: the sink has no /health to show it
        if not settings.clickhouse_url:
            options.setdefault("disk_guard", DiskGuard(settings.chdb_path, settings.disk_policy, "sink"))
        eraser = _start_eraser(settings, warehouse, stop)
        if eraser is None:
            return SinkStats()
        try:
            sink = HistorySink.from_settings(settings, warehouse, eraser=eraser, **options)
            if isinstance(warehouse, ServedWarehouse):
                warehouse.report_status(sink.status)
            log.info("sink consuming %s into %s (%d erasure(s) in force)", ", ".join(sink.topics),
                     _where(settings), len(eraser.erased))
            return sink.run(stop)
        finally:
            eraser.stop()


def _start_eraser(settings: Any, warehouse: Warehouse, stop: threading.Event) -> Any:
    """The sink's ``HistoryEraser``, started: the registry read before any row is written
    (retried with backoff while it cannot be); None if stopped first."""
    from streams.sink.erasure import HistoryEraser

    backoff, attempt = WAREHOUSE, 0
    while not stop.is_set():
        eraser = HistoryEraser(settings, warehouse)
        try:
            eraser.start()
            return eraser
        except Unavailable as error:
            eraser.stop()
            attempt += 1
            delay = backoff.delay(attempt)
            log.warning("erasures not known yet, nothing written: %s; retrying in %.2fs (attempt %d)",
                        error, delay, attempt)
            stop.wait(delay)
    return None


def _open_when_reachable(settings: Any, stop: threading.Event) -> Warehouse | None:
    from analytics.serve.owner import open_owned

    backoff, attempt = WAREHOUSE, 0
    while not stop.is_set():
        try:
            return open_owned(settings)  # chDB: its owner serves reads to other processes (analytics/serve)
        except Unavailable as error:
            attempt += 1
            delay = backoff.delay(attempt)
            log.warning("%s; retrying in %.2fs (attempt %d)", error, delay, attempt)
            stop.wait(delay)
    return None


def _where(settings: Any) -> str:
    return "the ClickHouse server" if settings.clickhouse_url else f"chDB at {settings.chdb_path}"


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    return stop


if __name__ == "__main__":
    from streams.settings import load_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    print(run_sink(load_settings()).as_dict(), flush=True)
