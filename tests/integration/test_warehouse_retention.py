"""Warehouse TTLs on real chDB: brought to the settings idempotently, and the expiry of raw
heartbeats leaves the per-session summary and the per-minute rollup as they were."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from analytics.migrate import migrate
from analytics.retention import WarehouseRetention, apply_retention, read_ttls
from analytics.rows import write_events
from tests.support.factories import ops_event, session_script

SUMMARY = ("SELECT session_id, player_id, requested_at, started_at, ended_at, end_reason, first_event_at, "
           "last_event_at, last_seq FROM session_summary ORDER BY session_id")
ROLLUP = ("SELECT minute, region, platform, uniqExactMerge(starts) AS starts, uniqExactMerge(ends_normal) AS ends, "
          "arrayMap(q -> if(isNaN(q), -1, q), quantilesMerge(0.5, 0.95, 0.99)(latency_ms)) AS latency "
          "FROM session_minute_rollup "
          "GROUP BY minute, region, platform ORDER BY minute, region, platform")


def by_type(warehouse) -> dict[str, int]:
    rows = warehouse.query("SELECT event_type, count() AS n FROM session_events FINAL GROUP BY event_type")
    return {row["event_type"]: row["n"] for row in rows}


def test_migrate_with_a_retention_sets_the_ttls_once_and_again_changes_nothing(warehouse):
    retention = WarehouseRetention(heartbeat_days=30, lifecycle_days=1095)

    first = apply_retention(warehouse, retention)
    again = apply_retention(warehouse, retention)
    migrate(warehouse, retention=retention)  # the step migrate runs: a no-op now

    assert sorted(change.table for change in first) == ["session_events", "session_minute_rollup", "sessions"]
    assert again == []
    ttls = read_ttls(warehouse)
    assert "30" in ttls["session_events"] and "'heartbeat'" in ttls["session_events"]
    assert "1095" in ttls["session_events"] and "1095" in ttls["sessions"] and "1095" in ttls["session_minute_rollup"]
    assert ttls["ops_events"] is None  # ops events are kept for ever


def test_a_changed_setting_changes_only_what_differs_and_zero_removes_the_ttl(warehouse):
    apply_retention(warehouse, WarehouseRetention(heartbeat_days=30, lifecycle_days=1095))

    shorter = apply_retention(warehouse, WarehouseRetention(heartbeat_days=7, lifecycle_days=1095))
    for_ever = apply_retention(warehouse, WarehouseRetention(heartbeat_days=0, lifecycle_days=0))

    assert [change.table for change in shorter] == ["session_events"]
    assert "toIntervalDay(7)" in shorter[0].after and "toIntervalDay(30)" in shorter[0].before
    assert sorted(change.table for change in for_ever) == ["session_events", "session_minute_rollup", "sessions"]
    assert all(change.after is None for change in for_ever)
    assert apply_retention(warehouse, WarehouseRetention(heartbeat_days=0, lifecycle_days=0)) == []


def test_expired_heartbeats_go_and_the_sessions_and_rollups_stay_as_they_were(warehouse):
    old = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=40)
    recent = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=1)
    events = [*session_script(start=old, heartbeats=5, player_id="p-old"),
              *session_script(start=old + timedelta(minutes=3), heartbeats=4, end="timed_out", player_id="p-old2"),
              *session_script(start=recent, heartbeats=5, player_id="p-new")]
    write_events(warehouse, [*events, ops_event("incident_opened", occurred_at=old)])
    summary, rollup, before = warehouse.query(SUMMARY), warehouse.query(ROLLUP), by_type(warehouse)
    assert any(row["latency"][0] >= 0 for row in rollup if row["minute"] < recent.timestamp())

    apply_retention(warehouse, WarehouseRetention(heartbeat_days=30, lifecycle_days=1095))
    for table in ("session_events", "sessions", "session_minute_rollup"):
        warehouse.execute(f"OPTIMIZE TABLE {table} FINAL")

    after = by_type(warehouse)
    assert before["heartbeat"] == 5 + 4 + 5
    assert after["heartbeat"] == 5  # only the recent session's heartbeats are left
    assert {k: v for k, v in after.items() if k != "heartbeat"} == {
        k: v for k, v in before.items() if k != "heartbeat"}
    assert warehouse.query(SUMMARY) == summary
    assert warehouse.query(ROLLUP) == rollup
    assert warehouse.query("SELECT count() AS n FROM ops_events")[0]["n"] == 1


def test_rows_past_the_lifecycle_ttl_leave_every_session_table(warehouse):
    ancient = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=400)
    write_events(warehouse, [*session_script(start=ancient, heartbeats=2),
                             *session_script(heartbeats=2, start=datetime.now(timezone.utc) - timedelta(hours=1))])

    apply_retention(warehouse, WarehouseRetention(heartbeat_days=30, lifecycle_days=365))
    for table in ("session_events", "sessions", "session_minute_rollup"):
        warehouse.execute(f"OPTIMIZE TABLE {table} FINAL")

    assert warehouse.query("SELECT count() AS n FROM session_summary")[0]["n"] == 1
    assert warehouse.query("SELECT toUnixTimestamp(min(minute)) AS m FROM session_minute_rollup")[0]["m"] > ancient.timestamp()
    assert by_type(warehouse) == {"requested": 1, "started": 1, "heartbeat": 2, "ended": 1}
