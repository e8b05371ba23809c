"""CPU per event of SessionEmitter emitting at a fixed rate, beside the same emitter flat out.

    python -m bench.emit_rate --bootstrap 127.0.0.1:9092 --rate 10000 --seconds 20 --json

The e2e bench's emitter child on its own: the same events (the load generator's realistic
sessions), the same pacing loop (``bench.e2e.emit_at_rate``: wake every 5 ms, emit what is due)
and a ``SessionEmitter`` with the shipped defaults on a fresh six-partition topic, without the
worker, sink and prober beside it. Three sides, each in its own process, alternating:

- ``pace``: the pacing loop over an emitter that does nothing: the loop's own cost.
- ``rate``: the pacing loop over the real emitter, then ``flush`` until every event is
  acknowledged.
- ``flat``: the same events and emitter with no pacing (what ``bench.emit`` measures).

For each: events/s, process CPU (user + system, every thread) per event, the part of it spent on
the emitting thread (the caller's: validation is done, so encode, route, append to the
producer's batch) and on the others (the producer's I/O thread, the emitter's drain thread),
and the time spent in garbage collection. The input is frozen out of the collector's sight
before the clock starts (``bench.common.freeze_fixture``); ``--no-freeze`` shows what a full
collection walking it costs. The lowest CPU of the runs is each side's figure.
"""
from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.common import (
    cpu_us_per_event,
    emit_result,
    freeze_fixture,
    per_second,
    process_cpu_s,
    run_measurement,
)

SIDES = ("pace", "rate", "flat")
PARTITIONS = 6


class GcClock:
    """Seconds spent in the garbage collector while installed, and full collections counted."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.full = 0
        self._started = 0.0

    def __enter__(self) -> GcClock:
        gc.callbacks.append(self._on_gc)
        return self

    def __exit__(self, *exc_info: object) -> None:
        gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        self.seconds += time.perf_counter() - self._started
        self.full += info["generation"] == 2


class NoEmitter:
    """Takes events and does nothing: the pacing loop's cost alone."""

    def emit(self, event):
        return event


def measure(side: str, bootstrap: str, topic: str, rate: float, seconds: float, freeze: bool) -> dict:
    from bench.e2e import emit_at_rate, realistic_sessions
    from streams.emit.emitter import SessionEmitter

    events = realistic_sessions(int(rate * seconds) + 1)
    if freeze:
        freeze_fixture()
    with tempfile.TemporaryDirectory() as spool_dir:
        emitter = SessionEmitter(bootstrap=bootstrap, topic=topic, ops_topic=topic + "-ops",
                                 spool_dir=Path(spool_dir), producer="bench-rate")
        emitter.emit(events[0])  # connect and learn the partitions before the clock starts
        emitter.flush(60)
        batch = events[1:]
        target = NoEmitter() if side == "pace" else emitter
        cpu, thread_cpu, began = process_cpu_s(), time.thread_time(), time.monotonic()
        with GcClock() as collector:
            if side == "flat":
                for event in batch:
                    emitter.emit(event)
                emit_s = time.monotonic() - began
            else:
                _, emit_s = emit_at_rate(target, batch, rate, lambda *probe: None, 100, PARTITIONS)
            thread_cpu = time.thread_time() - thread_cpu
            emitter.flush(120)
        cpu = process_cpu_s() - cpu
        acked_s = time.monotonic() - began
        stats = emitter.stats
        emitter.close()
    sent = len(batch)
    return {
        "side": side, "events": sent, "emit_s": round(emit_s, 3), "acked_s": round(acked_s, 3),
        "events_per_s": per_second(sent, emit_s), "cpu_us_per_event": cpu_us_per_event(cpu, sent),
        "emitting_thread_cpu_us_per_event": cpu_us_per_event(thread_cpu, sent),
        "other_threads_cpu_us_per_event": cpu_us_per_event(cpu - thread_cpu, sent),
        "gc_us_per_event": cpu_us_per_event(collector.seconds, sent), "full_collections": collector.full,
        "acked": stats.acked - 1 if side != "pace" else 0, "spooled": stats.spooled,
    }


def run(bootstrap: str, rate: float, seconds: float, repeat: int, freeze: bool) -> dict:
    """Alternate the sides ``repeat`` times each; keep each side's run of lowest CPU per event."""
    from streams.kafka.topics import ensure_topics

    runs: dict[str, list[dict]] = {side: [] for side in SIDES}
    for _ in range(repeat):
        for side in SIDES:
            topic = f"bench-emit-rate-{side}-{uuid.uuid4().hex[:8]}"
            ensure_topics(bootstrap, {topic: PARTITIONS})
            args = ["--side", side, "--topic", topic, "--bootstrap", bootstrap, "--rate", str(rate),
                    "--seconds", str(seconds), *([] if freeze else ["--no-freeze"])]
            runs[side].append(run_measurement("bench.emit_rate", args))
    best = {side: min(runs[side], key=lambda r: r["cpu_us_per_event"]) for side in SIDES}
    for side in SIDES:
        best[side]["all_runs_cpu_us_per_event"] = [r["cpu_us_per_event"] for r in runs[side]]
    return {
        "stage": "emit_rate", "rate_events_s": rate, "seconds": seconds, "repeat": repeat,
        "partitions": PARTITIONS, "fixture_frozen": freeze, **best,
        "cpu_us_per_event": {side: best[side]["cpu_us_per_event"] for side in SIDES},
    }


def _print_table(result: dict) -> None:
    print(f"{result['rate_events_s']:,.0f} events/s for {result['seconds']:g} s, {result['partitions']} partitions, "
          f"fixture frozen: {result['fixture_frozen']}")
    print(f"{'side':<6}{'events/s':>11}{'CPU µs/ev':>11}{'emitting':>10}{'others':>8}{'gc':>7}{'full gc':>9}  all runs")
    for side in SIDES:
        r = result[side]
        print(f"{side:<6}{r['events_per_s']:>11,.0f}{r['cpu_us_per_event']:>11.2f}"
              f"{r['emitting_thread_cpu_us_per_event']:>10.2f}{r['other_threads_cpu_us_per_event']:>8.2f}"
              f"{r['gc_us_per_event']:>7.2f}{r['full_collections']:>9}  {r['all_runs_cpu_us_per_event']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.emit_rate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers, HOST:PORT")
    parser.add_argument("--rate", type=float, default=10_000, help="events/s of the paced sides (default 10000)")
    parser.add_argument("--seconds", type=float, default=20, help="how long the paced sides emit (default 20)")
    parser.add_argument("--repeat", type=int, default=2, help="alternating runs per side; the lowest CPU counts")
    parser.add_argument("--no-freeze", dest="freeze", action="store_false",
                        help="leave the input in the garbage collector's sight")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--out", type=Path, help="also write the JSON result to this file")
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--topic", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.side:
        result = measure(args.side, args.bootstrap, args.topic, args.rate, args.seconds, args.freeze)
        emit_result(result, as_json=True)
        return 0
    result = run(args.bootstrap, args.rate, args.seconds, args.repeat, args.freeze)
    if args.json:
        emit_result(result, as_json=True, out=args.out)
    else:
        _print_table(result)
        if args.out:
            args.out.write_text(json.dumps(result, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
