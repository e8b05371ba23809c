"""Replay the history: a session's timeline, an incident or a window, the ledger as of an instant,
and the self-contained HTML timeline page. See docs/replay.md.

Reads from a ``Warehouse`` passed in; folds with the same pure functions as the worker.
"""
from analytics.replay.as_of import LedgerAsOf, LedgerCounts, counts_as_of, fold_events, ledger_as_of
from analytics.replay.errors import (
    BadWindow, EmptyWindow, IncidentNotFound, NothingToReplay, ReplayError, SessionNotFound,
)
from analytics.replay.history import Window, events_until, iter_session_events, session_events_of
from analytics.replay.session_timeline import SessionReplay, TimelineLine, replay_session
from analytics.replay.window import WindowReplay, interleave, replay_incident, replay_window

__all__ = [
    "BadWindow", "EmptyWindow", "IncidentNotFound", "LedgerAsOf", "LedgerCounts", "NothingToReplay",
    "ReplayError", "SessionNotFound", "SessionReplay", "TimelineLine", "Window", "WindowReplay",
    "counts_as_of", "events_until", "fold_events", "interleave", "iter_session_events", "ledger_as_of",
    "replay_incident", "replay_session", "replay_window", "session_events_of",
]
