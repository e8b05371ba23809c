"""The worker's intake: which fetched messages reach a batch agent, and which are read again.

The consumer's fetch is replaced by a scripted one here (no broker is involved); the race it
scripts, a fetch that returns after a rebalance began, is what the broker-crash fault story
runs into against the real broker.
"""
from __future__ import annotations

import asyncio

import pytest
from aiokafka.structs import ConsumerRecord
from faust.types import TP

from streams.fold import faust_compat as compat
from streams.fold.intake import LedgerApp, check_still_ours

TOPIC = "intake-probe"


def message(partition: int, offset: int) -> ConsumerRecord:
    """A record as the client's fetch returns it."""
    return ConsumerRecord(TOPIC, partition, offset, timestamp=0, timestamp_type=0, key=b"k",
                          value=b"v", checksum=None, serialized_key_size=1,
                          serialized_value_size=1, headers=())


@pytest.fixture
def intake():
    app = LedgerApp("intake-probe", broker="kafka://127.0.0.1:9", autodiscover=False)
    folded: list[tuple[int, list[int]]] = []

    @app.batch_agent(app.topic(TOPIC))
    async def agent(tp, messages):
        folded.append((tp.partition, [m.offset for m in messages]))

    compat.acking_topics(app).add(TOPIC)  # as the conductor does when the worker subscribes
    consumer = app.consumer
    consumer.flow_active = True
    app.consumer_generation_id = 1
    return app, consumer, folded


def scripted_fetch(consumer, fetches):
    """Make each fetch return the next of ``fetches``: (records, generation on return), or
    (records, generation, the partitions it was made for) when that is not all of them."""
    queue = list(fetches)

    async def wait_next_records(timeout):
        records, generation, *asked = queue.pop(0)
        consumer.app.consumer_generation_id = generation  # a rebalance finished during the fetch
        by_partition: dict[TP, list[ConsumerRecord]] = {}
        for record in records:
            by_partition.setdefault(TP(record.topic, record.partition), []).append(record)
        return by_partition, asked[0] if asked else set(by_partition)

    consumer.next_records = wait_next_records
    consumer.highwater = lambda tp: 0  # no client to ask: the scripted fetch has no end offset


def seeks_to_committed(consumer, committed: dict[TP, int]) -> list[dict[TP, int]]:
    """Make the consumer's seek back to the committed offsets set its read offsets as the
    client's seek does; returns the list of seeks made."""
    seeks: list[dict[TP, int]] = []

    async def perform_seek():
        seeks.append(dict(committed))
        compat.read_offsets(consumer).update(committed)

    consumer.perform_seek = perform_seek
    return seeks


async def one_round(consumer):
    await consumer._fetch_and_deliver(consumer.app.batch_agents)


def test_a_fetch_returning_after_a_rebalance_is_dropped_and_fetched_again_from_the_committed_offset(intake):
    app, consumer, folded = intake
    tp = TP(TOPIC, 0)
    compat.read_offsets(consumer)[tp] = 10  # the committed offset, as the rebalance's seek left it
    seeks = seeks_to_committed(consumer, {tp: 10})
    stale = [message(0, offset) for offset in range(10, 15)]
    scripted_fetch(consumer, [(stale, 2), (stale, 2)])

    asyncio.run(one_round(consumer))
    assert folded == []  # sent in generation 1, returned in generation 2: maybe from before the seek
    assert seeks == [{tp: 10}]  # so it is fetched again from the committed offset
    assert compat.read_offsets(consumer)[tp] == 10

    asyncio.run(one_round(consumer))
    assert folded == [(0, [10, 11, 12, 13, 14])]
    assert compat.read_offsets(consumer)[tp] == 14
    assert len(seeks) == 1


def test_the_first_fetch_after_a_rebalance_the_fetcher_waited_out_is_folded(intake):
    """The fetcher waits while a rebalance holds the flow; the rebalance gives a new generation
    and seeks to the committed offsets; what the fetcher then fetches is folded, and the next
    fetch's records follow it without a gap."""
    app, consumer, folded = intake
    tp = TP(TOPIC, 0)
    compat.read_offsets(consumer)[tp] = 7  # read in generation 1, not yet committed
    consumer.stop_flow()  # the rebalance began
    scripted_fetch(consumer, [([message(0, offset) for offset in range(5, 9)], 2),
                              ([message(0, offset) for offset in range(9, 11)], 2)])

    async def rebalance_while_the_fetcher_waits():
        fetching = asyncio.ensure_future(one_round(consumer))
        await asyncio.sleep(0.01)
        assert not fetching.done()  # held by the stopped flow
        app.consumer_generation_id = 2
        compat.read_offsets(consumer)[tp] = 5  # the rebalance's seek to the committed offset
        consumer.resume_flow()
        await asyncio.wait_for(fetching, timeout=5)
        await one_round(consumer)

    consumer.loop.run_until_complete(rebalance_while_the_fetcher_waits())  # the loop its events wake

    assert folded == [(0, [5, 6, 7, 8]), (0, [9, 10])]
    assert not compat.gaps(consumer, tp)  # nothing skipped for the commit to pass over
    assert list(compat.acked_offsets(consumer, tp)[1]) == [5, 6, 7, 8, 9, 10]


def test_messages_folded_already_in_this_generation_are_dropped(intake):
    app, consumer, folded = intake
    first = [message(1, offset) for offset in range(0, 4)]
    again = [message(1, offset) for offset in range(2, 7)]
    scripted_fetch(consumer, [(first, 1), (again, 1)])

    asyncio.run(one_round(consumer))
    asyncio.run(one_round(consumer))

    assert folded == [(1, [0, 1, 2, 3]), (1, [3, 4, 5, 6])]


def test_offsets_a_run_skips_become_gaps_the_commit_may_pass(intake):
    app, consumer, folded = intake
    tp = TP(TOPIC, 2)
    compat.read_offsets(consumer)[tp] = 4
    scripted_fetch(consumer, [([message(2, 5), message(2, 8), message(2, 9)], 1)])

    asyncio.run(one_round(consumer))

    assert folded == [(2, [5, 8, 9])]
    covered = {offset for i in compat.gaps(consumer, tp) for offset in range(i.begin, i.end)}
    assert {6, 7} <= covered and not covered & {4, 5, 9}  # Faust's gap reaches the next offset read


def test_a_run_left_behind_by_a_rebalance_writes_nothing_and_is_not_acknowledged():
    app = LedgerApp("intake-probe", broker="kafka://127.0.0.1:9", autodiscover=False)
    compat.acking_topics(app).add(TOPIC)
    written: list[int] = []

    @app.batch_agent(app.topic(TOPIC))
    async def agent(tp, messages):
        generation = app.consumer_generation_id
        app.consumer_generation_id += 1  # the rebalance went on while the agent's sends waited
        check_still_ours(app, generation)
        written.append(tp.partition)

    consumer = app.consumer
    consumer.flow_active = True
    app.consumer_generation_id = 1
    scripted_fetch(consumer, [([message(0, 0), message(0, 1), message(1, 0)], 1)])

    asyncio.run(one_round(consumer))

    assert written == []
    assert not compat.acked_offsets(consumer, TP(TOPIC, 0))[1] and not compat.acked_offsets(consumer, TP(TOPIC, 1))[1]


def test_a_folded_run_is_acknowledged_once_per_offset(intake):
    app, consumer, folded = intake
    tp = TP(TOPIC, 0)

    consumer._ack_run(tp, [message(0, offset) for offset in range(0, 5)])
    consumer._ack_run(tp, [message(0, offset) for offset in range(3, 8)])  # overlaps the first
    consumer._ack_run(tp, [message(0, 9), message(0, 12)])  # offsets skipped between

    assert list(compat.acked_offsets(consumer, tp)[1]) == [0, 1, 2, 3, 4, 5, 6, 7, 9, 12]
    assert compat.acked_count(consumer) == 10


def test_offsets_below_the_committed_one_are_not_acknowledged(intake):
    app, consumer, folded = intake
    tp = TP(TOPIC, 1)
    compat.committed_offsets(consumer)[tp] = 3

    consumer._ack_run(tp, [message(1, offset) for offset in range(0, 6)])

    assert list(compat.acked_offsets(consumer, tp)[1]) == [3, 4, 5]


def test_the_partitions_of_a_fetch_are_folded_side_by_side():
    """A run waiting on the broker (here: on the other partition's run) does not hold up the
    other partitions of its fetch, and a rebalance waits until every one of them is done."""
    app = LedgerApp("intake-probe", broker="kafka://127.0.0.1:9", autodiscover=False)
    compat.acking_topics(app).add(TOPIC)
    second_started = None
    order: list[str] = []

    @app.batch_agent(app.topic(TOPIC))
    async def agent(tp, messages):
        if tp.partition == 0:
            order.append("0 waits")
            await second_started.wait()
            order.append("0 done")
        else:
            order.append("1 runs")
            second_started.set()
            await asyncio.sleep(0.05)
            order.append("1 done")

    consumer = app.consumer
    consumer.flow_active = True
    app.consumer_generation_id = 1
    scripted_fetch(consumer, [([message(0, 0), message(1, 0)], 1)])

    async def fold_and_watch():
        nonlocal second_started
        second_started = asyncio.Event()
        delivery = asyncio.ensure_future(one_round(consumer))
        await asyncio.sleep(0.01)
        busy_while_folding = not consumer._fetch_done.is_set()
        await asyncio.wait_for(delivery, timeout=5)
        return busy_while_folding

    assert asyncio.run(fold_and_watch())
    assert order == ["0 waits", "1 runs", "0 done", "1 done"]
    assert consumer._fetch_done.is_set()
    assert list(compat.acked_offsets(consumer, TP(TOPIC, 0))[1]) == [0] and list(compat.acked_offsets(consumer, TP(TOPIC, 1))[1]) == [0]


def test_the_consumer_counts_messages_not_folded_yet_and_quiet_time_since_the_last_run_folded(monkeypatch):
    app = LedgerApp("stall-probe", broker="kafka://127.0.0.1:9", autodiscover=False)
    failing = {"now": False}

    @app.batch_agent(app.topic(TOPIC))
    async def agent(tp, messages):
        if failing["now"]:
            raise RuntimeError("the broker refused the run's updates")

    compat.acking_topics(app).add(TOPIC)
    consumer = app.consumer
    consumer.flow_active = True
    app.consumer_generation_id = 1
    tp = TP(TOPIC, 0)
    monkeypatch.setattr(app.assignor, "assigned_actives", lambda: {tp})
    app.tables.recovery.completed.set()
    scripted_fetch(consumer, [([message(0, offset) for offset in range(0, 5)], 1)])
    consumer.highwater = lambda _tp: 20
    compat.committed_offsets(consumer)[tp] = 0

    assert consumer.intake_stall(consumer.last_progress + 31, 30).waiting == {f"{TOPIC}[0]": 20}
    asyncio.run(consumer._fetch_and_deliver(app.batch_agents))
    folded_at = consumer.last_progress

    assert consumer.intake_stall(folded_at + 29, 30) is None  # not quiet long enough
    assert consumer.intake_stall(folded_at + 31, 30).waiting == {f"{TOPIC}[0]": 15}
    consumer.highwater = lambda _tp: 5
    assert consumer.intake_stall(folded_at + 31, 30) is None  # everything folded
    consumer.highwater = lambda _tp: 20

    failing["now"] = True  # a run that fails (and is folded again later) is no progress
    with pytest.raises(RuntimeError):
        asyncio.run(consumer._fold(agent, tp, [message(0, offset) for offset in range(5, 20)]))
    assert consumer.last_progress == folded_at
    assert consumer.intake_stall(folded_at + 31, 30).waiting == {f"{TOPIC}[0]": 15}

    app.rebalancing = True
    assert consumer.intake_stall(folded_at + 31, 30) is None  # a rebalance is not a stall


def test_the_client_is_asked_for_the_partitions_active_when_the_fetch_went_out(intake, monkeypatch):
    """Pausing partitions while a fetch waits in the client's thread (recovery pausing the
    changelogs it read) does not change what that fetch asked for: the client takes an empty
    set as every partition, and would hand out the records of paused ones."""
    app, consumer, folded = intake
    session, changelog = TP(TOPIC, 0), TP("sessions-changelog", 0)
    compat.set_active_partitions(consumer, {session, changelog})
    asked = []

    async def fetch(fetching_consumer, partitions, timeout):
        asked.append(partitions)
        consumer.pause_partitions({session, changelog})  # while the client waits
        return {}

    monkeypatch.setattr(compat, "fetch", fetch)

    async def two_fetches():
        first = await consumer.next_records(1.0)
        second = await consumer.next_records(1.0)  # nothing active now: nothing asked
        return first, second

    (_, first_active), (second_records, second_active) = consumer.loop.run_until_complete(two_fetches())

    assert asked == [{session, changelog}] and first_active == {session, changelog}
    assert second_records == {} and second_active == set()


def test_records_of_a_partition_paused_during_the_fetch_are_fetched_again(intake):
    app, consumer, folded = intake
    tp = TP(TOPIC, 1)
    compat.read_offsets(consumer)[tp] = 3
    seeks: list[tuple[TP, int]] = []

    async def seek(partition, offset):
        seeks.append((partition, offset))

    consumer.assignment = lambda: {tp}  # no client to ask: the partition is this worker's
    consumer._seek_in_client_thread = seek
    records = [message(1, offset) for offset in range(4, 9)]
    scripted_fetch(consumer, [(records, 1, set()), (records, 1)])

    asyncio.run(one_round(consumer))
    assert folded == [] and seeks == [(tp, 4)]  # not folded, not lost: the client reads it again
    asyncio.run(one_round(consumer))
    assert folded == [(1, [4, 5, 6, 7, 8])]
