"""The server path over the native protocol: ServerWarehouse against a real ClickHouse server.

The server is Debian's clickhouse-server 18.16, older than the ledger's schema needs: it has no
DateTime64, no Bool, no server-side ``{name:Type}`` parameters and no insert deduplication
tokens, and LowCardinality is behind a setting. So these stories run the ledger's own
session_events DDL translated to the types 18.16 has, and insert the rows the sink builds,
through ``ServerWarehouse`` as the sink and the reports use it.
"""
from __future__ import annotations

import re
import time
import uuid
from collections import Counter
from datetime import datetime

import pytest

from analytics.errors import MigrationError, QueryFailed, WarehouseUnavailable
from analytics.migrate import load_migrations, migrate
from analytics.rows import SESSION_EVENT_COLUMNS, session_event_row
from analytics.warehouse import ServerWarehouse
from ledger.stack import free_port
from schemas.models import SessionEvent
from tests.support.clickhouse_server import SETUP_HINT, ClickHouseServer, server_command
from tests.support.factories import session_script

# What the ledger's DDL says, and what ClickHouse 18.16 understands instead.
_OLDER_TYPES = (
    (r"CREATE TABLE IF NOT EXISTS session_events\b", "CREATE TABLE {table}"),
    (r"DateTime64\(3, 'UTC'\)", "DateTime('UTC')"),  # whole seconds only
    (r"\bBool\b", "UInt8"),
    (r"ENGINE = ReplacingMergeTree\n", "ENGINE = ReplacingMergeTree()\n"),
    (r"\nSETTINGS non_replicated_deduplication_window = \d+", ""),
)


def session_events_ddl_for_18_16(table: str) -> str:
    """Migration 0001 (session_events) with the types and settings 18.16 lacks replaced."""
    (ddl,) = load_migrations()[0].statements()
    for pattern, replacement in _OLDER_TYPES:
        ddl, replaced = re.subn(pattern, replacement.format(table=table), ddl)
        assert replaced, f"migration 0001 no longer contains {pattern!r}; update _OLDER_TYPES"
    return ddl


def as_stored(event: SessionEvent) -> dict:
    """The row 18.16 gives back for an event: datetimes in whole seconds, booleans as 0/1."""
    def older(value):
        if isinstance(value, datetime):
            return value.replace(microsecond=0)
        if isinstance(value, bool):
            return int(value)
        return value
    return {c: older(v) for c, v in zip(SESSION_EVENT_COLUMNS, session_event_row(event))}


def a_busy_evening() -> list[SessionEvent]:
    """Forty sessions on every platform and region: ends, timeouts, reconnects, moves, parties."""
    platforms = ("pc", "playstation", "xbox", "switch", "ios", "android", "cloud")
    regions = ("eu-west", "us-east", "ap-northeast")
    events: list[SessionEvent] = []
    for n in range(40):
        events += session_script(
            player_id=f"player-{n}",
            heartbeats=2 + n % 4,
            end=("normal", "quit", "timed_out", "server_crash")[n % 4],
            disconnect_and_reconnect=n % 3 == 0,
            migrate=n % 5 == 0,
            platform=platforms[n % len(platforms)],
            region=regions[n % len(regions)],
            party_id=f"party-{n // 2}" if n % 2 else None,
            trace_id=f"trace-{n}" if n % 7 == 0 else None,
        )
    return events


@pytest.fixture
def server(clickhouse_server_url):
    with ServerWarehouse(clickhouse_server_url) as warehouse:
        yield warehouse


@pytest.fixture
def session_events(server):
    """This test's own session_events table, in the ledger's shape as far as 18.16 allows."""
    table = f"session_events_{uuid.uuid4().hex[:8]}"
    server.execute("SET allow_experimental_low_cardinality_type = 1")
    server.execute(session_events_ddl_for_18_16(table), name=f"create {table}")
    return table


def test_a_few_hundred_ledger_rows_come_back_as_they_went_in(server, session_events):
    events = a_busy_evening()

    sent = server.insert_rows(session_events, SESSION_EVENT_COLUMNS,
                              [session_event_row(e) for e in events])
    stored = server.query(f"SELECT * FROM {session_events} ORDER BY session_id, seq")

    assert sent == len(events) > 300
    assert stored == sorted((as_stored(e) for e in events),
                            key=lambda row: (row["session_id"], row["seq"]))
    assert stored[0]["occurred_at"].tzinfo is not None


def test_a_query_read_as_columns_holds_what_the_rows_hold(server, session_events):
    events = a_busy_evening()
    server.insert_rows(session_events, SESSION_EVENT_COLUMNS,
                       [session_event_row(e) for e in events])
    statement = f"SELECT session_id, seq, occurred_at, latency_ms FROM {session_events} ORDER BY session_id, seq"

    table = server.query_table(statement, name="columns")

    assert table.to_pylist() == server.query(statement, name="rows")
    assert table.num_rows == len(events)


def test_counting_by_platform_and_type_agrees_with_the_events(server, session_events):
    events = a_busy_evening()
    server.insert_rows(session_events, SESSION_EVENT_COLUMNS,
                       [session_event_row(e) for e in events])

    counted = server.query(
        f"SELECT platform, event_type, count() AS n FROM {session_events} "
        "GROUP BY platform, event_type", name="events per platform and type")

    assert {(r["platform"], r["event_type"]): r["n"] for r in counted} == Counter(
        (e.platform.value, e.event_type.value) for e in events)


def test_a_redelivered_batch_collapses_to_one_row_per_event_under_final(server, session_events):
    events = session_script(heartbeats=5, disconnect_and_reconnect=True)
    rows = [session_event_row(e) for e in events]

    server.insert_rows(session_events, SESSION_EVENT_COLUMNS, rows)
    server.insert_rows(session_events, SESSION_EVENT_COLUMNS, rows)

    raw = server.query(f"SELECT count() AS n FROM {session_events}")[0]["n"]
    final = server.query(f"SELECT count() AS n FROM {session_events} FINAL")[0]["n"]
    assert (raw, final) == (2 * len(events), len(events))


def test_a_parameterised_query_fails_as_query_failed_naming_the_query(server, session_events):
    with pytest.raises(QueryFailed) as caught:
        server.query(f"SELECT count() AS n FROM {session_events} WHERE region = {{region:String}}",
                     {"region": "eu-west"}, name="events in region")

    assert "'events in region'" in str(caught.value)
    assert "127.0.0.1" in str(caught.value)


def test_a_refused_statement_carries_the_servers_reason(server):
    with pytest.raises(QueryFailed) as caught:
        server.query("SELECT {region:String} AS region", {"region": "eu-west"}, name="region probe")

    assert "Syntax error" in str(caught.value)


def test_inserting_into_a_column_the_table_lacks_fails_naming_the_table(server, session_events):
    with pytest.raises(QueryFailed, match=f"insert into {session_events}"):
        server.insert_rows(session_events, ("event_id", "no_such_column"), [("e-1", 1)])


def test_a_wrong_password_is_refused_without_showing_it(clickhouse_server_url):
    wrong = clickhouse_server_url.replace("default@", "default:hunter2-secret@")

    with pytest.raises(WarehouseUnavailable) as caught:
        ServerWarehouse(wrong)

    assert "hunter2-secret" not in str(caught.value)
    assert "default:***@127.0.0.1" in str(caught.value)


def test_a_server_that_is_not_listening_is_unavailable_without_showing_the_password():
    port = free_port()

    with pytest.raises(WarehouseUnavailable) as caught:
        ServerWarehouse(f"clickhouse://ledger:s3cret-pw@127.0.0.1:{port}/ledger?connect_timeout=1")

    assert "s3cret-pw" not in str(caught.value)
    assert f"ledger:***@127.0.0.1:{port}" in str(caught.value)


def test_migrating_a_server_too_old_for_the_schema_says_so_and_creates_nothing(server):
    with pytest.raises(MigrationError, match=r"ClickHouse 18\.16.* too old .*needs 22\.8"):
        migrate(server)
    assert server.query("EXISTS TABLE schema_migrations")[0]["result"] == 0


@pytest.mark.faults
def test_a_server_stopped_mid_stream_is_unavailable_and_written_again_once_back(tmp_path):
    """The warehouse a sink holds, with the server stopped between two batches and started
    again on the same ports and data: the batch in between fails as unavailable (which the sink
    retries), the same client writes it once the server answers, and nothing is lost."""
    command = server_command()
    if command is None:
        pytest.fail(f"no clickhouse-server on PATH or in /usr/sbin; {SETUP_HINT}")
    server = ClickHouseServer(home=tmp_path / "clickhouse", command=command)
    server.start()
    events = a_busy_evening()
    batches = [events[n:n + 50] for n in range(0, len(events), 50)]
    try:
        with ServerWarehouse(server.url) as warehouse:
            table = f"session_events_{uuid.uuid4().hex[:8]}"
            warehouse.execute("SET allow_experimental_low_cardinality_type = 1")
            warehouse.execute(session_events_ddl_for_18_16(table), name=f"create {table}")
            half = len(batches) // 2
            for batch in batches[:half]:
                warehouse.insert_rows(table, SESSION_EVENT_COLUMNS, [session_event_row(e) for e in batch])

            server.stop()
            stopped = time.monotonic()
            rows = [session_event_row(e) for e in batches[half]]
            with pytest.raises(WarehouseUnavailable, match="the sink keeps retrying"):
                warehouse.insert_rows(table, SESSION_EVENT_COLUMNS, rows)
            server.start()
            answering = time.monotonic()
            warehouse.insert_rows(table, SESSION_EVENT_COLUMNS, rows)
            written_again_s = time.monotonic() - answering
            for batch in batches[half + 1:]:
                warehouse.insert_rows(table, SESSION_EVENT_COLUMNS, [session_event_row(e) for e in batch])

            (stored,) = warehouse.query(
                f"SELECT count() AS rows, uniqExact(event_id) AS events FROM {table}")
    finally:
        server.stop()
    print(f"\nserver stopped mid-stream: events={len(events)} rows={stored['rows']} "
          f"distinct={stored['events']} outage={answering - stopped:.1f}s "
          f"written again {written_again_s:.2f}s after the server answered")
    assert stored == {"rows": len(events), "events": len(events)}
