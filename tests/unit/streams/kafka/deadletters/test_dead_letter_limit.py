"""The dead-letter limit: a flood of letters stops the reader with counts per reason."""
from __future__ import annotations

import pytest

from streams.errors import DeadLetterLimitExceeded, ReaderHalted
from streams.kafka.deadletters.limit import DeadLetterLimit, LetterCount
from streams.settings import load_settings


def test_the_limit_is_one_value_read_from_the_settings():
    settings = load_settings(dead_letter_max_per_minute=7, dead_letter_max_fraction=0.25,
                             dead_letter_window=50, dead_letter_min_messages=10)
    assert settings.dead_letter_limit == DeadLetterLimit(7, 0.25, 50, 10)
    assert load_settings().dead_letter_limit == DeadLetterLimit()


def test_more_letters_in_a_minute_than_allowed_stop_the_reader_naming_the_reasons():
    count = LetterCount(DeadLetterLimit(max_per_minute=3, max_fraction=1.0), "sink")
    count.observe(1000, ["truncated", "bad_marker"], now=0.0)
    count.observe(1000, ["truncated"], now=30.0)
    with pytest.raises(DeadLetterLimitExceeded) as caught:
        count.observe(1000, ["truncated"], now=59.0)
    assert caught.value.counts == {"truncated": 3, "bad_marker": 1}
    assert "more than 3 dead letters within a minute" in str(caught.value)
    assert "truncated: 3" in str(caught.value) and isinstance(caught.value, ReaderHalted)


def test_letters_older_than_a_minute_no_longer_count():
    count = LetterCount(DeadLetterLimit(max_per_minute=2, max_fraction=1.0), "worker")
    for minute in range(10):
        count.observe(10, ["truncated", "truncated"], now=minute * 60.0)  # never more than 2 a minute


def test_a_fraction_over_the_limit_stops_the_reader_once_enough_was_read():
    count = LetterCount(DeadLetterLimit(max_per_minute=0, max_fraction=0.5, window=100, min_messages=20),
                        "worker")
    count.observe(2, ["malformed", "malformed"], now=0.0)  # all bad, but only 2 read: not judged yet
    count.observe(10, ["malformed"] * 4, now=1.0)
    with pytest.raises(DeadLetterLimitExceeded) as caught:
        count.observe(10, ["unknown_fingerprint"] * 6, now=2.0)  # 12 of 22
    assert caught.value.counts == {"malformed": 6, "unknown_fingerprint": 6}
    assert "12 of the last 22 messages" in str(caught.value)


def test_the_fraction_is_taken_over_the_recent_window_only():
    count = LetterCount(DeadLetterLimit(max_per_minute=0, max_fraction=0.5, window=100, min_messages=10),
                        "worker")
    count.observe(40, ["truncated"] * 20, now=0.0)  # exactly half: allowed
    for second in range(1, 20):
        count.observe(50, [], now=float(second))  # the early letters leave the window
    count.observe(10, ["truncated"] * 9, now=21.0)  # 9 of about 100
    with pytest.raises(DeadLetterLimitExceeded) as caught:
        count.observe(60, ["truncated"] * 60, now=22.0)
    assert "69 of the last 120 messages" in str(caught.value)  # the first 20 letters are gone


def test_zero_and_one_turn_the_rules_off():
    count = LetterCount(DeadLetterLimit(max_per_minute=0, max_fraction=1.0), "sink")
    count.observe(5000, ["bad_marker"] * 5000, now=0.0)


def test_an_unusable_limit_is_refused():
    with pytest.raises(ValueError):
        DeadLetterLimit(max_fraction=1.5)
