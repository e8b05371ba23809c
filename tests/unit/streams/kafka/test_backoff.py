"""The one backoff: capped, exponential, jittered over the top half of its ceiling."""
from __future__ import annotations

import pytest

from streams.kafka import backoff
from streams.kafka.backoff import Backoff


def test_the_ceiling_doubles_from_the_initial_pause_up_to_the_cap():
    policy = Backoff(initial_s=0.5, max_s=5.0)

    assert [policy.ceiling(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]


@pytest.mark.parametrize("draw", [0.0, 0.37, 0.999])
def test_a_delay_lies_between_half_the_ceiling_and_the_ceiling(draw):
    policy = Backoff(initial_s=0.2, max_s=10.0)

    for attempt in range(1, 10):
        delay = policy.delay(attempt, rand=lambda: draw)
        assert policy.ceiling(attempt) / 2 <= delay <= policy.ceiling(attempt)


def test_every_preset_is_a_backoff_with_a_cap_above_its_first_pause():
    presets = [value for value in vars(backoff).values() if isinstance(value, Backoff)]

    assert len(presets) >= 5
    assert all(0 < p.initial_s <= p.max_s for p in presets)
