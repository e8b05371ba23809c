"""Warehouse TTLs from the settings: which tables get which rule, and when a table needs a change."""
from __future__ import annotations

from analytics.retention import WarehouseRetention, pending_changes, ttl_of
from streams.settings import Settings

ENGINE_30 = ("ReplacingMergeTree PARTITION BY toYYYYMM(occurred_at) ORDER BY (session_id, seq, event_id) "
             "TTL toDateTime(occurred_at) + toIntervalDay(30) WHERE event_type = 'heartbeat', "
             "toDateTime(occurred_at) + toIntervalDay(1095) SETTINGS index_granularity = 8192")


def test_defaults_keep_heartbeats_a_month_and_the_rest_three_years():
    # the settings' own defaults (the test suite's environment sets both to 0: tests/conftest.py)
    defaults = {name: Settings.model_fields[name].default for name in ("heartbeat_ttl_days", "lifecycle_ttl_days")}
    retention = WarehouseRetention(defaults["heartbeat_ttl_days"], defaults["lifecycle_ttl_days"])
    clauses = retention.ttl_clauses()

    assert retention == WarehouseRetention(heartbeat_days=30, lifecycle_days=1095)
    assert clauses["session_events"] == ("toDateTime(occurred_at) + INTERVAL 30 DAY DELETE WHERE event_type = "
                                         "'heartbeat', toDateTime(occurred_at) + INTERVAL 1095 DAY DELETE")
    assert "1095 DAY" in clauses["sessions"] and "1095 DAY" in clauses["session_minute_rollup"]
    assert "ops_events" not in clauses  # ops events are kept for ever


def test_zero_days_means_for_ever():
    clauses = WarehouseRetention(heartbeat_days=0, lifecycle_days=0).ttl_clauses()

    assert set(clauses.values()) == {None}


def test_the_ttl_clause_is_read_out_of_the_engine_description():
    assert ttl_of(ENGINE_30).startswith("toDateTime(occurred_at) + toIntervalDay(30) WHERE")
    assert ttl_of(ENGINE_30).endswith("toIntervalDay(1095)")
    assert ttl_of("AggregatingMergeTree ORDER BY session_id SETTINGS index_granularity = 8192") is None


def test_a_table_already_as_wanted_needs_no_change_however_the_engine_spells_it():
    current = {"session_events": ttl_of(ENGINE_30), "sessions": "toDateTime(last_event_at) + toIntervalDay(1095)",
               "session_minute_rollup": "minute + INTERVAL 1095 DAY"}

    assert pending_changes(current, WarehouseRetention(30, 1095)) == {}
    changed = pending_changes(current, WarehouseRetention(7, 1095))
    assert list(changed) == ["session_events"] and "INTERVAL 7 DAY" in changed["session_events"]


def test_tables_not_migrated_yet_are_left_out():
    assert pending_changes({}, WarehouseRetention()) == {}
