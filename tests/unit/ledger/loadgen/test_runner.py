"""Pacing a plan: simulated minutes become wall seconds, a rate caps the pace, nothing is skipped."""
from __future__ import annotations

import io
import json
from datetime import datetime, timezone

import pytest

from ledger.loadgen import Pace, generate, parse_incident, run_load, write_jsonl
from ledger.loadgen.errors import BadLoadOption
from schemas.models import parse_event

START = datetime(2026, 3, 14, 12, 0, tzinfo=timezone.utc)
PLAN = generate(players=30, duration_s=600, seed=5, start=START,
                incidents=[parse_incident("region=us-east,at=4m,for=2m")])


class FakeTime:
    """A clock that moves only when slept on, so a paced run takes no real time."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class Received:
    """Where the runner sends events in these stories: a list, and the wall time each arrived."""

    def __init__(self, time: FakeTime) -> None:
        self.time = time
        self.events: list = []
        self.at: list[float] = []
        self.flushed = False

    def emit(self, event):
        self.events.append(event)
        self.at.append(self.time.now)
        return event

    def flush(self, timeout: float) -> None:
        self.flushed = True


def run(pace_kwargs: dict, **kwargs):
    fake = FakeTime()
    received = Received(fake)
    stats = run_load(PLAN, received, Pace(clock=fake.clock, sleep=fake.sleep, **pace_kwargs), **kwargs)
    return stats, received


def test_every_planned_event_is_sent_once_in_order_and_flushed():
    stats, received = run({"time_scale": 60})
    assert received.events == list(PLAN.events)
    assert received.flushed
    assert stats.events == len(PLAN.events)
    assert stats.by_type == dict(PLAN.counts())
    assert stats.players == 30 and stats.sessions == PLAN.sessions


def test_sixty_simulated_seconds_take_one_wall_second_at_scale_sixty():
    stats, received = run({"time_scale": 60})
    for event, wall in zip(received.events, received.at):
        simulated = (event.occurred_at - START).total_seconds()
        assert simulated / 60 - 0.02 <= wall <= simulated / 60 + 0.05
    assert 9.0 <= stats.wall_s <= 10.1


def test_a_rate_holds_the_pace_back():
    stats, _ = run({"time_scale": 600, "max_rate": 200})
    assert stats.rate == pytest.approx(200, rel=0.05)


def test_a_rate_alone_picks_the_time_scale_that_averages_it():
    pace = Pace.for_rate(PLAN, rate=500)
    assert pace.time_scale == pytest.approx(600 * 500 / len(PLAN.events))


def test_a_stop_request_ends_the_run_with_what_was_sent():
    fake = FakeTime()
    received = Received(fake)
    stats = run_load(PLAN, received, Pace(time_scale=60, clock=fake.clock, sleep=fake.sleep),
                     stop=lambda: fake.now > 2.0)
    assert 0 < stats.events == len(received.events) < len(PLAN.events)


def test_progress_reaches_the_total():
    seen = []
    run({"time_scale": 120}, progress=lambda sent, total: seen.append((sent, total)))
    assert seen[-1] == (len(PLAN.events), len(PLAN.events))
    assert [sent for sent, _ in seen] == sorted(sent for sent, _ in seen)


def test_a_dry_run_writes_lines_that_read_back_as_the_same_events():
    buffer = io.StringIO()
    assert write_jsonl(PLAN, buffer) == len(PLAN.events)
    lines = buffer.getvalue().splitlines()
    assert [parse_event(json.loads(line)) for line in lines] == list(PLAN.events)


def test_a_pace_refuses_a_time_scale_or_rate_it_cannot_keep():
    with pytest.raises(BadLoadOption, match="--time-scale"):
        Pace(time_scale=0)
    with pytest.raises(BadLoadOption, match="--rate"):
        Pace.for_rate(PLAN, rate=-1)
