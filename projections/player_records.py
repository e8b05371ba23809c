"""Player records as the worker keeps them: the player's state plus what it has already counted.

The session fold runs where the session's partition is; a player's sessions are spread over
partitions, so each session change is sent on, keyed by player_id, as a ``player update``
(the revision, status and play time before the change, and the session's ``SessionMark``
after it: only what the player fold reads). The player fold applies an update only if
it moves that session past the last revision already counted for it, so an update delivered twice
(a worker restarted between sending it and committing its input) changes nothing; and it
applies the update from the seq and status it last applied, not from the update's ``before``,
so a sender that folds the session again from an older record opens or counts nothing twice.
A revision is the session's ``last_seq`` plus its verdict changes (``SessionState.revision``).

Everything here is pure: records in, records out.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from projections.player_state import PlayerState, SessionMark, apply_player
from projections.session_state import SessionState, SessionStatus

RECENT_FINISHED = 32
"""Finished sessions whose last revision a player record remembers, newest kept (duplicates of an
update arrive close behind the original, so a short memory covers them)."""


UPDATE_VERSION = 2
"""Player updates carry the session's mark after the change (see ``SessionMark``) and the
revision, status and play time before it. Version 1 updates (two whole session records) are
still read."""


def player_update(before: SessionState | None, after: SessionState) -> dict[str, Any]:
    """The message sent to the player fold for one change of one session."""
    return {
        "v": UPDATE_VERSION,
        "before": (None if before is None
                   else [before.revision, before.status.value, before.play_ms]),
        "after": SessionMark.of(after).to_dict(),
    }


def read_update(update: Mapping[str, Any]) -> tuple[SessionMark | None, SessionMark]:
    """``(before, after)`` of a player update of either version."""
    if update.get("v") != UPDATE_VERSION:
        before, after = update["before"], update["after"]
        return (None if before is None else SessionMark.of(SessionState.from_dict(before)),
                SessionMark.of(SessionState.from_dict(after)))
    after = SessionMark.from_dict(update["after"])
    if update["before"] is None:
        return None, after
    revision, status, *play_ms = update["before"]
    return replace(after, revision=int(revision), status=SessionStatus(status),
                   play_ms=int(play_ms[0]) if play_ms else 0), after


def merges(first: tuple[SessionState | None, SessionState], then: SessionState) -> bool:
    """Whether ``apply_player`` gives the same player for the change ``first`` followed by the
    change to ``then`` as for the one change from ``first``'s before straight to ``then``.

    It does when the state in between did not finish the session (play time is counted from
    the finishing state) and carried no platform, opening time or later last event that
    ``then`` does not. Such a state is open (a change never leads to ``new``), and ``then`` is
    open or finished: a session opened and finished by one joined change is counted and never
    listed open, just as the two changes would leave it.
    """
    _before, middle = first
    return (
        not middle.is_terminal
        and middle.platform == then.platform
        and middle.opened_at == then.opened_at
        and (middle.last_event_at is None
             or (then.last_event_at is not None and then.last_event_at >= middle.last_event_at))
    )


def coalesce(
    changes: list[tuple[SessionState | None, SessionState]],
) -> list[tuple[SessionState | None, SessionState]]:
    """One session's successive changes, each run of adjoining changes (one's after is the
    next one's before) that ``merges`` joined into one change.

    A batch of deliveries sends a player one update per run instead of one per event; the
    player fold applies the joined change exactly as it would have applied the run.
    """
    out: list[tuple[SessionState | None, SessionState]] = []
    for before, after in changes:
        if out and out[-1][1] is before and merges(out[-1], after):
            out[-1] = (out[-1][0], after)
        else:
            out.append((before, after))
    return out


def changes_player(before: SessionState | None, after: SessionState) -> bool:
    """Whether a session change can change its player (the same test ``apply_player`` makes)."""
    before_revision = 0 if before is None else before.revision
    return after.revision != before_revision and after.status is not SessionStatus.new


def fold_player_update(
    record: Mapping[str, Any] | None, update: Mapping[str, Any],
) -> tuple[dict[str, Any] | None, bool]:
    """``(new record, applied)`` after one player update; the record itself when it is a repeat.

    The record remembers, per session, the last revision, status and play time it applied
    (``seen``). An update
    whose ``before`` is older than that (the sender's session record was older than what the
    player had already applied: a worker killed after its player update reached the broker but
    before its session record did, folding the same events again after restart) is applied
    from what the player saw instead, so nothing is counted, opened or finished twice.
    """
    folding = PlayerRecord.read(record)
    if not folding.apply(update):
        return (dict(record) if record else None), False
    return folding.to_dict(), True


class PlayerRecord:
    """A player record being folded: parsed once, however many updates a run applies to it."""

    __slots__ = ("player", "seen")

    def __init__(self, player: PlayerState | None, seen: dict[str, Any]) -> None:
        self.player = player
        self.seen = seen

    @classmethod
    def read(cls, record: Mapping[str, Any] | None) -> PlayerRecord:
        if not record:
            return cls(None, {})
        return cls(PlayerState.from_dict(record["player"]), dict(record["seen"]))

    def apply(self, update: Mapping[str, Any]) -> bool:
        """Apply one update (see ``fold_player_update``); False when it changes nothing."""
        before, after = read_update(update)
        seen = self.seen
        prior_revision, prior_status, prior_play_ms = _prior(seen.get(after.session_id))
        if prior_revision >= after.revision:
            return False
        if prior_status is not None and (before is None or before.revision != prior_revision):
            before = replace(before or after, revision=prior_revision,
                             status=SessionStatus(prior_status), play_ms=prior_play_ms)
        player = apply_player(self.player, before, after)
        if player is None:
            return False
        self.player = player
        seen.pop(after.session_id, None)
        seen[after.session_id] = [after.revision, after.status.value, after.play_ms]
        if len(seen) > RECENT_FINISHED:
            open_ids = {s.session_id for s in player.open_sessions}
            finished = [sid for sid in seen if sid not in open_ids]
            for sid in finished[:-RECENT_FINISHED]:
                del seen[sid]
        return True

    def to_dict(self) -> dict[str, Any]:
        assert self.player is not None, "a player record is written only once an update applied"
        return {"player": self.player.to_dict(), "seen": self.seen}


def _prior(entry: Any) -> tuple[int, str | None, int]:
    """``(last revision, status, play ms)`` the player applied of a session: ``(0, None, 0)``
    if none; records written before statuses or play time were remembered give a bare revision
    or a pair."""
    if entry is None:
        return 0, None, 0
    if isinstance(entry, int):
        return entry, None, 0
    return int(entry[0]), entry[1], int(entry[2]) if len(entry) > 2 else 0


def player_of(record: Mapping[str, Any]) -> PlayerState:
    return PlayerState.from_dict(record["player"])
