"""The sink's columnar insert (``write_rows``: decoder rows, timestamps in epoch milliseconds)
stores what the row path (``write_events``) stores, every column, in both tables."""
from __future__ import annotations

from analytics.migrate import migrate
from analytics.rows import OPS_EVENT_COLUMNS, SESSION_EVENT_COLUMNS, write_events, write_rows
from analytics.warehouse import ChdbWarehouse, Warehouse
from schemas.batch import BatchDecoder
from schemas.codec import encode
from tests.support.factories import ops_event, session_event, session_script

EVENTS = session_script(heartbeats=2, migrate=True) + [
    session_event("timed_out", seq=0), session_event("disconnected"),
    ops_event("incident_opened"), ops_event("deploy_finished"), ops_event("anomaly_detected"),
    ops_event("incident_corrected"), ops_event("maintenance_scheduled"), ops_event("slo_burn"),
    ops_event("incident_detected", kind="drill", impact_started_at=session_event("ended").occurred_at)]

OPS = 7
SESSIONS = len(EVENTS) - OPS


def stored(warehouse, table, columns):
    return sorted(tuple(row[c] for c in columns)
                  for row in warehouse.query(f"SELECT * FROM {table} ORDER BY event_id"))


def test_decoder_rows_store_as_the_events_do(tmp_path):
    rows = BatchDecoder().decode_rows([encode(e) for e in EVENTS])
    assert not rows.errors
    with ChdbWarehouse(tmp_path / "rows") as warehouse:
        migrate(warehouse)
        assert write_rows(warehouse, rows.sessions, rows.ops, dedup_token="t/0/0-9") == (SESSIONS, OPS)
        by_rows = (stored(warehouse, "session_events", SESSION_EVENT_COLUMNS),
                   stored(warehouse, "ops_events", OPS_EVENT_COLUMNS))
    with ChdbWarehouse(tmp_path / "events") as warehouse:
        migrate(warehouse)
        write_events(warehouse, EVENTS, dedup_token="t/0/0-9")
        by_events = (stored(warehouse, "session_events", SESSION_EVENT_COLUMNS),
                     stored(warehouse, "ops_events", OPS_EVENT_COLUMNS))
    assert by_rows == by_events
    assert len(by_rows[0]) == SESSIONS and len(by_rows[1]) == OPS


def test_the_row_fallback_of_a_backend_without_columns_converts_milliseconds(warehouse):
    rows = BatchDecoder().decode_rows([encode(e) for e in EVENTS])
    columns = list(zip(*rows.sessions))
    Warehouse.insert_columns(  # the conversion a server warehouse runs
        warehouse, "session_events", SESSION_EVENT_COLUMNS, columns, millis=("occurred_at", "last_heartbeat_at"))
    [first] = warehouse.query("SELECT occurred_at FROM session_events WHERE event_id = {id:String}",
                              {"id": EVENTS[0].event_id})
    assert first["occurred_at"] == EVENTS[0].occurred_at


def test_an_event_twice_in_one_batch_is_stored_as_sent_and_read_once_with_final(warehouse):
    event = session_event("heartbeat")
    rows = BatchDecoder().decode_rows([encode(event)] * 2)

    write_rows(warehouse, rows.sessions, [], dedup_token="t/0/0-1")

    # optimize_on_insert is off: the block lands as sent, and the table collapses it as it does
    # duplicates from different batches
    assert warehouse.query("SELECT count() AS n FROM session_events")[0]["n"] == 2
    assert warehouse.query("SELECT count() AS n FROM session_events FINAL")[0]["n"] == 1
