"""Re-emitting keeps the window's rhythm, scaled by the speed factor."""
from __future__ import annotations

from datetime import timedelta

from streams.replay.reemit import paced, pacing_delay
from tests.support.factories import T0, session_event


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_an_event_waits_its_offset_divided_by_the_speed():
    assert pacing_delay(T0, T0 + timedelta(seconds=60), 10, elapsed_s=0) == 6.0
    assert pacing_delay(T0, T0 + timedelta(seconds=60), 10, elapsed_s=4.5) == 1.5


def test_a_late_event_goes_at_once_and_max_speed_never_waits():
    assert pacing_delay(T0, T0 + timedelta(seconds=60), 10, elapsed_s=9) == 0.0
    assert pacing_delay(T0, T0 + timedelta(hours=5), None, elapsed_s=0) == 0.0
    assert pacing_delay(T0, T0 + timedelta(hours=5), 0, elapsed_s=0) == 0.0


def test_a_paced_window_releases_each_event_at_its_scaled_time_in_order():
    events = [session_event("heartbeat", seq=n, occurred_at=T0 + timedelta(seconds=s))
              for n, s in enumerate((0, 10, 10, 30), start=1)]
    clock = FakeClock()
    released = []

    for event in paced(events, speed=5, clock=clock, sleep=clock.sleep):
        released.append((event.seq, clock.now - 100.0))

    assert released == [(1, 0.0), (2, 2.0), (3, 2.0), (4, 6.0)]
    assert clock.slept == [2.0, 4.0]
