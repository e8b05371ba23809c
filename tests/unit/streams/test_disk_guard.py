"""The disk guard's decision: the threshold (absolute or fraction, the larger), hysteresis, and
readings of a real filesystem no more often than asked."""
from __future__ import annotations

import logging
import shutil

import pytest

from streams.disk_guard import MIB, DiskGuard, DiskPolicy
from streams.errors import BadStreamsOption
from streams.settings import load_settings

GIB = 1024 * MIB


def test_the_larger_of_the_absolute_and_the_fractional_minimum_is_the_threshold():
    policy = DiskPolicy(min_free_bytes=1 * GIB, min_free_fraction=0.05)
    assert policy.threshold(10 * GIB) == 1 * GIB  # 5% is 0.5 GiB: the absolute minimum wins
    assert policy.threshold(100 * GIB) == 5 * GIB  # 5% is 5 GiB


def test_below_the_threshold_it_holds_and_at_it_it_does_not():
    policy = DiskPolicy(min_free_bytes=100 * MIB, min_free_fraction=0, resume_margin_bytes=50 * MIB)
    assert policy.holds(False, 100 * MIB - 1, GIB)
    assert not policy.holds(False, 100 * MIB, GIB)


def test_holding_it_lets_go_only_at_the_threshold_plus_the_margin():
    policy = DiskPolicy(min_free_bytes=100 * MIB, min_free_fraction=0, resume_margin_bytes=50 * MIB)
    assert policy.holds(True, 120 * MIB, GIB)  # above the threshold, inside the margin: still held
    assert policy.holds(True, 150 * MIB - 1, GIB)
    assert not policy.holds(True, 150 * MIB, GIB)


def test_a_sequence_of_readings_flaps_no_more_than_the_margin_allows():
    policy = DiskPolicy(min_free_bytes=100 * MIB, min_free_fraction=0, resume_margin_bytes=50 * MIB)
    held, decisions = False, []
    for free_mib in (200, 99, 101, 120, 149, 151, 101, 99):
        held = policy.holds(held, free_mib * MIB, GIB)
        decisions.append(held)
    assert decisions == [False, True, True, True, True, False, False, True]


def test_both_minimums_zero_turn_the_guard_off():
    policy = DiskPolicy(min_free_bytes=0, min_free_fraction=0)
    assert not policy.enabled
    assert not policy.holds(False, 0, GIB)


@pytest.mark.parametrize("fields", [{"min_free_bytes": -1}, {"min_free_fraction": 1.0},
                                    {"resume_margin_bytes": -1}, {"check_every_s": 0}])
def test_an_impossible_policy_is_refused(fields):
    with pytest.raises(BadStreamsOption):
        DiskPolicy(**fields)


def test_the_policy_comes_from_the_settings():
    settings = load_settings(disk_min_free_mb=64, disk_min_free_fraction=0.1, disk_resume_margin_mb=8,
                             disk_check_interval_s=2.5)
    assert settings.disk_policy == DiskPolicy(min_free_bytes=64 * MIB, min_free_fraction=0.1,
                                              resume_margin_bytes=8 * MIB, check_every_s=2.5)


def test_a_guard_holds_when_the_real_filesystem_has_less_than_its_threshold(tmp_path, caplog):
    usage = shutil.disk_usage(tmp_path)
    above_free = (usage.free // MIB + 1024) * MIB  # more than the filesystem has free
    guard = DiskGuard(tmp_path, DiskPolicy(min_free_bytes=above_free, min_free_fraction=0), "worker")
    with caplog.at_level(logging.INFO, logger="ledger.disk"):
        assert guard.holding(now=0.0)
    assert guard.reading.path == str(tmp_path)
    assert guard.reading.threshold_bytes == above_free
    assert 0 < guard.reading.free_bytes < above_free
    assert guard.pauses == 1
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "disk low" in caplog.text


def test_a_guard_reads_the_filesystem_at_most_once_per_interval(tmp_path, caplog):
    guard = DiskGuard(tmp_path, DiskPolicy(min_free_bytes=1, min_free_fraction=0, check_every_s=5.0), "sink")
    assert not guard.holding(now=100.0)
    first = guard.reading
    guard.policy = DiskPolicy(min_free_bytes=1 << 62, min_free_fraction=0, check_every_s=5.0)
    assert not guard.holding(now=104.9)  # not read again yet: the last decision stands
    assert guard.reading is first
    with caplog.at_level(logging.INFO, logger="ledger.disk"):
        assert guard.holding(now=105.0)
        guard.policy = DiskPolicy(min_free_bytes=1, min_free_fraction=0, check_every_s=5.0)
        assert not guard.holding(now=110.0)
    assert [r.levelname for r in caplog.records] == ["WARNING", "INFO"]
    assert "disk space back" in caplog.records[1].getMessage()


def test_a_filesystem_that_cannot_be_read_keeps_the_last_decision(tmp_path, caplog):
    guard = DiskGuard(tmp_path / "missing", DiskPolicy(min_free_bytes=1, min_free_fraction=0), "worker")
    with caplog.at_level(logging.WARNING, logger="ledger.disk"):
        assert not guard.holding(now=0.0)
    assert guard.reading is None
    assert "cannot read the free space" in caplog.text
