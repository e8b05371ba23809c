"""The fixed-rate emit bench's own parts: the pacing loop, the collector clock, the frozen fixture."""
from __future__ import annotations

import gc
from types import SimpleNamespace

from bench.common import freeze_fixture
from bench.e2e import emit_at_rate
from bench.emit_rate import GcClock


class Recorder:
    def __init__(self) -> None:
        self.emitted: list = []

    def emit(self, event):
        self.emitted.append(event)
        return event


def test_the_pacing_loop_emits_every_event_once_in_order_and_probes_every_nth():
    events = [SimpleNamespace(session_id=f"s-{i % 3}", seq=i) for i in range(25)]
    recorder, probes = Recorder(), []
    times, _ = emit_at_rate(recorder, events, 5_000, lambda number, *rest: probes.append(number), 10, 6)
    assert recorder.emitted == events
    assert probes == [0, 10, 20]
    assert times == sorted(times) and all(t > 0 for t in times)


def test_the_collector_clock_counts_a_full_collection():
    with GcClock() as clock:
        gc.collect()
    assert clock.full == 1
    assert clock.seconds > 0
    assert clock._on_gc not in gc.callbacks


def test_a_frozen_fixture_is_out_of_the_collectors_sight():
    fixture = [{"event": i} for i in range(1_000)]
    before = gc.get_freeze_count()
    try:
        freeze_fixture()
        assert gc.get_freeze_count() >= before + len(fixture)
    finally:
        gc.unfreeze()
