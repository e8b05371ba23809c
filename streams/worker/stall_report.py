"""What a stall report reads off the live worker (stall.py decides when there is a stall).

Where the fetcher and each partition's fold wait, what Faust and the Kafka client each hold of
the partitions (paused, active, position, buffered records), and the chain of awaits of every
task talking to the client, in the main loop and in the client's own thread: enough to tell
from the log alone whether the worker waits on the broker, on itself, or fetches nothing.
The client's state is read from the main thread; it is only read, and only for this report.
"""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from faust.types import TP

from streams.worker import stall

if TYPE_CHECKING:
    from streams.worker.intake import BatchConsumer


def describe(consumer: BatchConsumer, found: stall.Stall) -> str:
    """``found`` for the log, with the state and the tasks of ``consumer`` that explain it."""
    tasks = [("fetcher", consumer._drainer)]
    tasks += [(f"fold of {stall.partition_name(tp)}", task) for tp, task in consumer._folding_tasks.items()]
    tasks += [(f"main loop {task.get_name()}", task) for task in stall.client_tasks(asyncio.all_tasks())]
    thread = consumer._thread
    tasks += [(f"consumer thread {task.get_name()}", task) for task in asyncio.all_tasks(thread.thread_loop)]
    return stall.describe(found, [(label, task) for label, task in tasks if task is not None],
                          worker_state(consumer))


def worker_state(consumer: BatchConsumer) -> dict[str, Any]:
    """The intake's counters, Faust's view of the agents' partitions, and the client's."""
    agents = consumer.app.batch_agents
    buffer = consumer.app.producer.buffer
    fetching = sorted(tp for tp in consumer._get_active_partitions() if tp.topic in agents)
    state: dict[str, Any] = {
        "fetches": consumer.fetches, "folding": consumer._folding,
        "producer_buffer": buffer.size, "producer_sending": buffer.sending,
        "generation": consumer.app.consumer_generation_id,
        "paused": sorted(stall.partition_name(tp) for tp in consumer._paused_partitions if tp.topic in agents),
        "fetching": [stall.partition_name(tp) for tp in fetching],
    }
    client = consumer._thread._consumer
    if client is not None:
        state.update(client_state(client, fetching))
    return state


def client_state(client: Any, tps: list[TP]) -> dict[str, Any]:
    """What aiokafka's consumer says of its group membership and of the fetch state of ``tps``."""
    subscriptions, coordinator, fetcher = client._subscription, client._coordinator, client._fetcher
    subscription = subscriptions.subscription
    state: dict[str, Any] = {
        "reassignment_in_progress": subscriptions.reassignment_in_progress,
        "client_generation": getattr(coordinator, "generation", None),
        "need_rejoin": None if subscription is None or coordinator is None
        else coordinator.need_rejoin(subscription),
        "in_flight_nodes": sorted(getattr(fetcher, "_in_flight", ())),
    }
    assignment = None if subscription is None else subscription.assignment
    for tp in tps:
        tp_state = None if assignment is None else assignment.state_value(tp)
        if tp_state is None:
            state[stall.partition_name(tp)] = "not assigned in the client"
            continue
        state[stall.partition_name(tp)] = (f"position={tp_state.position if tp_state.has_valid_position else None} "
                           f"paused={tp_state.paused} awaiting_reset={tp_state.awaiting_reset} "
                           f"buffered={tp in fetcher._records}")
    return state
