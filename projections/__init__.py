"""Pure folds of the event log into live state: sessions, players, concurrency.

Nothing here reads a clock or does I/O; the worker, replay, rebuild and tests call the same
functions. See docs/projections.md.
"""

from projections.concurrency import Concurrency, ConcurrencyKey, concurrency_delta
from projections.fold import (
    LedgerFold, LedgerView, fold_all, fold_until, session_timeline, timeline_order,
)
from projections.player_state import PlayerState, apply_player, apply_step
from projections.session_state import (
    SessionState,
    SessionStatus,
    Step,
    apply,
    is_timed_out,
    step,
    timeout_event,
    timeout_event_fields,
)

__all__ = [
    "Concurrency", "ConcurrencyKey", "LedgerFold", "LedgerView", "PlayerState",
    "SessionState", "SessionStatus", "Step", "apply", "apply_player", "apply_step",
    "concurrency_delta", "fold_all", "fold_until", "is_timed_out", "session_timeline", "timeline_order",
    "step", "timeout_event", "timeout_event_fields",
]
