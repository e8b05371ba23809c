"""What can go wrong when projection code is called the wrong way.

Events themselves never raise here: an event the state machine does not allow is recorded
as an anomaly on the session. These errors are for callers that hand a fold the wrong
session, a stored state that cannot be read back, or a naive timestamp.
"""

from __future__ import annotations

from typing import Any

from schemas.errors import Fatal, InvalidInput, LedgerError


class ProjectionError(LedgerError):
    """Root of every error raised by the projections package (the tree: schemas/errors.py)."""


class WrongSession(ProjectionError, Fatal):
    """An event was applied to the state of another session."""

    def __init__(self, state_session_id: str, event_session_id: str) -> None:
        self.state_session_id = state_session_id
        self.event_session_id = event_session_id
        super().__init__(
            f"event for session {event_session_id} was applied to the state of session "
            f"{state_session_id}; look the state up by the event's session_id "
            "(the Kafka key) before applying"
        )


class BadStateRecord(ProjectionError, Fatal):
    """A stored projection record (a table value, a snapshot) cannot be turned back into state."""

    def __init__(self, kind: str, field: str, reason: str, value: Any) -> None:
        self.kind = kind
        self.field = field
        self.reason = reason
        self.value = value
        super().__init__(
            f"stored {kind} has a bad '{field}': {reason} (got {value!r}); the record was "
            "not written by this version of to_dict(): rebuild the projection from the log "
            "with `ledger projections rebuild`"
        )


class NotTimedOut(ProjectionError, Fatal):
    """A timed_out event was asked for a session that has not timed out."""

    def __init__(
        self, session_id: str, status: str, silent_s: float | None, timeout_s: int,
    ) -> None:
        self.session_id = session_id
        super().__init__(
            f"session {session_id} (status {status}) has been silent for "
            f"{'an unknown time' if silent_s is None else f'{silent_s:.3f}s'}, which is not "
            f"a timeout of {timeout_s}s; check is_timed_out() before building the event"
        )


class NaiveTimestamp(ProjectionError, Fatal):
    """A timestamp without a timezone was given where UTC instants are required."""

    def __init__(self, what: str, value: Any) -> None:
        self.value = value
        super().__init__(
            f"{what} must be timezone-aware (UTC), got naive {value!r}; "
            "use datetime.now(timezone.utc) or an event's occurred_at"
        )


class WrongPlayer(ProjectionError, Fatal):
    """A session change was folded into the state of another player."""

    def __init__(self, state_player_id: str, session_player_id: str, session_id: str) -> None:
        self.state_player_id = state_player_id
        self.session_player_id = session_player_id
        super().__init__(
            f"session {session_id} belongs to player {session_player_id} but was folded into "
            f"the state of player {state_player_id}; look the player up by the session "
            "state's player_id"
        )


class UnknownGrouping(ProjectionError, InvalidInput, ValueError):
    """A breakdown was asked for by a field the counters are not keyed by."""

    def __init__(self, names: list[str], allowed: list[str]) -> None:
        self.names = names
        super().__init__(
            f"cannot group concurrency by {', '.join(names)}; group by any of "
            f"{', '.join(allowed)}"
        )


class MilestoneOutOfOrder(ProjectionError, InvalidInput):
    """An incident milestone that would come before one it must follow (resolved before opened)."""

    def __init__(self, incident_id: str, field: str, problem: str) -> None:
        self.incident_id = incident_id
        self.field = field
        super().__init__(
            f"incident {incident_id}: {field} {problem}; fix the time, or send an "
            "incident_corrected event for the milestone that is wrong"
        )


class BadErasure(ProjectionError, InvalidInput):
    """An erasure request or registry record that cannot be used: an empty player id, an id that is
    itself an erasure token, or a registry record missing a field. The message names which."""
