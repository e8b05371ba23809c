"""Live-session counters of the partitions this worker owns, kept beside the session table.

The counters are a view of the session table, not a table of their own: every partition's
counters are recomputed from the recovered session records when the worker takes the
partition, then moved by ``concurrency_delta`` as the session fold changes a session. The
session record is the only thing a delivery writes, so after a crash there is nothing for the
counters to disagree with, and a re-delivered event (a duplicate to the fold) moves nothing.
"""
from __future__ import annotations

from collections.abc import Iterable

from kafka.partitioner.default import murmur2

from projections.concurrency import Concurrency, ConcurrencyKey, concurrency_delta, concurrency_key
from projections.session_state import SessionState


def partition_of(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives ``key`` (as the emitter keys sessions)."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


class PartitionCounters:
    def __init__(self) -> None:
        self._by_partition: dict[int, dict[ConcurrencyKey, int]] = {}

    def move(self, partition: int, before: SessionState | None, after: SessionState) -> None:
        counts = self._by_partition.setdefault(partition, {})
        for key, change in concurrency_delta(before, after):
            total = counts.get(key, 0) + change
            if total:
                counts[key] = total
            else:
                counts.pop(key, None)

    def reset(self, partition: int, states: Iterable[SessionState]) -> None:
        counts: dict[ConcurrencyKey, int] = {}
        for state in states:
            key = concurrency_key(state)
            if key is not None:
                counts[key] = counts.get(key, 0) + 1
        self._by_partition[partition] = counts

    def drop(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            self._by_partition.pop(partition, None)

    def partitions(self) -> dict[int, dict[str, int]]:
        """Counters per partition, keys encoded (what one worker reports to another)."""
        return {
            p: {key.encode(): n for key, n in counts.items()}
            for p, counts in sorted(self._by_partition.items())
        }


def merge(reports: Iterable[dict[int | str, dict[str, int]]]) -> Concurrency:
    """Counters of every partition, each partition counted once whichever worker reported it."""
    seen: dict[int, dict[str, int]] = {}
    for report in reports:
        for partition, counts in report.items():
            seen.setdefault(int(partition), counts)
    total: dict[str, int] = {}
    for counts in seen.values():
        for key, n in counts.items():
            total[key] = total.get(key, 0) + n
    return Concurrency.from_counts(total)
