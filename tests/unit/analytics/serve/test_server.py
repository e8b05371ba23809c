"""The bounds every read connection is opened with, from the settings."""
from __future__ import annotations

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
        "readonly": "1", "max_threads": "3", "os_thread_priority": "10", "max_execution_time": "2.5",
        "timeout_overflow_mode": "throw", "max_result_rows": "10", "max_result_bytes": "1000",
        "result_overflow_mode": "throw",
    }


def test_by_default_one_read_runs_at_a_time_on_one_thread_behind_the_sink():
    limits = ReadLimits.from_settings(load_settings())

    assert (limits.concurrent, limits.threads, limits.nice, limits.timeout_s) == (1, 1, 19, 30.0)
