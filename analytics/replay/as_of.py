"""The ledger as of an instant: every projection, from the history up to it.

The warehouse folds what is plain aggregation: per session, over the events that occurred at or
before T, ``sessions_as_of.sql`` computes the state ``projections.step`` would hold when the
session's producers' events are seqs 1..n, once each, in an order the state machine allows (the
common case), the end rule included. Every other session (seq gaps, duplicates, anomalies,
verdicts alone) is folded here by ``LedgerFold``, the fold the worker and the rebuild use, from
its own events. So the state at T equals the live state a worker had at T, and Python touches
only the sessions SQL cannot settle. A session older than the heartbeat TTL is read with the holes
its deleted heartbeats left closed, by both parts alike (``heartbeat_ttl``). The history is read in ranges of session ids, which bounds
the engine's memory whatever its size.

``counts_as_of`` gives the summary straight from the columns (what ``replay window --at``
prints); ``ledger_as_of`` builds every ``SessionState`` and ``PlayerState`` as well.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import groupby
from operator import attrgetter
from types import MappingProxyType
from typing import Any, Callable, Iterable, Iterator

import pyarrow as pa
import pyarrow.compute as pc

from analytics.replay.heartbeat_ttl import close_heartbeat_gaps, heartbeats_before
from analytics.replay.history import events_of_columns, query, sql
from analytics.replay.settled import (
    Tally, disconnect_windows, merge_players, session_states, settled_players, split,
)
from analytics.warehouse import Warehouse
from projections import Concurrency, LedgerFold, LedgerView, SessionState, timeline_order
from projections.player_state import PlayerState
from schemas.models import SessionEvent

FOLD_CHUNK = 1_000
"""Sessions per query when reading the events of the sessions folded in Python."""

RANGE_EVENTS = 100_000
"""About how many events one range of session ids holds: bounds the engine's memory per query."""

OnEvent = Callable[[int], None]


@dataclass(frozen=True)
class LedgerAsOf:
    at: datetime
    view: LedgerView
    events_folded: int

    def summary(self) -> dict[str, Any]:
        """Counts for people and --json: sessions by status, players, concurrency by region/platform."""
        sessions = self.view.sessions.values()
        by_status = Counter(s.status.value for s in sessions)
        players = self.view.players.values()
        concurrency = [
            {"region": region, "platform": platform, **counts}
            for (region, platform), counts in sorted(self.view.concurrency.breakdown("region", "platform").items())
        ]
        return {
            "at": self.at.isoformat(),
            "events_folded": self.events_folded,
            "sessions": {"count": len(self.view.sessions), "by_status": dict(sorted(by_status.items()))},
            "players": {"count": len(self.view.players),
                        "with_open_sessions": sum(1 for p in players if p.open_sessions)},
            "concurrency": concurrency,
            "live": self.view.concurrency.live(),
        }


@dataclass(frozen=True)
class LedgerCounts:
    """What ``LedgerAsOf.summary`` reports, counted without building every state."""

    at: datetime
    tally: Tally

    def summary(self) -> dict[str, Any]:
        """The same dict as ``LedgerAsOf.summary`` for the same history and instant."""
        concurrency = self.tally.concurrency()
        return {
            "at": self.at.isoformat(),
            "events_folded": self.tally.events,
            "sessions": {"count": sum(self.tally.by_status.values()),
                         "by_status": dict(sorted(self.tally.by_status.items()))},
            "players": {"count": len(self.tally.players),
                        "with_open_sessions": len(self.tally.players_with_open)},
            "concurrency": concurrency,
            "live": sum(row["live"] for row in concurrency),
        }


def fold_events(events: Iterable[SessionEvent], at: datetime,
                on_event: OnEvent | None = None) -> LedgerAsOf:
    """Fold ``events`` (already cut at ``at``) into every projection."""
    ledger = LedgerFold()
    folded = 0
    for event in events:
        ledger.deliver(event)
        folded += 1
        if on_event is not None and folded % 10_000 == 0:
            on_event(folded)
    return LedgerAsOf(at, ledger.view(), folded)


def ledger_as_of(warehouse: Warehouse, at: datetime, *, region: str = "", chunk: int = FOLD_CHUNK,
                 on_event: OnEvent | None = None) -> LedgerAsOf:
    """Every projection as of ``at`` (events with occurred_at <= at), from the history.

    ``chunk``: sessions per query when reading the events of the sessions folded in Python.
    """
    sessions: dict[str, SessionState] = {}
    players: dict[str, PlayerState] = {}
    disconnects: Counter = Counter()
    events = 0
    for piece in _pieces(warehouse, at, region, chunk, on_event):
        events += piece.events
        settled = {state.session_id: state for state in session_states(piece.settled)}
        sessions.update(settled)
        sessions.update(_stored_seqs(piece.fold.sessions, piece.renumbered))
        for part in (settled_players(piece.settled, settled), piece.fold.players):
            for player_id, player in part.items():
                players[player_id] = merge_players(players.get(player_id), player)
        disconnects.update(disconnect_windows(piece.settled))
        disconnects.update(piece.fold.disconnects)
    view = LedgerView(
        sessions=MappingProxyType(sessions), players=MappingProxyType(players),
        concurrency=Concurrency.from_sessions(sessions.values()),
        disconnects=MappingProxyType(dict(disconnects)))
    return LedgerAsOf(at, view, events)


def counts_as_of(warehouse: Warehouse, at: datetime, *, region: str = "", chunk: int = FOLD_CHUNK,
                 on_event: OnEvent | None = None) -> LedgerCounts:
    """The summary of the ledger as of ``at``, counted from the warehouse's columns (and the
    states of the sessions folded in Python): ``ledger_as_of(...).summary()`` without the states."""
    tally = Tally()
    for piece in _pieces(warehouse, at, region, chunk, on_event):
        tally.events += piece.events
        tally.add_columns(piece.settled)
        tally.add_fold(piece.fold)
    return LedgerCounts(at, tally)


def id_ranges(events: int, per_range: int | None = None) -> list[tuple[str, str]]:
    """Ranges [low, high) of session ids ('' high: no bound) that cover every string once, cut at
    three-hex-digit prefixes into enough ranges that each holds about ``per_range`` of ``events``
    (session ids are UUIDs, spread evenly over the prefixes). Pure."""
    count = min(_PREFIXES, max(1, -(-events // (per_range or RANGE_EVENTS))))
    bounds = ["", *(format(i * _PREFIXES // count, "03x") for i in range(1, count)), ""]
    return list(zip(bounds[:-1], bounds[1:]))


_PREFIXES = 16 ** 3


@dataclass(frozen=True)
class _Piece:
    """One range of session ids as of T: settled rows (columns) and the Python fold of the rest."""

    settled: pa.Table
    fold: LedgerFold
    events: int
    renumbered: dict[str, dict[int, int]]
    """Session -> its seqs the fold saw renumbered -> the stored ones (sessions past the TTL)."""


def _stored_seqs(states: dict[str, SessionState],
                 renumbered: dict[str, dict[int, int]]) -> dict[str, SessionState]:
    """``states`` with the ``last_seq`` of each renumbered session back to the stored seq."""
    if not renumbered:
        return states
    return {session_id: replace(state, last_seq=renumbered[session_id].get(state.last_seq, state.last_seq))
            if session_id in renumbered else state for session_id, state in states.items()}


def _pieces(warehouse: Warehouse, at: datetime, region: str, chunk: int,
            on_event: OnEvent | None) -> Iterator[_Piece]:
    until = at + timedelta(milliseconds=1)
    before = heartbeats_before(warehouse)
    total = int(query(warehouse, "count_until", until=until, region=region)[0]["n"])
    done = 0
    for low, high in id_ranges(total):
        table = warehouse.query_table(sql("sessions_as_of"), {
            "until": until, "region": region, "from_session": low, "to_session": high,
            "heartbeats_before": before},
            name="replay sessions_as_of")
        warehouse.release_memory()  # what the range's aggregation freed, before the next range
        settled, unsettled = split(table)
        fold = LedgerFold()
        renumbered: dict[str, dict[int, int]] = {}
        for event in _events_of(warehouse, unsettled, until, region, chunk, before, renumbered):
            fold.deliver(event)
        events = pc.sum(table["events"]).as_py() or 0
        done += events
        if on_event is not None:
            on_event(done)
        yield _Piece(settled, fold, events, renumbered)


def _events_of(warehouse: Warehouse, session_ids: list[str], until: datetime, region: str,
               chunk: int, before: datetime, renumbered: dict[str, dict[int, int]]
               ) -> Iterator[SessionEvent]:
    """The events of ``session_ids`` that occurred before ``until``, session by session, each
    session's in ``timeline_order`` (verdicts at their instant, as a live worker meets them), the
    holes of a session older than ``before`` closed (its renumbered seqs into ``renumbered``)."""
    for first in range(0, len(session_ids), chunk):
        page = warehouse.query_table(sql("session_events_of_many"), {
            "until": until, "region": region, "sessions": ",".join(session_ids[first:first + chunk])},
            name="replay session_events_of_many")
        for session_id, events in groupby(events_of_columns(page), key=attrgetter("session_id")):
            closed, stored = close_heartbeat_gaps(events, before)
            if stored:
                renumbered[session_id] = stored
            yield from timeline_order(closed)

