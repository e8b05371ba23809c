"""Live-session counters, open sessions and finished sessions of the partitions this worker owns.

All three are views of the session table, not tables of their own: every partition's view is
recomputed from the recovered session records when the worker takes the partition, then moved
as the session fold changes a session (counters by ``concurrency_delta``; the open and finished
sessions by the new state's status). The session record is the only thing a delivery writes,
so after a crash there is nothing for the views to disagree with, and a re-delivered event (a
duplicate to the fold) moves nothing.

The open sessions are what the timeout check looks at: it reads the records of the sessions
silent for the timeout, not every session the worker ever folded. The finished sessions are
what the eviction looks at (agents.evict_finished): each is kept in the batch of the sweep
that first saw it finished, so a record is removed one retention after the sweep that found
it, without the fold reading a clock. A record that begins with nothing applied (status new)
is swept the same way unless it has opened by then, so no record stays neither open nor
finished for ever.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

from projections.concurrency import Concurrency, ConcurrencyKey, concurrency_delta, concurrency_key
from projections.session_state import OPEN, SessionState, SessionStatus


class PartitionCounters:
    def __init__(self, *, track_finished: bool = True) -> None:
        self.track_finished = track_finished
        """Index finished sessions (off when they are kept for ever: nothing would sweep them)."""
        self._by_partition: dict[int, dict[ConcurrencyKey, int]] = {}
        self._open: dict[int, dict[str, datetime | None]] = {}
        """Per partition: session_id -> last sign of life, for each open session."""
        self._finished: dict[int, set[str]] = {}
        """Per partition: sessions finished since the last sweep (``sweep_finished``)."""
        self._swept: list[tuple[float, dict[int, set[str]]]] = []
        """Finished sessions of each sweep, oldest first, with the time of the sweep."""

    def move(self, partition: int, before: SessionState | None, after: SessionState) -> None:
        counts = self._by_partition.setdefault(partition, {})
        for key, change in concurrency_delta(before, after):
            total = counts.get(key, 0) + change
            if total:
                counts[key] = total
            else:
                counts.pop(key, None)
        _note(self._open.setdefault(partition, {}), after)
        if self.track_finished and (_finishes(before, after) or _begins_unopened(before, after)):
            self._finished.setdefault(partition, set()).add(after.session_id)

    def reset(self, partition: int, states: Iterable[SessionState]) -> None:
        counts: dict[ConcurrencyKey, int] = {}
        open_sessions: dict[str, datetime | None] = {}
        self._forget_finished(partition)
        finished = self._finished[partition] = set()
        for state in states:
            key = concurrency_key(state)
            if key is not None:
                counts[key] = counts.get(key, 0) + 1
            _note(open_sessions, state)
            if self.track_finished and (state.is_terminal or state.status is SessionStatus.new):
                finished.add(state.session_id)
        self._by_partition[partition] = counts
        self._open[partition] = open_sessions

    def drop(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            self._by_partition.pop(partition, None)
            self._open.pop(partition, None)
            self._forget_finished(partition)

    def sweep_finished(self, now: float, retention_s: float) -> dict[int, set[str]]:
        """Close the batch of sessions finished since the last sweep, stamped ``now``, and
        return (per partition) those of the batches swept ``retention_s`` or more before it:
        sessions finished at least that long ago, to be removed. A partition recovered again
        starts its finished sessions over (the records were read anew)."""
        batch = {p: ids for p, ids in self._finished.items() if ids}
        self._finished = {p: set() for p in self._finished}
        if batch:
            self._swept.append((now, batch))
        due: dict[int, set[str]] = {}
        while self._swept and self._swept[0][0] <= now - retention_s:
            for partition, ids in self._swept.pop(0)[1].items():
                still_open = self._open.get(partition, {})
                due.setdefault(partition, set()).update(i for i in ids if i not in still_open)
        return due

    def finished_sessions(self) -> int:
        """Finished sessions held here, not yet removed."""
        return (sum(len(ids) for ids in self._finished.values())
                + sum(len(ids) for _, batch in self._swept for ids in batch.values()))

    def _forget_finished(self, partition: int) -> None:
        self._finished.pop(partition, None)
        for _, batch in self._swept:
            batch.pop(partition, None)
        self._swept = [(at, batch) for at, batch in self._swept if batch]

    def silent_since(self, partitions: Iterable[int], cutoff: datetime) -> Iterator[str]:
        """Open sessions of ``partitions`` with no sign of life after ``cutoff``."""
        for partition in partitions:
            for session_id, last in list(self._open.get(partition, {}).items()):
                if last is not None and last <= cutoff:
                    yield session_id

    def open_sessions(self) -> int:
        return sum(len(sessions) for sessions in self._open.values())

    def partitions(self) -> dict[int, dict[str, int]]:
        """Counters per partition, keys encoded (what one worker reports to another)."""
        return {
            p: {key.encode(): n for key, n in counts.items()}
            for p, counts in sorted(self._by_partition.items())
        }


def _finishes(before: SessionState | None, after: SessionState) -> bool:
    return after.is_terminal and (before is None or not before.is_terminal)


def _begins_unopened(before: SessionState | None, after: SessionState) -> bool:
    """A record that begins with nothing applied (status new: known only from events held
    behind a gap or refused by the state machine, such as a late event of a session already
    removed). It is swept like a finished one unless it opens before the retention is over."""
    return before is None and after.status is SessionStatus.new


def _note(open_sessions: dict[str, datetime | None], state: SessionState) -> None:
    if state.status in OPEN:
        open_sessions[state.session_id] = state.last_sign_of_life
    else:
        open_sessions.pop(state.session_id, None)


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
