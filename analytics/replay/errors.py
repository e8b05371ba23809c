"""What can go wrong when replaying the history: nothing to replay, or a window that makes no sense.

Each error says what was asked for, what was found, and what to try instead. They derive from
``AnalyticsError``; ``NothingToReplay`` is ``Fatal`` (exit code 1: the question was fine, the
history has no answer) and ``BadWindow`` is ``InvalidInput`` (exit code 2: the question is
malformed).
"""
from __future__ import annotations

from datetime import datetime

from analytics.errors import AnalyticsError
from schemas.errors import Fatal, InvalidInput


class ReplayError(AnalyticsError):
    """Base of the replay's errors."""


class NothingToReplay(ReplayError, Fatal):
    """The history holds nothing for what was asked."""


class SessionNotFound(NothingToReplay):
    def __init__(self, session_id: str, where: str = "the ClickHouse history") -> None:
        self.session_id = session_id
        super().__init__(
            f"session {session_id} has no events in {where}. Check the id (the session_id UUID, "
            "not the player id); if the sink has not written it yet, try --from-kafka")


class IncidentNotFound(NothingToReplay):
    def __init__(self, incident_id: str) -> None:
        self.incident_id = incident_id
        super().__init__(
            f"incident {incident_id!r} has no incident_opened event in the history. "
            "List known incidents with `ledger report incidents`")


class EmptyWindow(NothingToReplay):
    def __init__(self, from_: datetime, to: datetime, region: str = "") -> None:
        where = f" in region {region!r}" if region else ""
        super().__init__(
            f"no events between {from_.isoformat()} and {to.isoformat()}{where}. "
            "Widen the window, or drop --region; `ledger report incidents` shows when things happened")


class BadWindow(ReplayError, InvalidInput, ValueError):
    """A window whose bounds are missing, reversed or not UTC."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"bad replay window: {problem}")


def check_window(from_: datetime, to: datetime) -> None:
    """Raise ``BadWindow`` unless [from_, to) is a non-empty span of aware instants."""
    for name, value in (("from", from_), ("to", to)):
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise BadWindow(f"--{name} must be a timezone-aware instant, got {value!r}")
    if from_ >= to:
        raise BadWindow(f"--from ({from_.isoformat()}) must be before --to ({to.isoformat()})")
