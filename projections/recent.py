"""The session states this worker wrote last, kept in memory so the next run need not read
and decode their records again.

Every write of the ``sessions`` table goes through the session fold, which puts the state it
wrote here in the same step, so an entry is always the record the table holds. The table
changes under it only when a partition's records are recovered from the changelog: the cache
is cleared then, and a revoked partition's entries are dropped. Finished sessions are not kept
(their next delivery, if any, is a duplicate), and the oldest entries go past ``limit``.
"""
from __future__ import annotations

from collections.abc import Iterable

from projections.session_state import SessionState

RECENT_LIMIT = 20_000
"""Sessions kept (about 1 KiB each): more than a worker's partitions see in a few seconds of
peak traffic, so a live session is found here from one event to the next."""


class RecentSessions:
    def __init__(self, limit: int = RECENT_LIMIT) -> None:
        self.limit = limit
        self._states: dict[str, tuple[int, SessionState]] = {}

    def get(self, session_id: str) -> SessionState | None:
        entry = self._states.get(session_id)
        return None if entry is None else entry[1]

    def put(self, partition: int, state: SessionState) -> None:
        states = self._states
        states.pop(state.session_id, None)
        if state.is_terminal:
            return
        states[state.session_id] = (partition, state)
        if len(states) > self.limit:
            del states[next(iter(states))]

    def drop(self, partitions: Iterable[int]) -> None:
        gone = set(partitions)
        for session_id in [s for s, (p, _) in self._states.items() if p in gone]:
            del self._states[session_id]

    def clear(self) -> None:
        self._states.clear()

    def __len__(self) -> int:
        return len(self._states)
