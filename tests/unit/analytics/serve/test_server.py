"""The bounds every read connection is opened with, from the settings."""
from __future__ import annotations

import re
from pathlib import Path

import analytics
from analytics.serve.server import ReadLimits
from streams.settings import load_settings


def test_the_owner_s_settings_become_the_read_connections_own():
    settings = load_settings(warehouse_query_timeout_s=2.5, warehouse_max_result_rows=10,
                             warehouse_max_result_bytes=1000, warehouse_concurrent_reads=2,
                             warehouse_read_threads=3, warehouse_read_nice=10)

    limits = ReadLimits.from_settings(settings)
    settings_text = dict(item.split("=") for item in limits.connection_settings().split("&"))

    assert limits.concurrent == 2 and limits.nice == 10
    assert settings_text == {
        "readonly": "1", "optimize_aggregation_in_order": "1", "max_threads": "3", "os_thread_priority": "10", "max_execution_time": "2.5",
        "timeout_overflow_mode": "throw", "max_result_rows": "10", "max_result_bytes": "1000",
        "result_overflow_mode": "throw",
    }


def test_by_default_one_read_runs_at_a_time_on_one_thread_behind_the_sink():
    limits = ReadLimits.from_settings(load_settings())

    assert (limits.concurrent, limits.threads, limits.nice, limits.timeout_s) == (1, 1, 19, 30.0)


def test_every_query_the_ledger_reads_with_runs_on_a_read_connection():
    """Under readonly=1 a query may name a setting only at the value its connection has; a
    query naming any other would be refused when it is read through the owner."""
    connection = dict(item.split("=") for item in ReadLimits.from_settings(load_settings())
                      .connection_settings().split("&"))
    queries = sorted((Path(analytics.__file__).parent / "queries").rglob("*.sql"))
    assert len(queries) > 20

    for query in queries:
        clause = re.search(r"\bSETTINGS\b(.*)$", query.read_text(encoding="utf-8"), re.S)
        named = dict(re.findall(r"(\w+)\s*=\s*(\w+)", clause.group(1))) if clause else {}
        assert all(connection.get(k) == v for k, v in named.items()), (query.name, named)
