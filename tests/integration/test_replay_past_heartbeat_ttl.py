"""The ledger as of an instant older than the heartbeat TTL, on real chDB with the TTL applied:
statuses, end reasons and counts equal to the live fold of the full history (heartbeats
included), and a session's timeline folds to its final status. What the deleted heartbeats alone
carried (heartbeat count, last heartbeat, latency, packet loss, and the last seq and last event
while a heartbeat was the latest, a player's last seen) is what the remaining events say."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.migrate import migrate
from analytics.replay import LedgerAsOf, counts_as_of, ledger_as_of, replay_session, session_events_of
from analytics.replay.heartbeat_ttl import NEVER, heartbeats_before
from analytics.replay.history import sql
from analytics.retention import WarehouseRetention, apply_retention
from analytics.rows import write_events
from analytics.warehouse import ChdbWarehouse
from projections import fold_until
from tests.support.cli import ledger, settings_env
from tests.support.factories import session_event, session_script
from tests.support.strategies import arrivals, contested_sessions

MS = timedelta(milliseconds=1)
NOW = datetime.now(timezone.utc).replace(microsecond=0)
OLD = NOW - timedelta(days=60)
RECENT = NOW - timedelta(days=1)
RETENTION = WarehouseRetention(heartbeat_days=30, lifecycle_days=1095)


def _then(events, event_type, after, seq, **fields):
    last = events[-1]
    return session_event(event_type, session_id=last.session_id, player_id=last.player_id, seq=seq,
                         occurred_at=max(e.occurred_at for e in events) + after, **fields)


def stories():
    """(name, events) of sessions older than the TTL, and two recent ones (one with a real gap)."""
    at = lambda minutes: OLD + timedelta(minutes=minutes)  # noqa: E731
    late = session_script(player_id="p-late", start=at(9), heartbeats=3, end="timed_out")
    late.append(_then(late, "ended", timedelta(seconds=20), 6, reason="quit"))
    gap = session_script(player_id="p-gap", start=RECENT, heartbeats=4, end="normal")
    return [
        ("ended", session_script(player_id="p-ended", start=at(0), heartbeats=5)),
        ("ended with an error after a drop", session_script(
            player_id="p-drop", start=at(1), heartbeats=4, end="error", disconnect_and_reconnect=True,
            region="us-east", platform="xbox")),
        ("migrated, then ended", session_script(player_id="p-moved", start=at(2), heartbeats=3, migrate=True)),
        ("timed out", session_script(player_id="p-silent", start=at(3), heartbeats=6, end="timed_out")),
        ("still open", session_script(player_id="p-open", start=at(4), heartbeats=8, end=None,
                                      platform="ios")),
        ("still open, dropped and back, migrated", session_script(
            player_id="p-open", start=at(5), heartbeats=3, end=None, disconnect_and_reconnect=True,
            migrate=True, region="us-east")),
        ("ended after its verdict: a late end", late),
        ("recent, ended", session_script(player_id="p-recent", start=RECENT, heartbeats=3)),
        ("recent, seq 4 never arrives", [e for e in gap if e.seq != 4]),
    ]


@pytest.fixture
def trimmed(warehouse):
    """The history written, then the heartbeat TTL applied and materialized."""
    told = stories()
    events = [e for _, story in told for e in story]
    write_events(warehouse, events)
    apply_retention(warehouse, RETENTION)
    warehouse.execute("OPTIMIZE TABLE session_events FINAL")
    return warehouse, told, events


def _without_heartbeat_fields(state):
    return replace(state, heartbeat_count=0, last_heartbeat_at=None, latency_ms=None,
                   packet_loss_pct=None, last_event_at=None, last_seq=0)


def _kept(events):
    """The events the TTL leaves: every heartbeat older than the TTL goes."""
    return [e for e in events if e.event_type.value != "heartbeat" or e.occurred_at >= NOW - timedelta(days=30)]


def _instants(events):
    times = sorted({e.occurred_at for e in events})
    return sorted({*times, *(t - MS for t in times), times[-1] + timedelta(minutes=5)})


def test_the_ttl_took_the_old_heartbeats_and_left_everything_else(trimmed):
    warehouse, _, events = trimmed

    rows = warehouse.query("SELECT event_id FROM session_events FINAL")

    assert sorted(r["event_id"] for r in rows) == sorted(e.event_id for e in _kept(events))
    assert len(rows) < len(events)
    assert heartbeats_before(warehouse) > OLD + timedelta(days=1)


def test_the_ledger_as_of_old_instants_equals_the_live_fold_of_the_full_history(trimmed):
    warehouse, _, events = trimmed
    live_log = sorted(events, key=lambda e: (e.occurred_at, e.session_id, e.seq))
    kept = _kept(events)

    for at in _instants(events):
        live = fold_until(live_log, at)
        folded = sum(1 for e in kept if e.occurred_at <= at)

        replayed = ledger_as_of(warehouse, at, chunk=2)

        assert {k: _without_heartbeat_fields(s) for k, s in replayed.view.sessions.items()} == {
            k: _without_heartbeat_fields(s) for k, s in live.sessions.items()}, at
        assert {k: replace(p, last_seen=None) for k, p in replayed.view.players.items()} == {
            k: replace(p, last_seen=None) for k, p in live.players.items()}, at
        assert replayed.view.concurrency == live.concurrency, at
        assert dict(replayed.view.disconnects) == dict(live.disconnects), at
        assert counts_as_of(warehouse, at).summary() == LedgerAsOf(at, live, folded).summary(), at


def test_the_counts_past_the_ttl_are_what_the_history_ended_with(trimmed):
    warehouse, _, events = trimmed
    at = OLD + timedelta(hours=1)

    summary = counts_as_of(warehouse, at).summary()

    assert summary["sessions"]["by_status"] == {"active": 2, "ended": 3, "timed_out": 2}
    assert summary["live"] == 2
    assert summary["players"]["with_open_sessions"] == 1


def test_the_warehouse_settles_the_old_sessions_and_leaves_the_real_gap_to_the_fold(trimmed):
    warehouse, told, _ = trimmed
    table = warehouse.query_table(sql("sessions_as_of"), {
        "until": NOW, "region": "", "from_session": "", "to_session": "",
        "heartbeats_before": heartbeats_before(warehouse)})
    settled = dict(zip(table["session_id"].to_pylist(), table["settled"].to_pylist()))

    assert {name for name, story in told if not settled[story[0].session_id]} == {
        "recent, seq 4 never arrives"}


def test_a_recent_session_keeps_its_real_gap_held(trimmed):
    warehouse, told, _ = trimmed
    gap = dict(told)["recent, seq 4 never arrives"]

    state = ledger_as_of(warehouse, NOW).view.sessions[gap[0].session_id]

    assert state.status.value == "active"
    assert state.last_seq == 3


def test_the_timeline_of_an_old_session_folds_to_its_end_with_its_stored_seqs(trimmed):
    warehouse, told, _ = trimmed
    story = dict(told)["ended with an error after a drop"]
    kept = _kept(story)

    replayed = replay_session(story[0].session_id, session_events_of(warehouse, story[0].session_id),
                              "history", heartbeats_before=heartbeats_before(warehouse))
    unclosed = replay_session(story[0].session_id, session_events_of(warehouse, story[0].session_id),
                              "history", heartbeats_before=NEVER)

    assert [line.seq for line in replayed.lines] == [e.seq for e in kept]
    assert {line.outcome for line in replayed.lines} == {"applied"}
    assert replayed.final.status.value == "ended" and replayed.final.end_reason == "error"
    assert replayed.final.last_seq == story[-1].seq
    assert "held" in {line.outcome for line in unclosed.lines}  # what the gaps did unclosed


def test_replay_window_at_and_replay_session_on_the_command_line(test_settings):
    told = stories()
    with ChdbWarehouse(test_settings.chdb_path) as history:
        migrate(history, retention=RETENTION)
        write_events(history, [e for _, story in told for e in story])
        history.execute("OPTIMIZE TABLE session_events FINAL")
    env = settings_env(test_settings)
    silent = dict(told)["timed out"]

    window = ledger("replay", "window", "--at", (OLD + timedelta(hours=1)).isoformat(), "--json", env=env)
    session = ledger("replay", "session", silent[0].session_id, "--json", env=env)

    assert window.returncode == 0, window.stderr
    assert json.loads(window.stdout)["sessions"]["by_status"] == {"active": 2, "ended": 3, "timed_out": 2}
    assert session.returncode == 0, session.stderr
    replayed = json.loads(session.stdout)
    assert replayed["state"]["status"] == "timed_out"
    assert "held" not in {line["outcome"] for line in replayed["timeline"]}


@pytest.fixture(scope="module")
def shared_trimmed(tmp_path_factory):
    warehouse = ChdbWarehouse(tmp_path_factory.mktemp("past-ttl") / "chdb")
    migrate(warehouse, retention=RETENTION)
    yield warehouse
    warehouse.close()


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data(), contested=st.lists(contested_sessions(), min_size=1, max_size=4))
def test_any_lawful_history_past_the_ttl_as_of_any_instant_equals_the_live_fold(shared_trimmed, data,
                                                                                 contested):
    """Lawful sessions (contested ends, verdicts, drops, redeliveries in any order of arrival), all
    older than the TTL, their heartbeats deleted by it."""
    events = [e for c in contested for e in c.events]
    log = data.draw(arrivals(events))
    at = data.draw(st.sampled_from(_instants(events)))
    shared_trimmed.execute("TRUNCATE TABLE session_events", name="empty the history")
    write_events(shared_trimmed, log)
    shared_trimmed.execute("OPTIMIZE TABLE session_events FINAL")
    live = fold_until(log, at)

    replayed = ledger_as_of(shared_trimmed, at, chunk=2)

    assert {k: _without_heartbeat_fields(s) for k, s in replayed.view.sessions.items()} == {
        k: _without_heartbeat_fields(s) for k, s in live.sessions.items()}
    assert {k: replace(p, last_seen=None) for k, p in replayed.view.players.items()} == {
        k: replace(p, last_seen=None) for k, p in live.players.items()}
    assert replayed.view.concurrency == live.concurrency
    assert dict(replayed.view.disconnects) == dict(live.disconnects)
    assert counts_as_of(shared_trimmed, at).summary() == LedgerAsOf(at, live, replayed.events_folded).summary()
