"""How the worker's messages reach its agents: a fetched run of one partition at a time.

The consumer groups what one fetch returned by partition and awaits the topic's *batch agent*
once per run of messages, in offset order (why: docs/worker.md, "Why the intake works this
way"). Everything else stays Faust's: the consumer group and its assignor, the tables with
their changelogs and recovery, the producer, the commit timer, the web server. Messages of any
topic without a batch agent (Faust's own) still take Faust's path.

A batch agent is ``async def agent(tp, messages) -> None``; table writes inside it go to the
changelog partition of the run. Once the agents of a fetch returned and the broker has
acknowledged everything they sent (table changelog records included), every message of those
runs is acknowledged, and the offsets are committed by Faust's commit timer; were the
worker killed before that, the run is delivered again, so an agent must make repeats harmless
(the ledger's folds do). An agent never sees a message twice in one generation: offsets below
the last one read are dropped, as Faust drops them, and a run is abandoned when a rebalance
starts a new generation (the new owner reads it again from the committed offset).
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import faust
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP, Message, TopicT
from faust.types.tuples import ack_lock
from mode import Service

from streams.disk_guard import DiskGuard
from streams.errors import ReaderHalted
from streams.fold import faust_compat as compat
from streams.fold import stall
from streams.fold.errors import RunAbandoned
from streams.fold.producer import PatientProducer
from streams.kafka import backoff

log = logging.getLogger(__name__)

Record = ConsumerRecord
"""A message as the client fetched it (topic, partition, offset, key, value, headers): a batch
agent's runs are lists of these, not of Faust's messages, which would copy each one again."""
BatchAgent = Callable[[TP, list[Record]], Awaitable[None]]

RUN_MAX = 2000
"""Messages of one partition handed to an agent at once (a larger fetch is split): the web
server shares the event loop, so a run is kept to a fraction of a second."""
IDLE_WAIT_S = 0.05
"""How long the fetcher waits before looking again while every partition is paused."""
HOLD_WAIT_S = 1.0
"""How long one poll for nothing waits while the disk guard holds the intake."""
"""Pause after a run failed, doubling up to the maximum while it keeps failing."""
WAIT_EMPTY_S = 8.0
"""How long a rebalance waits for the run being folded (below the 10 s session timeout)."""
FETCH_MAX_WAIT_MS = 100
"""How long the broker may hold a fetch waiting for data, in ms (Faust sets 1,500): the most a
fetch adds to an event's way to visible, and an idle worker sends 10 empty fetches a second
(docs/worker.md, "Why the intake works this way")."""
FETCH_MIN_BYTES = 512 * 1024
"""What the broker gathers before it answers a fetch, unless ``FETCH_MAX_WAIT_MS`` runs out
first: a worker keeping up with a steady rate gets a tenth of a second of events per fetch,
not the few that arrived since the last one, so each run's sends, writes and confirmations
serve hundreds of events; a backlog fills it at once."""


class BatchConsumerThread(compat.ConsumerThread):
    """Faust's consumer thread, with a shorter broker-side fetch wait (``FETCH_MAX_WAIT_MS``)
    and a larger minimum fetch (``FETCH_MIN_BYTES``)."""

    def client_built(self, client: AIOKafkaConsumer) -> None:
        compat.set_fetch_max_wait(client, FETCH_MAX_WAIT_MS)
        compat.set_fetch_min_bytes(client, FETCH_MIN_BYTES)


class BatchConsumer(compat.Consumer):
    """Faust's aiokafka consumer, delivering runs of messages to the app's batch agents."""

    consumer_thread_class = BatchConsumerThread

    def __post_init__(self) -> None:
        super().__post_init__()
        self._folding = 0
        """Partitions of the fetch being folded now (not pausing before a retry), or 1 while
        the fetch is acknowledged."""
        self._fetch_done = asyncio.Event()
        """Clear while any of a fetch's runs is being folded or acknowledged (``wait_empty``)."""
        self._fetch_done.set()
        self.fetcher_task: asyncio.Task | None = None
        """The fetcher's task, running ``fetcher_loop``."""
        self.fold_tasks: dict[TP, asyncio.Task] = {}
        """The task folding each partition of the fetch being folded side by side."""
        self._folded: dict[TP, int] = {}
        """The last offset of each partition whose run its agent folded."""
        self.last_progress = time.monotonic()
        """When an agent last folded a run, or the flow last resumed (stall.py)."""
        self.fetches = 0
        """Fetches the fetcher made (a stall report tells a fetcher that waits from one that
        fetches nothing)."""
        self.disk_held = False
        """Whether the disk guard holds the intake now (``_fetch_and_deliver``)."""

    async def fetcher_loop(self, fetcher: Service) -> None:  # as Faust's ``_drain_messages``
        agents: dict[str, BatchAgent] = cast(LedgerApp, self.app).batch_agents
        self.fetcher_task = asyncio.current_task()
        try:
            while not (compat.is_stopped(self) or compat.is_stopped(fetcher)):
                await self.sleep(0)
                if self.should_stop:
                    break
                await self._fetch_and_deliver(agents)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                log.info("broker stopped the consumer while the worker stops")
                return
            raise
        except ReaderHalted as halted:
            log.critical("%s", halted)
            await self.app.crash(halted)  # the worker exits non-zero (run.py), never half-alive
        except Exception as error:
            log.exception("the worker's consumer stopped delivering: %r", error)
            raise

    async def _fetch_and_deliver(self, agents: dict[str, BatchAgent]) -> None:
        """One round of the fetcher's loop: fetch, then fold what the fetch brought; while the
        disk guard holds, a fetch of nothing instead."""
        if self._held_for_disk():
            await self._hold()
            return
        generation, runs = await self._fetch_runs(agents)
        if runs:
            await self._deliver(agents, runs, generation)

    async def _fetch_runs(self, agents: dict[str, BatchAgent]) -> tuple[int, dict[TP, list[Record]]]:
        """One fetch, grouped by partition, with the consumer generation it was made in;
        messages of topics without an agent go Faust's way.

        The generation is read once the flow is active, right before the fetch goes out. A
        fetch that returns in another generation, or with the flow stopped, is dropped and the
        partitions are sought back to their committed offsets, so whatever it held is fetched
        again; a fetch kept is delivered in its own generation. Records below a partition's
        last read offset are dropped. A run's messages count as read only once it is handed to
        its agent (``_mark_read``).
        """
        runs: dict[TP, list[Record]] = {}
        if not self.flow_active:
            await self.wait(self.can_resume_flow)
        app = self.app
        generation = app.consumer_generation_id
        records, active = await self.next_records(1.0)
        self.fetches += 1
        if not records or self.should_stop:
            return generation, runs
        if not self.flow_active or app.consumer_generation_id != generation:
            await self._seek_back()
            return generation, runs
        read_offset, buffered = compat.read_offsets(self), compat.buffered_partitions(self)
        for tp, fetched in records.items():
            if tp not in active and tp not in buffered:
                if tp.topic in agents:
                    await self._fetch_again(tp, fetched[0].offset)
                continue  # (Faust drops what it fetched of a partition it paused, changelogs among them)
            app.monitor.track_tp_end_offset(tp, self.highwater(tp))
            last = read_offset[tp]
            if tp.topic in agents:
                run = fetched if last is None else [r for r in fetched if r.offset >= last]
                if run:
                    runs[tp] = run  # offsets below ``last`` were read already in this generation
                continue
            for record in fetched:
                await self._pass_to_faust(tp, compat.to_message(self, tp, record))
            if app.consumer_generation_id != generation or not self.flow_active:
                await self._seek_back()  # the rest of the fetch is not read: fetch it again
                return generation, {}
        return generation, runs

    def _held_for_disk(self) -> bool:
        """Ask the app's disk guard (streams/disk_guard.py), if it has one, whether to hold; a
        stall is counted from the moment it lets go."""
        guard = cast(LedgerApp, self.app).disk_guard
        held = guard is not None and guard.holding(time.monotonic())
        if self.disk_held and not held:
            self.last_progress = time.monotonic()
        self.disk_held = held
        return held

    async def _hold(self) -> None:
        """One round of holding: nothing is fetched (no source record, no changelog record, so
        nothing is written to the tables and no offset moves), yet the client is polled, so it
        stays a live member of its group however long the hold lasts."""
        if not self.flow_active:
            await self.wait(self.can_resume_flow)
        for tp, records in (await compat.poll_for_nothing(self, HOLD_WAIT_S)).items():
            await self._fetch_again(tp, records[0].offset)  # never dropped: read after the hold
        await self.sleep(IDLE_WAIT_S)  # should the poll return at once (a rebalance beginning)

    async def next_records(self, timeout: float) -> tuple[dict[TP, list[Record]], set[TP]]:
        """One fetch from the client, waiting up to ``timeout`` seconds, for a copy of the
        partitions active now (not paused): the records by partition, and those partitions.
        While no partition is active, nothing is fetched: ``({}, set())`` after ``IDLE_WAIT_S``
        (the client would take an empty set as every partition).
        """
        active = set(compat.active_partitions(self))
        if not active:
            await self.sleep(IDLE_WAIT_S)
            return {}, active
        return await compat.fetch(self, active, timeout), active

    async def _fetch_again(self, tp: TP, offset: int) -> None:
        """Seek ``tp`` back to ``offset`` so that what a fetch brought of it from there, which
        is not handed to its agent, is fetched again."""
        if tp not in self.assignment():
            return  # revoked: its next owner reads it from the committed offset
        await self._seek_in_client_thread(tp, offset)
        compat.read_offsets(self)[tp] = offset
        log.warning("%s[%d]: records from offset %d came for a paused partition; fetched again once "
                    "it resumes", tp.topic, tp.partition, offset)

    async def _seek_in_client_thread(self, tp: TP, offset: int) -> None:
        """The client's seek, made in the client's own thread: it drops the records the client
        holds for ``tp``, which that thread may be reading at the same moment."""
        thread = compat.client_thread(self)
        client = compat.client(thread)

        async def seek() -> None:
            client.seek(tp, offset)

        await thread.call_thread(seek)

    async def _pass_to_faust(self, tp: TP, message: Message) -> None:
        """Hand one message of a topic without a batch agent to Faust's own path."""
        read_offset = compat.read_offsets(self)
        offset, last = message.offset, read_offset[tp]
        if last is not None and offset < last:
            return  # read already in this generation (Faust drops these too)
        if last and offset - last > 1 and self.app.topics.acks_enabled_for(message.topic):
            await compat.add_gap(self, tp, last + 1, offset)  # compacted or transaction markers
        await self.wait_first(self.callback(message), self.suspend_flow.wait())
        read_offset[tp] = offset

    async def _seek_back(self) -> None:
        """A rebalance began or ended while a fetch was out: back to the committed offsets
        (Faust's ``getmany`` does the same when the flow stopped)."""
        try:
            await self.perform_seek()
        except Exception as error:  # noqa: BLE001 - as Faust: the next rebalance seeks again
            log.warning("seeking back to the committed offsets failed: %r", error)

    async def _mark_read(self, tp: TP, run: list[Record]) -> None:
        """Record ``run`` as read in this generation, and the offsets it skips (compacted
        records, transaction markers) as gaps Faust's commit may pass over."""
        read_offset = compat.read_offsets(self)
        last = read_offset[tp]
        read_offset[tp] = run[-1].offset  # before any await: a seek may follow one
        if not self.app.topics.acks_enabled_for(tp.topic):
            return
        if (not last or run[0].offset == last + 1) and run[-1].offset - run[0].offset == len(run) - 1:
            return  # no offset skipped (the common case), so no message need be looked at
        for message in run:
            offset = message.offset
            if last and offset - last > 1:
                await compat.add_gap(self, tp, last + 1, offset)
            last = offset

    async def _deliver(self, agents: dict[str, BatchAgent], runs: dict[TP, list[Record]],
                       generation: int) -> None:
        """Fold a fetch, each partition's runs in turn and the partitions side by side, then
        settle the producer once and acknowledge what was folded. The first exception of a
        partition's fold is raised; nothing more is acknowledged then.

        Runs end early when a rebalance begins (a new generation, or the flow stopped) or the
        worker stops: what was not folded is read again from the committed offset.
        """
        folded: list[tuple[TP, list[Record]]] = []
        try:
            if len(runs) == 1:
                [(tp, records)] = runs.items()
                await self._deliver_partition(agents[tp.topic], tp, records, generation, folded)
            else:
                try:
                    async with asyncio.TaskGroup() as group:
                        for tp, records in runs.items():
                            self.fold_tasks[tp] = group.create_task(self._deliver_partition(
                                agents[tp.topic], tp, records, generation, folded))
                except BaseExceptionGroup as failed:
                    raise failed.exceptions[0] from None  # as the one partition would have
        except BaseException:
            folded = []  # cancelled mid-fetch: nothing more is acknowledged, it is read again
            raise
        finally:
            self.fold_tasks.clear()
            self._folding_begins()  # a rebalance waits for the acknowledgement too
            try:
                await self._acknowledge(folded)
            finally:
                self._folding_ends()

    async def _deliver_partition(self, agent: BatchAgent, tp: TP, records: list[Record],
                                 generation: int, folded: list[tuple[TP, list[Record]]]) -> None:
        """Fold one partition's records run by run, adding each run folded to ``folded``."""
        self._folding_begins()
        try:
            for start in range(0, len(records), RUN_MAX):
                run = records[start:start + RUN_MAX]
                if not self._still_ours(generation):
                    return  # read again from the committed offset (not marked read)
                await self._mark_read(tp, run)
                try:
                    await self._fold(agent, tp, run)
                except RunAbandoned as abandoned:
                    log.warning("%s[%d]: run at offset %d left unwritten: %s; it is read again",
                                tp.topic, tp.partition, run[0].offset, abandoned)
                    return
                except ReaderHalted:
                    raise  # not retried: the worker stops (_drain_messages)
                except Exception as error:  # noqa: BLE001 - logged, retried, never dropped
                    mine = [(t, r) for t, r in folded if t == tp]
                    folded[:] = [(t, r) for t, r in folded if t != tp]
                    await self._acknowledge(mine)  # what came before is done, whatever follows
                    if not await self._retry(agent, tp, run, generation, error):
                        return
                folded.append((tp, run))
        finally:
            self._folding_ends()

    def _folding_begins(self) -> None:
        self._folding += 1
        self._fetch_done.clear()

    def _folding_ends(self) -> None:
        self._folding -= 1
        if not self._folding:
            self._fetch_done.set()

    async def _acknowledge(self, runs: list[tuple[TP, list[Record]]]) -> None:
        """Acknowledge ``runs`` once the broker has everything they sent (so their offsets are
        never committed ahead of the changelog records and updates they wrote)."""
        if not runs:
            return
        await cast(PatientProducer, self.app.producer).settle()
        for writer in cast(LedgerApp, self.app).table_writers:
            await writer.settle()
        for tp, run in runs:
            self._ack_run(tp, run)
        if compat.commit_due(self):
            await self.commit()

    def _ack_run(self, tp: TP, run: list[Record]) -> None:
        """``Consumer.ack`` for every message of one partition's run, under one lock: the same
        bookkeeping (acked offsets of the partition, from which Faust's commit timer takes the
        committable offset). An offset below the committed one or acknowledged already (a run
        folded again after a failure) is not counted twice.
        """
        if not self.app.topics.acks_enabled_for(tp.topic):
            return
        with ack_lock:
            committed = compat.committed_offsets(self)[tp]
            acked_index, acked = compat.acked_offsets(self, tp)
            first, last = run[0].offset, run[-1].offset
            offsets = range(first, last + 1)
            if (last - first == len(run) - 1 and (committed is None or first >= committed)
                    and acked_index.isdisjoint(offsets)):
                acked_index.update(offsets)  # consecutive, none acknowledged yet: all at once
                acked.extend(offsets)
                count = len(run)
            else:
                count = 0
                for record in run:
                    offset = record.offset
                    if (committed is None or offset >= committed) and offset not in acked_index:
                        acked_index.add(offset)
                        acked.append(offset)
                        count += 1
            compat.count_acked(self, count)
        compat.notify_acked(self)

    async def _fold(self, agent: BatchAgent, tp: TP, run: list[Record]) -> None:
        """Await ``agent`` on ``run`` with the run's partition as Faust's current event, so the
        agent's table writes go to the changelog partition the run came from; tells Faust's
        monitor the partition reached an agent, as a stream would. Raises what the agent raises.
        """
        monitor = self.app.monitor
        if monitor is not None and monitor.stream_inbound_time is not None:
            monitor.stream_inbound_time[tp] = time.monotonic()
        delivery = _Delivery(run[0])  # held here: Faust keeps only a weak reference to it
        with compat.current_event(delivery):
            await agent(tp, run)
        self._folded[tp] = run[-1].offset
        self.last_progress = time.monotonic()

    def resume_flow(self) -> None:
        super().resume_flow()
        self.last_progress = time.monotonic()  # a stall is counted from here, not from before

    def intake_stall(self, now: float, after_s: float = stall.STALL_AFTER_S) -> stall.Stall | None:
        """A ``stall.Stall`` if no agent folded a run for ``after_s`` while messages not folded
        yet wait on this worker's active partitions of the batch agents' topics, and it is
        settled (an intake the disk guard holds is not). A run failing again and again (its
        retries) is no progress."""
        app = cast(LedgerApp, self.app)
        actives = [tp for tp in app.assignor.assigned_actives() if tp.topic in app.batch_agents]
        folded, committed = self._folded, compat.committed_offsets(self)
        next_offsets = {tp: folded[tp] + 1 if tp in folded else committed.get(tp) or 0 for tp in actives}
        waiting = stall.waiting_messages(next_offsets, {tp: self.highwater(tp) for tp in actives})
        return stall.find_stall(quiet_s=now - self.last_progress, waiting=waiting,
                                settled=app.settled and self.flow_active, after_s=after_s)

    def _still_ours(self, generation: int) -> bool:
        return self.app.consumer_generation_id == generation and self.flow_active and not self.should_stop

    async def wait_empty(self) -> None:
        """Wait for the run being folded and acknowledged, if any, before a rebalance goes on
        (Faust calls this once the flow is stopped, with ``stream_wait_empty``); at most
        ``WAIT_EMPTY_S`` seconds, after which it returns with a warning logged.
        """
        if self._fetch_done.is_set():
            return
        try:
            await asyncio.wait_for(self._fetch_done.wait(), timeout=WAIT_EMPTY_S)
        except asyncio.TimeoutError:
            log.warning("a run still folding after %.0f s does not hold up the rebalance", WAIT_EMPTY_S)

    async def _retry(self, agent: BatchAgent, tp: TP, run: list[Record], generation: int,
                     error: Exception) -> bool:
        """Fold a run that failed again, after the pauses of ``backoff.FOLD_RUN``, until it goes
        through: True then, False once the run is no longer ours
        (a rebalance began, or the worker stops). ``ReaderHalted`` is raised, not retried; a
        rebalance does not wait for the pauses.
        """
        failures = 1
        pause = backoff.FOLD_RUN.delay(failures)
        log.error("%s[%d]: run of %d message(s) at offset %d failed (%s: %s); again in %.1f s",
                  tp.topic, tp.partition, len(run), run[0].offset, type(error).__name__, error, pause,
                  exc_info=error)
        while True:
            self._folding_ends()
            try:
                await self.sleep(pause)
            finally:
                self._folding_begins()
            if not self._still_ours(generation):
                return False
            try:
                await self._fold(agent, tp, run)
            except ReaderHalted:
                raise
            except Exception as again:  # noqa: BLE001 - logged, retried, never dropped
                failures += 1
                pause = backoff.FOLD_RUN.delay(failures)
                log.warning("%s[%d]: run at offset %d failed again (%s: %s); again in %.1f s",
                            tp.topic, tp.partition, run[0].offset, type(again).__name__, again, pause)
                continue
            log.warning("%s[%d]: run at offset %d folded after %d failed attempt(s)",
                        tp.topic, tp.partition, run[0].offset, failures)
            return True


def check_still_ours(app: faust.App, generation: int) -> None:
    """Raise ``RunAbandoned`` unless the consumer generation is still ``generation``: an agent
    calls it after a wait, before writing its table records."""
    if app.consumer_generation_id != generation:
        raise RunAbandoned(f"a rebalance went on without it (generation {generation} -> "
                           f"{app.consumer_generation_id})")


class BatchTransport(aiokafka_driver.Transport):
    Consumer = BatchConsumer
    Producer = PatientProducer


class LedgerApp(compat.App):
    """A Faust app whose consumer feeds batch agents (see the module's doc)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.batch_agents: dict[str, BatchAgent] = {}
        self.disk_guard: DiskGuard | None = None
        self.table_writers: list = []
        """The tables' batch writers (table_writes.py): settled with the producer before a
        fetch is acknowledged."""
        """Holds the intake while the tables' filesystem is nearly full (set by build_app)."""
        super().__init__(*args, **kwargs)

    @property
    def settled(self) -> bool:
        """Whether the tables are recovered, no rebalance is going on and the disk guard does not
        hold the intake: the worker's state is its partitions' as folded up to what waits, and its
        clocked work (timeouts, eviction) may run. (Held, heartbeats wait unread: a session would
        look silent.)"""
        return (self.tables.recovery.completed.is_set() and not self.rebalancing
                and not (self.disk_guard is not None and self.disk_guard.held))

    transport_class = BatchTransport

    def batch_agent(self, topic: TopicT) -> Callable[[BatchAgent], BatchAgent]:
        """Register ``agent`` for every partition of ``topic`` this worker is assigned."""

        def register(agent: BatchAgent) -> BatchAgent:
            for name in topic.topics:
                if name in self.batch_agents:
                    raise ValueError(f"topic {name} already has a batch agent")
                self.batch_agents[name] = agent
            self.topics.add(topic)
            return agent

        return register


@contextmanager
def writing_to(topic: str, partition: int) -> Iterator[None]:
    """Table writes outside an agent's run (a timer's) go to ``partition`` of ``topic``'s tables,
    as if a message of that partition were being processed."""
    delivery = _Delivery(_Source(topic, partition))
    with compat.current_event(delivery):
        yield


@dataclass(frozen=True)
class _Source:
    topic: str
    partition: int


class _Delivery:
    """What Faust's tables need of the message being processed: its partition and topic."""

    __slots__ = ("message", "__weakref__")

    def __init__(self, message: Record | _Source) -> None:
        self.message = message
