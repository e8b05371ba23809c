"""Replaying sessions whose raw heartbeats the warehouse's TTL has deleted. Pure but for the cutoff.

``session_events`` keeps raw heartbeats ``LEDGER_HEARTBEAT_TTL_DAYS`` and lifecycle events for
years (analytics/retention.py). A session older than the heartbeat TTL keeps its lifecycle events
with holes in its seqs where its heartbeats were, and the fold would hold every event after the
first hole, its end included. A replay therefore closes the holes of such a session: its
producers' events are renumbered in seq order from its first seq on (a dense rank, so a seq
stored twice stays a duplicate), and the fold sees them contiguous.

Which sessions: those with a producers' event that occurred before ``heartbeats_before``, now
minus the heartbeat TTL the table carries (read from the engine, not the settings). ClickHouse
deletes a heartbeat once it is older than the TTL at a merge, so every deleted heartbeat occurred
before that instant, and a session whose events are all newer has lost none: its holes are real
gaps, held as the live worker held them. In a session older than the cutoff a real gap can no
longer be told from a deleted heartbeat, so it is closed too. Seqs missing before the session's
first stored seq are never closed: the first producers' event is a requested or a started, never
a heartbeat. ``sessions_as_of.sql`` settles such sessions by the same rule.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Iterable

from analytics.retention import HEARTBEAT, read_ttls
from analytics.warehouse import Warehouse
from schemas.models import SessionEvent

NEVER = datetime(1970, 1, 1, tzinfo=timezone.utc)
"""The cutoff when heartbeats never expire: no session is older than it."""

_HEARTBEAT_RULE = re.compile(
    r"(?:toIntervalDay\((\d+)\)|INTERVAL\s+(\d+)\s+DAY)(?:\s+DELETE)?\s+WHERE\s+event_type\s*=\s*'"
    + HEARTBEAT + "'", re.IGNORECASE)


def heartbeat_ttl_days(clause: str | None) -> int | None:
    """The days of the heartbeat rule of a ``session_events`` TTL clause as the engine shows it;
    None when the clause has no rule limited to heartbeats. Pure."""
    found = _HEARTBEAT_RULE.search(clause or "")
    return int(found.group(1) or found.group(2)) if found else None


def heartbeats_before(warehouse: Warehouse, now: datetime | None = None) -> datetime:
    """The instant before which a session may have lost heartbeats to the TTL: ``now`` minus the
    heartbeat TTL ``session_events`` carries, or ``NEVER`` when it carries none."""
    days = heartbeat_ttl_days(read_ttls(warehouse).get("session_events"))
    if days is None:
        return NEVER
    return (now or datetime.now(timezone.utc)) - timedelta(days=days)


def close_heartbeat_gaps(events: Iterable[SessionEvent], before: datetime
                         ) -> tuple[list[SessionEvent], dict[int, int]]:
    """One session's ``events`` with the holes in its producers' seqs closed when one of them
    occurred before ``before`` (else as they are), and the map from each changed seq back to the
    stored one (empty: nothing renumbered). Order and verdicts are kept. Pure."""
    events = list(events)
    producers = [e for e in events if not e.is_derived]
    if not producers or min(e.occurred_at for e in producers) >= before:
        return events, {}
    seqs = sorted({e.seq for e in producers})
    renumbered = {seq: seqs[0] + rank for rank, seq in enumerate(seqs)}
    if renumbered[seqs[-1]] == seqs[-1]:
        return events, {}
    closed = [e if e.is_derived or renumbered[e.seq] == e.seq
              else e.model_copy(update={"seq": renumbered[e.seq]}) for e in events]
    return closed, {new: old for old, new in renumbered.items() if new != old}
