"""The window's sessions affected and lifecycle events, from the columns of window_events.sql."""
from __future__ import annotations

from datetime import timedelta

import pyarrow as pa

from analytics.replay.window import affected_sessions, lifecycle_rows
from tests.support.factories import T0

COLUMNS = ("occurred_at", "session_id", "player_id", "seq", "region", "platform", "event_type",
           "end_reason", "reason", "server_id")


def window_events(*rows):
    """A window_events.sql result: rows of (seconds after T0, session, event_type, end_reason)."""
    full = [(T0 + timedelta(seconds=s), session, f"p-{session}", seq, "eu-west", "pc", kind, end,
             end, "") for seq, (s, session, kind, end) in enumerate(rows, 1)]
    return pa.table({name: [row[i] for row in full] for i, name in enumerate(COLUMNS)})


def test_sessions_are_affected_by_disconnects_standing_timeouts_and_abnormal_ends_only():
    events = window_events(
        (1, "a", "disconnected", ""), (2, "a", "reconnected", ""), (3, "a", "disconnected", ""),
        (4, "b", "ended", "normal"), (5, "c", "ended", "server_crash"), (6, "d", "timed_out", ""),
        (7, "e", "timed_out", ""), (8, "e", "ended", "normal"))

    affected = affected_sessions(events, overruled={"e"}, limit=10)

    assert [(s["session_id"], s["disconnects"], s["reconnects"], s["timeouts"], s["abnormal_ends"])
            for s in affected] == [("a", 2, 1, 0, 0), ("c", 0, 0, 0, 1), ("d", 0, 0, 1, 0)]
    assert affected[0]["first_disrupted_at"] == T0 + timedelta(seconds=1)
    assert affected[0]["player_id"] == "p-a" and affected[0]["region"] == "eu-west"


def test_the_first_sessions_by_first_disruption_are_kept():
    events = window_events((5, "late", "disconnected", ""), (1, "early", "timed_out", ""),
                           (3, "mid", "disconnected", ""))

    affected = affected_sessions(events, overruled=set(), limit=2)

    assert [s["session_id"] for s in affected] == ["early", "mid"]


def test_an_empty_window_affects_nobody_and_shows_no_event():
    events = window_events((1, "a", "ended", "normal")).slice(0, 0)

    assert affected_sessions(events, overruled=set(), limit=10) == ()
    assert lifecycle_rows(events, 10) == ()


def test_lifecycle_rows_show_the_first_events_with_their_instants():
    events = window_events((1, "a", "requested", ""), (2, "a", "started", ""), (3, "a", "ended", "quit"))

    rows = lifecycle_rows(events, 2)

    assert [(r["occurred_at"], r["event_type"]) for r in rows] == [
        (T0 + timedelta(seconds=1), "requested"), (T0 + timedelta(seconds=2), "started")]
    assert set(rows[0]) == {"occurred_at", "session_id", "player_id", "seq", "region", "platform",
                            "event_type", "reason", "server_id"}
