"""The pure parts of the end-to-end stage: runs, percentiles, history lags and targets."""
from __future__ import annotations

import argparse

import pytest

from bench.e2e import history_lags, max_backlog, parse_run, percentiles_ms, run_targets


def test_a_run_is_rate_and_seconds():
    assert parse_run("10000:60") == (10_000.0, 60.0)
    for bad in ("10000", "fast:60", "0:60", "5000:-1"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_run(bad)


def test_percentiles_count_missed_samples_as_slower_than_any_seen():
    seen = [i / 1000 for i in range(1, 101)]  # 1 ms .. 100 ms
    assert percentiles_ms(seen) == {"count": 100, "missed": 0, "p50_ms": 50.0, "p99_ms": 99.0, "max_ms": 100.0}
    with_missed = percentiles_ms(seen[:98], missed=2)
    assert with_missed["p99_ms"] is None and with_missed["p50_ms"] == 50.0


def test_an_event_reaches_history_at_the_first_commit_reading_past_its_offset():
    positions = {"a": (0, 0), "b": (0, 1), "c": (1, 0), "d": (1, 5)}
    committed = {0: [(2.0, 1), (3.0, 2)], 1: [(2.5, 1)]}  # (when read, committed offset)
    lags, never = history_lags(["a", "b", "c", "d", "e"], [1.0, 1.1, 1.2, 1.3, 1.4], positions, committed)
    assert lags == pytest.approx([1.0, 1.9, 1.3])
    assert never == 2  # d was never committed past, e never reached the log


def test_the_backlog_is_the_most_events_emitted_and_not_yet_done_at_any_reading():
    emitted_at = [1.0, 1.1, 1.2, 1.3, 1.4]
    assert max_backlog(emitted_at, [(1.25, 100.0), (1.5, 104.0)], base=100.0) == 3


def test_every_target_is_named_with_the_rate_and_each_can_fail():
    result = {"visible_lag": {"p99_ms": 950.0, "missed": 0}, "history_lag": {"p99_ms": 3100.0, "missed": 0},
              "achieved_rate_events_s": 9_990.0, "history": {"exactly_once": True}}
    targets = run_targets(result, 10_000)
    assert targets == {
        "p99 emit->visible lag < 1,000 ms at 10,000 events/s": True,
        "p99 emit->history lag < 3,000 ms at 10,000 events/s": False,
        "achieved emit rate >= 95% of 10,000 events/s": True,
        "history rows == events emitted, each exactly once at 10,000 events/s": True,
    }
    result["visible_lag"]["missed"] = 1
    assert not run_targets(result, 10_000)["p99 emit->visible lag < 1,000 ms at 10,000 events/s"]
