"""Concurrent sessions by region, platform and cross-play, kept as counters."""

from __future__ import annotations

import pytest

from projections.concurrency import (
    Concurrency,
    ConcurrencyKey,
    concurrency_delta,
)
from projections.errors import BadStateRecord, UnknownGrouping
from projections.session_state import step
from tests.support.factories import session_script


def live_counts(*scripts) -> Concurrency:
    """Deliver every script's events and fold each step's counter moves."""
    sessions, counts = {}, Concurrency()
    for event in [e for script in scripts for e in script]:
        result = step(sessions.get(event.session_id), event)
        sessions[event.session_id] = result.after
        counts = counts.apply(concurrency_delta(result.before, result.after))
    return counts


def test_a_started_session_counts_until_it_ends():
    events = session_script(heartbeats=1, end="normal", region="eu-west", platform="pc")
    sessions = []
    for event in events:
        sessions.append(step(sessions[-1] if sessions else None, event).after)

    requested, started, heartbeat, ended = sessions
    key = ConcurrencyKey("eu-west", "pc", True, "active")

    assert concurrency_delta(None, requested) == []
    assert concurrency_delta(requested, started) == [(key, +1)]
    assert concurrency_delta(started, heartbeat) == []
    assert concurrency_delta(heartbeat, ended) == [(key, -1)]


def test_a_disconnect_moves_a_session_between_active_and_disconnected():
    events = session_script(heartbeats=0, disconnect_and_reconnect=True, end=None)
    states = []
    for event in events:
        states.append(step(states[-1] if states else None, event).after)
    started, disconnected, reconnected = states[1], states[2], states[3]
    active = ConcurrencyKey("eu-west", "pc", True, "active")
    away = active._replace(status="disconnected")

    assert concurrency_delta(started, disconnected) == [(active, -1), (away, +1)]
    assert concurrency_delta(disconnected, reconnected) == [(away, -1), (active, +1)]


def test_a_duplicate_delivery_moves_no_counter():
    events = session_script(heartbeats=0, end=None)
    state = None
    for event in events:
        state = step(state, event).after

    again = step(state, events[1])

    assert concurrency_delta(again.before, again.after) == []


def test_counts_can_be_filtered_by_region_platform_and_cross_play():
    counts = live_counts(
        session_script(end=None, region="eu-west", platform="pc"),
        session_script(end=None, region="eu-west", platform="playstation", cross_play=False),
        session_script(end=None, region="us-east", platform="pc"),
        session_script(end="normal", region="us-east", platform="pc"),
    )

    assert counts.live() == 3
    assert counts.live(region="eu-west") == 2
    assert counts.live(platform="pc") == 2
    assert counts.live(region="eu-west", cross_play=False) == 1
    assert counts.active(region="us-east") == 1
    assert counts.disconnected() == 0


def test_a_breakdown_reports_active_disconnected_and_live_per_group():
    disconnected = session_script(
        end=None, heartbeats=0, disconnect_and_reconnect=True, region="eu-west",
    )[:3]  # requested, started, disconnected
    counts = live_counts(
        session_script(end=None, region="eu-west"),
        disconnected,
        session_script(end=None, region="us-east"),
    )

    assert counts.breakdown("region") == {
        ("eu-west",): {"active": 1, "disconnected": 1, "live": 2},
        ("us-east",): {"active": 1, "disconnected": 0, "live": 1},
    }
    with pytest.raises(UnknownGrouping, match="build"):
        counts.breakdown("build")


def test_counters_stored_under_encoded_keys_read_back_equal():
    counts = live_counts(
        session_script(end=None, region="eu|west"),
        session_script(end=None, region="us-east", cross_play=False, platform="cloud"),
    )

    assert Concurrency.from_counts(counts.to_dict()) == counts
    assert counts.to_dict()["us-east|cloud|0|active"] == 1


def test_a_malformed_counter_key_is_refused():
    with pytest.raises(BadStateRecord, match="region\\|platform"):
        ConcurrencyKey.decode("eu-west|pc|yes|active")


def test_counters_that_return_to_zero_disappear():
    events = session_script(end="normal")

    assert live_counts(events) == Concurrency()
    assert live_counts(events).to_dict() == {}
