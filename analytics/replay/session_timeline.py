"""One session's timeline: each delivered event with the session's state after it. Pure.

The lines come from ``projections.session_timeline``, the same fold the worker runs, so the
replayed state after the last event is the live state of a worker that saw the same events.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Iterable

from analytics.replay.heartbeat_ttl import NEVER, close_heartbeat_gaps
from projections import SessionState, Step, session_timeline
from schemas.models import SessionEvent


@dataclass(frozen=True)
class TimelineLine:
    """One delivery: the event, what the fold did with it, and the state after."""

    occurred_at: datetime
    seq: int
    event_type: str
    outcome: str
    """applied, held (behind a gap) or duplicate."""
    status: str
    server_id: str | None
    last_seq: int
    anomalies: tuple[str, ...]
    """Anomalies this delivery recorded (reasons), empty when the machine allowed it."""
    anomaly_count: int
    """Anomalies recorded so far in the session."""
    derived: bool = False
    """The ledger's own event (a timeout verdict), not a producer's."""
    end_reason: str | None = None
    """How the session ended after this delivery, by the end rule (None while open)."""

    def as_dict(self) -> dict[str, Any]:
        return {"occurred_at": self.occurred_at.isoformat(), "seq": self.seq,
                "event_type": self.event_type, "outcome": self.outcome, "status": self.status,
                "server_id": self.server_id, "last_seq": self.last_seq,
                "anomalies": list(self.anomalies), "anomaly_count": self.anomaly_count,
                "derived": self.derived, "end_reason": self.end_reason}


@dataclass(frozen=True)
class SessionReplay:
    session_id: str
    lines: tuple[TimelineLine, ...]
    final: SessionState
    source: str
    """Where the events came from: "history" (ClickHouse) or "kafka"."""

    def as_dict(self) -> dict[str, Any]:
        return {"session_id": self.session_id, "source": self.source,
                "timeline": [line.as_dict() for line in self.lines], "state": self.final.to_dict()}


def replay_session(session_id: str, events: Iterable[SessionEvent], source: str,
                   at: datetime | None = None, heartbeats_before: datetime = NEVER) -> SessionReplay | None:
    """The timeline of ``events`` (one session, delivery order), up to ``at`` when given.

    A session with an event before ``heartbeats_before`` (the history's heartbeat TTL cutoff) is
    folded with the holes its deleted heartbeats left closed (``heartbeat_ttl``); its lines show
    the stored seqs. None when no event is left to replay.
    """
    chosen = [e for e in events if at is None or e.occurred_at <= at]
    folded, stored = close_heartbeat_gaps(chosen, heartbeats_before)
    steps = session_timeline(folded)
    if not steps:
        return None
    lines = tuple(_line(event, result, stored) for event, result in zip(chosen, steps))
    final = steps[-1].after
    return SessionReplay(session_id, lines, replace(final, last_seq=stored.get(final.last_seq, final.last_seq)),
                         source)


def _line(event: SessionEvent, result: Step, stored: dict[int, int]) -> TimelineLine:
    after = result.after
    before_count = result.before.anomaly_count if result.before is not None else 0
    new = after.anomalies[before_count:]
    return TimelineLine(
        occurred_at=event.occurred_at, seq=event.seq, event_type=event.event_type.value,
        outcome=result.outcome, status=after.status.value, server_id=after.server_id,
        last_seq=stored.get(after.last_seq, after.last_seq), anomalies=tuple(a.reason for a in new),
        anomaly_count=after.anomaly_count, derived=event.is_derived, end_reason=after.end_reason)
