"""Noticing a worker whose intake stopped: messages wait on its partitions, it is neither
recovering nor rebalancing, and no agent has folded a run for a while.

A worker in that state still answers every request, with state that grows older by the
second, so nothing else would tell on-call. The watch says so in the log once, with where the
fetcher and each partition's fold are waiting (the chain of awaits of their tasks), so that the
cause can be read off the log, and again when runs flow once more; ``/health`` answers 503
``stalled`` meanwhile, and ``ledger_intake_stalled_seconds`` says for how long.

Pure: the consumer's figures and the clock are passed in; stall_report.py reads the live
worker and its tasks for the report.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

STALL_AFTER_S = 30.0
"""No run folded for this long, while messages wait, is a stall (the worker's default)."""
CHECK_EVERY_S = 2.0
"""How often the worker's timer looks."""


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
