"""What a stall report reads off the live worker (stall.py decides when there is a stall).

Where the fetcher and each partition's fold wait, what Faust and the Kafka client each hold of
the partitions (paused, active, position, buffered records), and the chain of awaits of every
task talking to the client, in the main loop and in the client's own thread: enough to tell
from the log alone whether the worker waits on the broker, on itself, or fetches nothing.
The client's state is read from the main thread; it is only read, and only for this report.
"""
from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from faust.types import TP

from streams.fold import faust_compat as compat
from streams.fold import stall

if TYPE_CHECKING:
    from streams.fold.intake import BatchConsumer


MAX_AWAITS = 40
"""Frames shown of one task's chain of awaits."""
CLIENT_CODE = ("/aiokafka/", "/faust/transport/", "/faust/tables/recovery", "/mode/threads")
"""Where in a chain of awaits a task is talking to the Kafka client."""


def report(consumer: BatchConsumer, found: stall.Stall) -> str:
    """``found`` for the log, with the state and the tasks of ``consumer`` that explain it."""
    tasks = [("fetcher", consumer.fetcher_task)]
    tasks += [(f"fold of {stall.partition_name(tp)}", task) for tp, task in consumer.fold_tasks.items()]
    listed = {task for _label, task in tasks}
    tasks += [(f"main loop {task.get_name()}", task)
              for task in client_tasks(asyncio.all_tasks()) if task not in listed]
    thread = compat.client_thread(consumer)
    tasks += [(f"consumer thread {task.get_name()}", task) for task in asyncio.all_tasks(thread.thread_loop)]
    return describe(found, [(label, task) for label, task in tasks if task is not None],
                    worker_state(consumer))


def worker_state(consumer: BatchConsumer) -> dict[str, Any]:
    """The intake's counters, Faust's view of the agents' partitions, and the client's."""
    agents = consumer.app.batch_agents
    buffer = consumer.app.producer.buffer
    fetching = sorted(tp for tp in compat.active_partitions(consumer) if tp.topic in agents)
    state: dict[str, Any] = {
        "fetches": consumer.fetches, "folding": consumer._folding,
        "producer_buffer": buffer.size, "producer_sending": buffer.sending,
        "generation": consumer.app.consumer_generation_id,
        "paused": sorted(stall.partition_name(tp) for tp in compat.paused_partitions(consumer)
                         if tp.topic in agents),
        "fetching": [stall.partition_name(tp) for tp in fetching],
    }
    client = compat.client_if_built(consumer)
    if client is not None:
        state.update(client_state(client, fetching))
    return state


def client_state(client: Any, tps: list[TP]) -> dict[str, Any]:
    """What aiokafka's consumer says of its group membership and of the fetch state of ``tps``."""
    subscriptions, coordinator, fetcher = compat.client_parts(client)
    subscription = subscriptions.subscription
    state: dict[str, Any] = {
        "reassignment_in_progress": subscriptions.reassignment_in_progress,
        "client_generation": getattr(coordinator, "generation", None),
        "need_rejoin": None if subscription is None or coordinator is None
        else coordinator.need_rejoin(subscription),
        "in_flight_nodes": sorted(compat.in_flight_nodes(fetcher)),
    }
    assignment = None if subscription is None else subscription.assignment
    for tp in tps:
        tp_state = None if assignment is None else assignment.state_value(tp)
        if tp_state is None:
            state[stall.partition_name(tp)] = "not assigned in the client"
            continue
        state[stall.partition_name(tp)] = (f"position={tp_state.position if tp_state.has_valid_position else None} "
                           f"paused={tp_state.paused} awaiting_reset={tp_state.awaiting_reset} "
                           f"buffered={compat.holds_records(fetcher, tp)}")
    return state


def awaits_of(task: asyncio.Task) -> list[str]:
    """Where ``task`` is suspended: each coroutine of its chain of awaits, outermost first, with
    the plain values (numbers, flags, short strings and collections) of the innermost one's
    variables, then what it waits on (a future, a sleep, an event)."""
    lines: list[str] = []
    awaited: Any = task.get_coro()
    innermost = None
    while awaited is not None and len(lines) < MAX_AWAITS:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
        if frame is None:
            break
        innermost = frame
        lines.append(f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}")
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
    if innermost is not None:
        plain = _plain_values(innermost.f_locals)
        if plain:
            lines.append(f"  with {plain}")
    if awaited is not None:
        lines.append(f"waiting on {awaited!r}"[:300])
    return lines


def _plain_values(variables: Mapping[str, Any]) -> str:
    shown = []
    for name, value in variables.items():
        if isinstance(value, (bool, int, float, type(None))) or (
                isinstance(value, (str, set, frozenset, list, tuple, dict)) and len(value) <= 20):
            shown.append(f"{name}={value!r}"[:200])
    return ", ".join(shown)


def client_tasks(tasks: Iterable[asyncio.Task]) -> list[asyncio.Task]:
    """The ``tasks`` whose chain of awaits passes through the Kafka client or Faust's transport."""
    return [task for task in tasks if any(part in line for line in awaits_of(task) for part in CLIENT_CODE)]


def describe(found: stall.Stall, tasks: Iterable[tuple[str, asyncio.Task]], state: Mapping[str, Any]) -> str:
    """The log message for a stall: what waits, the worker's state, and each task's awaits."""
    parts = [
        f"intake stalled: no run folded for {found.quiet_s:.0f} s while "
        f"{found.messages} message(s) wait on {', '.join(sorted(found.waiting))}",
        "state: " + ", ".join(f"{name}={value}" for name, value in state.items()),
    ]
    for name, task in tasks:
        if task.done():
            parts.append(f"{name}: finished ({_outcome(task)})")
        else:
            parts.append(f"{name} awaits:\n    " + "\n    ".join(awaits_of(task)))
    return "\n".join(parts)


def _outcome(task: asyncio.Task) -> str:
    if task.cancelled():
        return "cancelled"
    error = task.exception()
    return "returned" if error is None else f"raised {type(error).__name__}: {error}"
