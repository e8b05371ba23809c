"""The benchmark page opens with the cores each process needs for 100,000 events/s."""
from __future__ import annotations

import pytest

from bench.suite import StageResult, cores_needed, cores_table, render_markdown


def test_cores_are_cpu_microseconds_per_event_times_the_rate():
    assert cores_needed(10.0) == pytest.approx(1.0)
    assert cores_needed(47.5, 20_000) == pytest.approx(0.95)


def test_each_process_of_each_stage_gets_a_row_and_a_stage_without_the_key_says_so():
    results = [
        StageResult("emit", 0, 1.0, {"cpu_us_per_event": {"emitter": 23.5, "raw_producer": 19.4}}),
        StageResult("fold", 0, 1.0, {"worker_events_s": 20_000}),
        StageResult("e2e", 1, 1.0, error="timed out after 1800s"),
        StageResult("sink", 0, 1.0, {"cpu_us_per_event": {"sink": None}}),
    ]
    rows = [line for line in cores_table(results) if line.startswith("| ") and "---" not in line][1:]
    assert rows == [
        "| emit | emitter | 23.50 | 2.35 |",
        "| emit | raw_producer | 19.40 | 1.94 |",
        "| fold | (not measured) | | |",
        "| e2e | (not measured) | | |",
        "| sink | sink | (not measured) | |",
    ]


def test_the_cores_table_comes_before_the_targets_and_the_stages():
    results = [StageResult("decode", 0, 2.0, {"cpu_us_per_event": {"batch": 4.0, "fastavro": 7.0},
                                               "targets": {"batch faster": True}})]
    page = render_markdown(results, {"run_at": "2026-12-03 00:00", "kafka_version": "3.9.1",
                                     "machine": {"cores": "2"}})
    assert page.index("## Cores needed for 100,000 events/s") < page.index("## Targets") < page.index("## decode")
    assert "| decode | batch | 4.00 | 0.40 |" in page


def test_a_rewritten_page_keeps_what_separate_runs_measured_below_the_marker():
    from bench.suite import KEPT_MARKER, kept_tail

    page = f"# Benchmarks\n\n| old | figures |\n\n{KEPT_MARKER}\n\n## Retention soak\n\nfigures\n"

    assert kept_tail(page) == f"{KEPT_MARKER}\n\n## Retention soak\n\nfigures\n"
    assert kept_tail("# Benchmarks\n\nno marker\n") == ""
