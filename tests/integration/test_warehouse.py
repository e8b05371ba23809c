"""The warehouse on real chDB: migrations, duplicate-free history, safe parameters.

Each test opens chDB in its own temporary directory and closes it at teardown (chDB holds
one data directory per process at a time).
"""
from __future__ import annotations

import os
import shutil
from datetime import timedelta

import pytest

from analytics.errors import MigrationError, QueryFailed, WarehouseUnavailable, redact_url
from analytics.migrate import MIGRATIONS_DIR, migrate
from analytics.rows import SESSION_EVENT_COLUMNS, session_event_row, write_events
from analytics.warehouse import ChdbWarehouse, ServerWarehouse
from tests.support.factories import T0, ops_event, session_event, session_script


def count(warehouse, sql: str) -> int:
    return warehouse.query(sql)[0]["n"]


def test_migrating_twice_applies_every_file_once(tmp_path):
    with ChdbWarehouse(tmp_path / "chdb") as warehouse:
        first = migrate(warehouse)
        second = migrate(warehouse)
        recorded = warehouse.query("SELECT name FROM schema_migrations ORDER BY version")

    assert first == sorted(p.name for p in MIGRATIONS_DIR.glob("*.sql"))
    assert second == []
    assert [row["name"] for row in recorded] == first


def test_a_landed_migration_that_changed_is_refused(tmp_path):
    migrations = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, migrations)
    with ChdbWarehouse(tmp_path / "chdb") as warehouse:
        migrate(warehouse, migrations)
        landed = migrations / "0002_ops_events.sql"
        landed.write_text(landed.read_text() + "\n-- an innocent-looking edit\n")

        with pytest.raises(MigrationError, match="0002_ops_events.sql changed after it was applied"):
            migrate(warehouse, migrations)


def test_a_new_migration_is_applied_after_the_landed_ones(tmp_path):
    migrations = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, migrations)
    with ChdbWarehouse(tmp_path / "chdb") as warehouse:
        migrate(warehouse, migrations)
        (migrations / "0099_scratch.sql").write_text(
            "CREATE TABLE IF NOT EXISTS scratch (x UInt8) ENGINE = MergeTree ORDER BY x;\n")

        assert migrate(warehouse, migrations) == ["0099_scratch.sql"]
        assert warehouse.query("EXISTS TABLE scratch")[0]["result"] == 1


def test_a_redelivered_batch_leaves_one_row_per_event(warehouse):
    batch = session_script(heartbeats=3, disconnect_and_reconnect=True) + [ops_event("incident_opened")]

    write_events(warehouse, batch, dedup_token="session-events/0/100-108")
    write_events(warehouse, batch, dedup_token="session-events/0/100-108")

    assert count(warehouse, "SELECT count() AS n FROM session_events FINAL") == 8
    assert count(warehouse, "SELECT count() AS n FROM ops_events FINAL") == 1
    # the identical batch never landed a second time, so even raw rows are not doubled
    assert count(warehouse, "SELECT count() AS n FROM session_events") == 8
    # the views may still see the batch twice (chDB 26.9 passes it on); their aggregates ignore it
    assert count(warehouse, "SELECT count() AS n FROM session_summary") == 1
    assert count(warehouse, "SELECT uniqExactMerge(disconnects) AS n FROM session_minute_rollup") == 1


def test_duplicates_in_differently_cut_batches_collapse_in_every_table(warehouse):
    events = session_script(heartbeats=2, disconnect_and_reconnect=True)  # 7 events

    write_events(warehouse, events[:5], dedup_token="session-events/0/0-4")
    write_events(warehouse, events[3:], dedup_token="session-events/0/3-6")  # 3 and 4 again
    write_events(warehouse, events)  # everything again, no token

    assert count(warehouse, "SELECT count() AS n FROM session_events FINAL") == 7
    assert count(warehouse, "SELECT uniqExact(event_id) AS n FROM session_events") == 7
    rollup = warehouse.query(
        "SELECT uniqExactMerge(starts) AS starts, uniqExactMerge(disconnects) AS disconnects, "
        "uniqExactMerge(reconnects) AS reconnects, uniqExactMerge(ends_normal) AS ends "
        "FROM session_minute_rollup")
    assert rollup == [{"starts": 1, "disconnects": 1, "reconnects": 1, "ends": 1}]
    summary = warehouse.query("SELECT last_seq, end_reason FROM session_summary")
    assert summary == [{"last_seq": 7, "end_reason": "normal"}]


def test_the_session_summary_takes_the_first_terminal_event(warehouse):
    sid = "00000000-0000-4000-8000-000000000001"
    write_events(warehouse, [
        session_event("started", session_id=sid, seq=1, occurred_at=T0),
        session_event("timed_out", session_id=sid, seq=2, occurred_at=T0 + timedelta(seconds=40)),
        session_event("ended", session_id=sid, seq=3, occurred_at=T0 + timedelta(seconds=50),
                      reason="error"),
    ])

    [summary] = warehouse.query("SELECT started_at, ended_at, end_reason FROM session_summary")

    assert summary == {"started_at": T0, "ended_at": T0 + timedelta(seconds=40),
                       "end_reason": "timed_out"}


def test_an_open_session_has_no_end_and_lives_until_its_last_event(warehouse):
    write_events(warehouse, session_script(heartbeats=2, end=None))

    [summary] = warehouse.query("SELECT ended_at, end_reason, live_until FROM session_summary")

    # requested at T0, started at +2 s, heartbeats at +12 s and +22 s
    assert summary == {"ended_at": None, "end_reason": None,
                       "live_until": T0 + timedelta(seconds=22)}


def test_rows_keep_every_envelope_and_payload_field(warehouse):
    event = session_event("heartbeat", latency_ms=250, packet_loss_pct=1.5, party_id="party-9",
                          trace_id="trace-1", platform="switch")

    write_events(warehouse, [event])
    [row] = warehouse.query("SELECT * FROM session_events")

    assert tuple(row[c] for c in SESSION_EVENT_COLUMNS) == session_event_row(event)


def test_parameters_are_bound_not_pasted(warehouse):
    hostile = "eu-west' OR 1 = 1 --"
    write_events(warehouse, [session_event("started", region="eu-west"),
                             session_event("started", region=hostile)])

    rows = warehouse.query(
        "SELECT region FROM session_events WHERE region = {region:String}", {"region": hostile})

    assert rows == [{"region": hostile}]


def test_a_query_read_as_columns_holds_what_the_rows_hold(warehouse):
    write_events(warehouse, [session_event("heartbeat", seq=n, latency_ms=10 * n) for n in (1, 2, 3)])
    statement = "SELECT seq, occurred_at, latency_ms, party_id FROM session_events ORDER BY seq"

    table = warehouse.query_table(statement, name="columns")

    assert table.column_names == ["seq", "occurred_at", "latency_ms", "party_id"]
    assert table.to_pylist() == warehouse.query(statement, name="rows")


def test_a_bad_query_names_itself(warehouse):
    with pytest.raises(QueryFailed, match="'churn probe'.*no_such_table"):
        warehouse.query("SELECT * FROM no_such_table", name="churn probe")


def test_a_second_chdb_directory_in_the_same_process_is_refused_while_one_is_open(warehouse, tmp_path):
    with pytest.raises(WarehouseUnavailable, match="chDB path"):
        ChdbWarehouse(tmp_path / "another")


def test_an_unreachable_server_is_reported_without_its_password():
    with pytest.raises(WarehouseUnavailable) as caught:
        ServerWarehouse("clickhouse://ledger:s3cret@127.0.0.1:1/ledger?connect_timeout=1")

    assert "s3cret" not in str(caught.value)
    assert "ledger:***@127.0.0.1:1" in str(caught.value)


def test_redacting_leaves_a_url_without_password_alone():
    assert redact_url("clickhouse://127.0.0.1:9000/ledger") == "clickhouse://127.0.0.1:9000/ledger"


@pytest.mark.clickhouse_server
def test_the_same_ddl_inserts_and_queries_run_on_a_clickhouse_server():
    url = os.environ.get("LEDGER_TEST_CLICKHOUSE_URL")
    if not url:
        pytest.fail("the clickhouse_server marker was selected but LEDGER_TEST_CLICKHOUSE_URL is not set; "
                    "point it at a server, e.g. clickhouse://default:@127.0.0.1:9000/ledger_test")
    with ServerWarehouse(url) as warehouse:
        for table in ("session_minute_rollup_mv", "sessions_mv", "session_summary",
                      "session_minute_rollup", "sessions", "ops_events", "session_events",
                      "schema_migrations"):
            warehouse.execute(f"DROP TABLE IF EXISTS {table}")
        migrate(warehouse)
        assert migrate(warehouse) == []
        batch = session_script(heartbeats=3, disconnect_and_reconnect=True) + [ops_event("incident_opened")]
        write_events(warehouse, batch, dedup_token="server-smoke/0/0-8")
        write_events(warehouse, batch, dedup_token="server-smoke/0/0-8")

        assert count(warehouse, "SELECT count() AS n FROM session_events FINAL") == 8
        assert warehouse.query("SELECT end_reason FROM session_summary") == [{"end_reason": "normal"}]
        assert warehouse.query(
            "SELECT region FROM session_events WHERE region = {region:String} LIMIT 1",
            {"region": "eu-west"}) == [{"region": "eu-west"}]


def test_memory_given_back_between_queries_leaves_the_history_readable(warehouse):
    write_events(warehouse, session_script())
    before = count(warehouse, "SELECT count() AS n FROM session_events")
    warehouse.release_memory()
    assert before > 0
    assert count(warehouse, "SELECT count() AS n FROM session_events") == before


def test_an_engine_that_refuses_the_purge_does_not_fail_the_caller(tmp_path):
    closed = ChdbWarehouse(tmp_path / "chdb")
    closed.close()
    with pytest.raises(QueryFailed):
        closed.execute("SYSTEM JEMALLOC PURGE")  # refused: the engine is gone
    closed.release_memory()  # the same refusal, taken as "nothing to give back"
