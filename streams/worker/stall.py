"""Noticing a worker whose intake stopped: messages wait on its partitions, it is neither
recovering nor rebalancing, and no agent has folded a run for a while.

A worker in that state still answers every request, with state that grows older by the
second, so nothing else would tell on-call. The watch says so in the log once, with where the
fetcher and each partition's fold are waiting (the chain of awaits of their tasks), so that the
cause can be read off the log, and again when runs flow once more; ``/health`` answers 503
``stalled`` meanwhile, and ``ledger_intake_stalled_seconds`` says for how long.

Pure: the consumer's figures and the clock are passed in; stall_report.py reads the live
worker for the report.
"""
from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

STALL_AFTER_S = 30.0
"""No run folded for this long, while messages wait, is a stall (the worker's default)."""
CHECK_EVERY_S = 2.0
"""How often the worker's timer looks."""
MAX_AWAITS = 40
"""Frames shown of one task's chain of awaits."""


@dataclass(frozen=True)
class Stall:
    quiet_s: float
    """Seconds since an agent last folded a run (or since the flow last resumed)."""
    waiting: Mapping[str, int]
    """Messages waiting per partition (``topic[partition]``) with any."""

    @property
    def messages(self) -> int:
        return sum(self.waiting.values())


def partition_name(tp: Any) -> str:
    """``topic[partition]``, as the report and /health name a partition."""
    return f"{tp.topic}[{tp.partition}]"


def waiting_messages(next_offsets: Mapping[Any, int | None], highwaters: Mapping[Any, int | None]) -> dict[str, int]:
    """Messages between the next offset to deliver and the end of each partition (the
    partitions are ``TP``s, named ``topic[partition]`` in the answer); none where either is
    unknown."""
    waiting = {}
    for tp, next_offset in next_offsets.items():
        end = highwaters.get(tp)
        if end is not None and next_offset is not None and end > next_offset:
            waiting[partition_name(tp)] = end - next_offset
    return waiting


def find_stall(*, quiet_s: float, waiting: Mapping[str, int], settled: bool,
               after_s: float = STALL_AFTER_S) -> Stall | None:
    """A ``Stall`` when the intake has been quiet ``after_s`` or more while messages wait and
    the worker is ``settled`` (recovered, not rebalancing, its flow on); else None."""
    if not settled or not waiting or quiet_s < after_s:
        return None
    return Stall(quiet_s, dict(waiting))


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


CLIENT_CODE = ("/aiokafka/", "/faust/transport/", "/faust/tables/recovery", "/mode/threads")
"""Where in a chain of awaits a task is talking to the Kafka client."""


def client_tasks(tasks: Iterable[asyncio.Task]) -> list[asyncio.Task]:
    """The ``tasks`` whose chain of awaits passes through the Kafka client or Faust's transport."""
    return [task for task in tasks if any(part in line for line in awaits_of(task) for part in CLIENT_CODE)]


def describe(stall: Stall, tasks: Iterable[tuple[str, asyncio.Task]], state: Mapping[str, Any]) -> str:
    """The log message for a stall: what waits, the worker's state, and each task's awaits."""
    parts = [
        f"intake stalled: no run folded for {stall.quiet_s:.0f} s while "
        f"{stall.messages} message(s) wait on {', '.join(sorted(stall.waiting))}",
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
