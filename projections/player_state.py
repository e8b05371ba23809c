"""The state of one player, folded from the changes of their sessions' states.

A player's state is not folded from raw events but from what the session fold decided:
``apply_player(player, before, after)`` takes one session's state before and after a
delivery, as whole ``SessionState``s or as the ``SessionMark``s that carry only what the
player fold reads (what the worker sends between partitions). A duplicate or an event held
behind a gap leaves the session's ``revision`` where it was, so the player fold sees no change
and stays idempotent without remembering events.

Every update is commutative (counts, sums, maxima, set inserts), so the order in which a
player's sessions interleave does not change the result. Field definitions are in
docs/projections.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Union

from projections.errors import BadStateRecord, WrongPlayer
from projections.session_state import OPEN, TERMINAL, SessionState, SessionStatus, Step
from projections.timestamps import from_millis, to_millis

RECORD_VERSION = 1


@dataclass(frozen=True, slots=True)
class SessionMark:
    """The part of a session's state the player fold reads."""

    session_id: str
    player_id: str
    status: SessionStatus
    revision: int
    """``SessionState.revision``: grows with every change of the session."""
    platform: str
    opened_at: datetime | None = None
    last_event_at: datetime | None = None
    play_ms: int = 0

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    @classmethod
    def of(cls, state: SessionState) -> SessionMark:
        return cls(state.session_id, state.player_id, state.status, state.revision,
                   state.platform, state.opened_at, state.last_event_at, state.play_ms)

    def to_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id, "player_id": self.player_id,
            "status": self.status.value, "revision": self.revision, "platform": self.platform,
            "opened_at": to_millis(self.opened_at), "last_event_at": to_millis(self.last_event_at),
            "play_ms": self.play_ms,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SessionMark:
        """The mark a ``to_dict()`` record describes; ``BadStateRecord`` names a bad field."""
        try:
            current = "status"
            status = SessionStatus(data[current])
            current = "revision" if "revision" in data else "last_seq"  # last_seq: before verdicts
            revision = int(data[current])
            current = "opened_at"
            opened_at = from_millis(data[current])
            current = "last_event_at"
            last_event_at = from_millis(data[current])
            current = "(record)"
            return cls(str(data["session_id"]), str(data["player_id"]), status, revision,
                       str(data["platform"]), opened_at, last_event_at, int(data["play_ms"]))
        except (KeyError, TypeError, ValueError) as exc:
            value = data.get(current) if isinstance(data, Mapping) else data
            raise BadStateRecord("SessionMark", current, str(exc), value) from None


Session = Union[SessionState, SessionMark]
"""What ``apply_player`` reads a session from."""


@dataclass(frozen=True, slots=True, order=True)
class OpenSession:
    """A session of the player that has not ended or timed out, by when it was opened."""

    opened_at: datetime
    session_id: str


@dataclass(frozen=True, slots=True)
class PlayerState:
    player_id: str
    open_sessions: tuple[OpenSession, ...] = ()
    last_seen: datetime | None = None
    session_count: int = 0
    finished_session_count: int = 0
    total_play_ms: int = 0
    platforms: tuple[str, ...] = ()

    @property
    def current_session_id(self) -> str | None:
        """The most recently opened session still open (requested, active or disconnected)."""
        return self.open_sessions[-1].session_id if self.open_sessions else None

    @property
    def total_play_seconds(self) -> float:
        return self.total_play_ms / 1000

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able record of this state (for Faust tables and snapshots)."""
        return {
            "v": RECORD_VERSION,
            "player_id": self.player_id,
            "open_sessions": [
                [to_millis(s.opened_at), s.session_id] for s in self.open_sessions
            ],
            "last_seen": to_millis(self.last_seen),
            "session_count": self.session_count,
            "finished_session_count": self.finished_session_count,
            "total_play_ms": self.total_play_ms,
            "platforms": list(self.platforms),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlayerState:
        """The state a ``to_dict()`` record describes; ``BadStateRecord`` names a bad field."""
        version = data.get("v") if isinstance(data, Mapping) else None
        if version != RECORD_VERSION:
            raise BadStateRecord("PlayerState", "v", f"must be {RECORD_VERSION}", version)
        current = "open_sessions"
        try:
            open_sessions = tuple(
                OpenSession(from_millis(int(ms)), str(sid)) for ms, sid in data[current]
            )
            current = "last_seen"
            last_seen = from_millis(data[current])
            current = "(record)"
            return cls(
                player_id=str(data["player_id"]),
                open_sessions=open_sessions,
                last_seen=last_seen,
                session_count=int(data["session_count"]),
                finished_session_count=int(data["finished_session_count"]),
                total_play_ms=int(data["total_play_ms"]),
                platforms=tuple(data["platforms"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BadStateRecord("PlayerState", current, str(exc), data.get(current)) from None


def apply_player(
    player: PlayerState | None, before: Session | None, after: Session,
) -> PlayerState | None:
    """The player's state after one of their sessions went from ``before`` to ``after``.

    Returns ``player`` itself (possibly None) when the session applied nothing new. A finished
    session whose end the end rule revises (a timeout overruled by an earlier ``ended``) moves
    the player's play time by the difference.
    """
    before_revision = 0 if before is None else before.revision
    if after.revision == before_revision or after.status is SessionStatus.new:
        return player  # nothing applied, or only anomalies: the session has not begun
    if player is None:
        player = PlayerState(after.player_id)
    elif player.player_id != after.player_id:
        raise WrongPlayer(player.player_id, after.player_id, after.session_id)

    was_new = before is None or before.status is SessionStatus.new

    open_sessions = player.open_sessions
    was_open = before is not None and before.is_open
    if after.is_open and not was_open:
        entry = OpenSession(after.opened_at, after.session_id)
        open_sessions = tuple(sorted(open_sessions + (entry,)))
    elif was_open and not after.is_open:
        open_sessions = tuple(s for s in open_sessions if s.session_id != after.session_id)

    was_finished = before is not None and before.is_terminal
    finished = after.is_terminal and not was_finished
    play_ms = after.play_ms if finished else 0
    if was_finished and after.is_terminal:
        play_ms = after.play_ms - before.play_ms
    last_seen = player.last_seen
    if after.last_event_at is not None and (last_seen is None or after.last_event_at > last_seen):
        last_seen = after.last_event_at
    platforms = player.platforms
    if after.platform not in platforms:
        platforms = tuple(sorted(platforms + (after.platform,)))

    return PlayerState(
        player_id=player.player_id,
        open_sessions=open_sessions,
        last_seen=last_seen,
        session_count=player.session_count + (1 if was_new else 0),
        finished_session_count=player.finished_session_count + (1 if finished else 0),
        total_play_ms=player.total_play_ms + play_ms,
        platforms=platforms,
    )


def apply_step(player: PlayerState | None, step: Step) -> PlayerState | None:
    """``apply_player`` for the result of ``session_state.step``."""
    return apply_player(player, step.before, step.after)


def player_from_sessions(player_id: str, sessions: list[SessionState]) -> PlayerState | None:
    """The player's state computed directly from their sessions' current states.

    This is what the incremental fold must agree with; rebuilds and checks use it.
    """
    begun = [s for s in sessions if s.status is not SessionStatus.new]
    if not begun:
        return None
    seen = [s.last_event_at for s in begun if s.last_event_at is not None]
    finished = [s for s in begun if s.is_terminal]
    return PlayerState(
        player_id=player_id,
        open_sessions=tuple(sorted(
            OpenSession(s.opened_at, s.session_id) for s in begun if s.is_open
        )),
        last_seen=max(seen, default=None),
        session_count=len(begun),
        finished_session_count=len(finished),
        total_play_ms=sum(s.play_ms for s in finished),
        platforms=tuple(sorted({s.platform for s in begun})),
    )
