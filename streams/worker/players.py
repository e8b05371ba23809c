"""Player records as the worker keeps them: the player's state plus what it has already counted.

The session fold runs where the session's partition is; a player's sessions are spread over
partitions, so each session change is sent on, keyed by player_id, as a ``player update``
(the session's state before and after the change). The player fold applies an update only if
it moves that session past the last seq already counted for it, so an update delivered twice
(a worker restarted between sending it and committing its input) changes nothing; and it
applies the update from the seq and status it last applied, not from the update's ``before``,
so a sender that folds the session again from an older record opens or counts nothing twice.

Everything here is pure: records in, records out.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from projections.player_state import PlayerState, apply_player
from projections.session_state import SessionState, SessionStatus

RECENT_FINISHED = 32
"""Finished sessions whose last seq a player record remembers, newest kept (duplicates of an
update arrive close behind the original, so a short memory covers them)."""


def _slim(state: SessionState) -> dict[str, Any]:
    """A session state without what the player fold does not read (held events, anomalies)."""
    record = state.to_dict()
    record["pending"] = []
    record["anomalies"] = []
    return record


def player_update(before: SessionState | None, after: SessionState) -> dict[str, Any]:
    """The message sent to the player fold for one change of one session."""
    return {"before": None if before is None else _slim(before), "after": _slim(after)}


def merges(first: tuple[SessionState | None, SessionState], then: SessionState) -> bool:
    """Whether ``apply_player`` gives the same player for the change ``first`` followed by the
    change to ``then`` as for the one change from ``first``'s before straight to ``then``.

    It does when the state in between neither finished the session (play time is counted from
    the finishing state), nor was open where ``then`` is not (or the reverse), nor carried a
    platform, an opening time or a later last event that ``then`` does not.
    """
    _before, middle = first
    return (
        not middle.is_terminal
        and middle.is_open == then.is_open
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
    before_seq = 0 if before is None else before.last_seq
    return after.last_seq != before_seq and after.status.value != "new"


def fold_player_update(
    record: Mapping[str, Any] | None, update: Mapping[str, Any],
) -> tuple[dict[str, Any] | None, bool]:
    """``(new record, applied)`` after one player update; the record itself when it is a repeat.

    The record remembers, per session, the last seq and status it applied (``seen``). An update
    whose ``before`` is older than that (the sender's session record was older than what the
    player had already applied: a worker killed after its player update reached the broker but
    before its session record did, folding the same events again after restart) is applied
    from what the player saw instead, so nothing is counted, opened or finished twice.
    """
    before = None if update["before"] is None else SessionState.from_dict(update["before"])
    after = SessionState.from_dict(update["after"])
    seen: dict[str, Any] = dict(record["seen"]) if record else {}
    prior_seq, prior_status = _prior(seen.get(after.session_id))
    if prior_seq >= after.last_seq:
        return (dict(record) if record else None), False
    if prior_status is not None and (before is None or before.last_seq != prior_seq):
        before = replace(before or after, last_seq=prior_seq, status=SessionStatus(prior_status))
    player = PlayerState.from_dict(record["player"]) if record else None
    player = apply_player(player, before, after)
    if player is None:
        return (dict(record) if record else None), False
    seen.pop(after.session_id, None)
    seen[after.session_id] = [after.last_seq, after.status.value]
    open_ids = {s.session_id for s in player.open_sessions}
    finished = [sid for sid in seen if sid not in open_ids]
    for sid in finished[:-RECENT_FINISHED]:
        del seen[sid]
    return {"player": player.to_dict(), "seen": seen}, True


def _prior(entry: Any) -> tuple[int, str | None]:
    """``(last seq, status)`` the player applied of a session: ``(0, None)`` if none, and no
    status from records written before statuses were remembered (a bare seq)."""
    if entry is None:
        return 0, None
    if isinstance(entry, int):
        return entry, None
    return int(entry[0]), entry[1]


def player_of(record: Mapping[str, Any]) -> PlayerState:
    return PlayerState.from_dict(record["player"])
