"""Every projection folded together from a stream of events: the reference for rebuild,
replay ("the ledger as of T") and tests.

``LedgerFold`` delivers events one at a time with the same pure functions the worker uses
(``session_state.step``, ``player_state.apply_step``, ``concurrency.concurrency_delta``);
``fold_all`` and ``fold_until`` run it over an iterable and return a ``LedgerView``. Events
are flat records (``schemas.records.SessionRecord``, what the batch decoder produces) or
models (``SessionEvent``, read as their record): the same fold either way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from projections.concurrency import Concurrency, ConcurrencyKey, concurrency_delta
from projections.disconnect_spikes import WindowKey, window_key
from projections.player_state import PlayerState, apply_step
from projections.session_state import SessionState, Step, step
from projections.timestamps import require_utc
from schemas.models import OpsEvent, SessionEvent
from schemas.records import OpsRecord, SessionRecord, session_record

Event = SessionEvent | SessionRecord | OpsEvent | OpsRecord
"""What the folds here take: session events as records or models; ops events are ignored."""


@dataclass(frozen=True)
class LedgerView:
    """The state of every projection after a fold."""

    sessions: Mapping[str, SessionState]
    players: Mapping[str, PlayerState]
    concurrency: Concurrency
    disconnects: Mapping[WindowKey, int] = field(default_factory=dict)
    """Accepted disconnects per (region, minute of occurred_at)."""


@dataclass
class DeliveryCounts:
    """How deliveries were handled; depends on delivery order, so kept out of ``LedgerView``."""

    applied: int = 0
    held: int = 0
    duplicate: int = 0
    ignored: int = 0
    """Events that are not session events (ops events in a mixed stream)."""


class LedgerFold:
    """Folds events into all projections at once; mutable, but with no clock and no I/O."""

    def __init__(self) -> None:
        self.sessions: dict[str, SessionState] = {}
        self.players: dict[str, PlayerState] = {}
        self.counts: dict[ConcurrencyKey, int] = {}
        self.disconnects: dict[WindowKey, int] = {}
        self.deliveries = DeliveryCounts()

    def deliver(self, event: Event) -> Step | None:
        """Fold one event; returns the session step, or None for an ops event."""
        if type(event) is not SessionRecord:
            if not isinstance(event, SessionEvent):
                self.deliveries.ignored += 1
                return None
            event = session_record(event)
        session_id = event.session_id
        result = step(self.sessions.get(session_id), event)
        self.sessions[session_id] = result.after
        if not result.applied:
            if result.outcome == "held":
                self.deliveries.held += 1
            else:
                self.deliveries.duplicate += 1
            return result
        self.deliveries.applied += len(result.applied)
        player = apply_step(self.players.get(result.after.player_id), result)
        if player is not None:
            self.players[player.player_id] = player
        for key, change in concurrency_delta(result.before, result.after):
            total = self.counts.get(key, 0) + change
            if total:
                self.counts[key] = total
            else:
                del self.counts[key]
        for accepted in result.accepted:
            window = window_key(accepted)
            if window is not None:
                self.disconnects[window] = self.disconnects.get(window, 0) + 1
        return result

    def view(self) -> LedgerView:
        return LedgerView(
            sessions=MappingProxyType(dict(self.sessions)),
            players=MappingProxyType(dict(self.players)),
            concurrency=Concurrency.from_counts(self.counts),
            disconnects=MappingProxyType(dict(self.disconnects)),
        )


def fold_all(events: Iterable[Event]) -> LedgerView:
    """Every projection after delivering ``events`` in the order given."""
    ledger = LedgerFold()
    for event in events:
        ledger.deliver(event)
    return ledger.view()


def fold_until(events: Iterable[Event], at: datetime) -> LedgerView:
    """The projections as of instant ``at``: only events that occurred at or before it count.

    Events are taken in the order given; an event at or before ``at`` whose predecessor seq
    occurred after ``at`` (clock skew between producers) stays held behind that gap.
    """
    at = require_utc(at, "at")
    return fold_all(
        e for e in events
        if not isinstance(e, (SessionEvent, SessionRecord)) or e.occurred_at <= at
    )


def fold_session(events: Iterable[SessionEvent | SessionRecord]) -> SessionState | None:
    """One session's state after delivering ``events`` (all of the same session)."""
    state = None
    for event in events:
        state = step(state, event).after
    return state


def timeline_order(events: Iterable[SessionEvent]) -> list[SessionEvent]:
    """One session's events in the order a reviewer reads them: the producers' events by seq,
    each verdict of the ledger (seq 0) placed at its instant, before the first producer event
    that occurred after it. The fold gives the same final state for any order; this one only
    makes the states in between read as they happened."""
    events = list(events)
    ordered = sorted((e for e in events if not e.is_derived), key=lambda e: e.seq)
    for verdict in sorted((e for e in events if e.is_derived), key=lambda e: e.occurred_at):
        at = next((i for i, e in enumerate(ordered)
                   if not e.is_derived and e.occurred_at > verdict.occurred_at), len(ordered))
        ordered.insert(at, verdict)
    return ordered


def session_timeline(events: Iterable[SessionEvent | SessionRecord]) -> list[Step]:
    """One session's deliveries in order, each with the state before and after it."""
    timeline: list[Step] = []
    state = None
    for event in events:
        result = step(state, event)
        timeline.append(result)
        state = result.after
    return timeline
