"""Sessions the warehouse folded (analytics/queries/replay/sessions_as_of.sql), as columns. Pure.

Its result for one range of session ids is a ``pyarrow.Table`` with one row per session. Rows with ``settled = 1``
are whole session states; the others name sessions the caller folds in Python. ``Tally``
counts what ``LedgerAsOf.summary`` reports straight from the columns; ``session_states`` turns
settled rows into the ``SessionState``s the fold would hold, for callers that want every state.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.compute as pc

from projections import LedgerFold, PlayerState, SessionState
from projections.disconnect_spikes import WindowKey
from projections.player_state import player_from_sessions
from projections.session_state import LIVE, OPEN, SessionStatus, Verdict
from projections.timestamps import from_millis
from schemas.models import Accessibility

_OPEN = pa.array(sorted(s.value for s in OPEN))
_LIVE = pa.array(sorted(s.value for s in LIVE))
_TIMESTAMPS = ("requested_at", "started_at", "last_event_at", "last_heartbeat_at",
               "reported_ended_at", "verdict_at", "verdict_last_heartbeat_at", "ended_at",
               "play_ended_at")


def split(table: pa.Table) -> tuple[pa.Table, list[str]]:
    """The settled rows of one range, and the ids of the sessions left to the Python fold."""
    settled = pc.equal(table["settled"], 1)
    unsettled = table.filter(pc.invert(settled))["session_id"].to_pylist()
    return table.filter(settled), unsettled


@dataclass
class Tally:
    """What the summary counts, added up range by range: settled columns and folded states."""

    events: int = 0
    by_status: Counter = field(default_factory=Counter)
    players: set[str] = field(default_factory=set)
    """Players with a session that has begun (every session the player fold would count)."""
    players_with_open: set[str] = field(default_factory=set)
    live: Counter = field(default_factory=Counter)
    """(region, platform, status) -> live sessions, status active or disconnected."""

    def add_columns(self, settled: pa.Table) -> None:
        """Count settled rows (every one has begun: a settled session has a producer's event)."""
        if not settled.num_rows:
            return
        status = settled["status"]
        for value, count in _value_counts(status):
            self.by_status[value] += count
        self.players.update(pc.unique(settled["player_id"]).to_pylist())
        opened = settled.filter(pc.is_in(status, value_set=_OPEN))
        self.players_with_open.update(pc.unique(opened["player_id"]).to_pylist())
        live = settled.filter(pc.is_in(status, value_set=_LIVE))
        if live.num_rows:
            grouped = live.group_by(["region", "platform", "status"]).aggregate([("session_id", "count")])
            for region, platform, state, count in zip(*(grouped[c].to_pylist() for c in (
                    "region", "platform", "status", "session_id_count"))):
                self.live[(region, platform, state)] += count

    def add_fold(self, fold: LedgerFold) -> None:
        """Count what a ``LedgerFold`` of the other sessions holds: its sessions, its players
        (as the player fold keyed them) and its concurrency counters."""
        self.by_status.update(state.status.value for state in fold.sessions.values())
        for player in fold.players.values():
            self.players.add(player.player_id)
            if player.open_sessions:
                self.players_with_open.add(player.player_id)
        for key, count in fold.counts.items():
            self.live[(key.region, key.platform, key.status)] += count

    def concurrency(self) -> list[dict[str, Any]]:
        """Live sessions by region and platform, as ``Concurrency.breakdown("region", "platform")``."""
        groups: dict[tuple[str, str], dict[str, int]] = {}
        for (region, platform, status), count in self.live.items():
            row = groups.setdefault((region, platform), {"active": 0, "disconnected": 0, "live": 0})
            row[status] += count
            row["live"] += count
        return [{"region": region, "platform": platform, **counts}
                for (region, platform), counts in sorted(groups.items())]


def _value_counts(column: pa.ChunkedArray) -> Iterator[tuple[str, int]]:
    counted = pc.value_counts(column)
    return zip(counted.field("values").to_pylist(), counted.field("counts").to_pylist())


def session_states(settled: pa.Table) -> Iterator[SessionState]:
    """The ``SessionState`` of each settled row: what ``step`` holds after its events."""
    columns = {name: settled[name].to_pylist() for name in settled.column_names
               if name not in _TIMESTAMPS}
    for name in _TIMESTAMPS:
        millis = pc.cast(settled[name], pa.timestamp("ms", "UTC")).cast(pa.int64()).to_pylist()
        columns[name] = [from_millis(value) for value in millis]
    accessibility: dict[tuple, Accessibility] = {}
    for row in zip(*columns.values()):
        yield _state(dict(zip(columns, row)), accessibility)


def _state(row: dict[str, Any], accessibility: dict[tuple, Accessibility]) -> SessionState:
    settings = (row["subtitles"], row["colorblind_mode"], row["screen_reader"], row["reduced_motion"])
    if settings not in accessibility:
        accessibility[settings] = Accessibility(
            subtitles=settings[0], colorblind_mode=settings[1], screen_reader=settings[2],
            reduced_motion=settings[3])
    verdict = None
    if row["verdict_at"] is not None:
        verdict = Verdict(row["verdict_at"], row["verdict_event_id"],
                          row["verdict_last_heartbeat_at"], row["verdict_timeout_s"])
    return SessionState(
        session_id=row["session_id"], player_id=row["player_id"], platform=row["platform"],
        region=row["region"], cross_play=row["cross_play"], build=row["build"],
        input_method=row["input_method"], accessibility=accessibility[settings],
        party_id=row["party_id"], status=SessionStatus(row["status"]), last_seq=row["last_seq"],
        game_mode=row["game_mode"], server_id=row["server_id"], queue_ms=row["queue_ms"],
        requested_at=row["requested_at"], started_at=row["started_at"], ended_at=row["ended_at"],
        play_ended_at=row["play_ended_at"], end_reason=row["end_reason"],
        last_event_at=row["last_event_at"], last_heartbeat_at=row["last_heartbeat_at"],
        latency_ms=row["latency_ms"], packet_loss_pct=row["packet_loss_pct"],
        heartbeat_count=row["heartbeat_count"], disconnect_count=row["disconnect_count"],
        last_disconnect_reason=row["last_disconnect_reason"],
        reconnect_count=row["reconnect_count"], downtime_ms=row["downtime_ms"],
        migration_count=row["migration_count"],
        reported_status=SessionStatus(row["reported_status"]),
        reported_ended_at=row["reported_ended_at"], reported_end_reason=row["reported_end_reason"],
        verdict=verdict, verdict_changes=0 if verdict is None else 1,
    )


def settled_players(settled: pa.Table, states: dict[str, SessionState]) -> dict[str, PlayerState]:
    """Each player of the settled rows, from their settled sessions' ``states``: what the player
    fold holds after those sessions, platforms included (every platform a session's events named
    passed through the fold, not only its last)."""
    by_player: dict[str, list[SessionState]] = {}
    platforms: dict[str, set[str]] = {}
    for session_id, player_id, named in zip(*(settled[c].to_pylist() for c in (
            "session_id", "player_id", "platforms"))):
        by_player.setdefault(player_id, []).append(states[session_id])
        platforms.setdefault(player_id, set()).update(named)
    players = {}
    for player_id, sessions in by_player.items():
        player = player_from_sessions(player_id, sessions)
        players[player_id] = replace(player, platforms=tuple(sorted(platforms[player_id])))
    return players


def merge_players(one: PlayerState | None, other: PlayerState) -> PlayerState:
    """One player's state from the states two folds hold over disjoint sets of their sessions:
    every field of the player fold is a count, a sum, a maximum or a set."""
    if one is None:
        return other
    seen = [t for t in (one.last_seen, other.last_seen) if t is not None]
    return PlayerState(
        player_id=one.player_id,
        open_sessions=tuple(sorted(one.open_sessions + other.open_sessions)),
        last_seen=max(seen, default=None),
        session_count=one.session_count + other.session_count,
        finished_session_count=one.finished_session_count + other.finished_session_count,
        total_play_ms=one.total_play_ms + other.total_play_ms,
        platforms=tuple(sorted({*one.platforms, *other.platforms})),
    )


def disconnect_windows(settled: pa.Table) -> Counter:
    """Disconnects per (region, minute) of the settled rows (each one the machine accepted)."""
    regions = pc.list_flatten(settled["disconnect_regions"]).to_pylist()
    minutes = pc.list_flatten(settled["disconnect_minutes"]).to_pylist()
    return Counter(WindowKey(region, from_millis(second * 1000))
                   for region, second in zip(regions, minutes, strict=True))
