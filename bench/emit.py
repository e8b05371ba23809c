"""Events/s of SessionEmitter beside a bare kafka-python producer, same events, same broker.

    python -m bench.emit --bootstrap 127.0.0.1:9092 --events 200000 --json

The emitter side takes validated ``SessionEvent`` models and does what it does in production:
Avro-encode, route, send with ``acks=all`` and idempotence, then ``flush`` until every event is
acknowledged. The bare side sends the same events pre-serialised as JSON (serialising is not
timed) through a ``KafkaProducer`` with the same settings. Each side runs in its own process on
its own fresh topic, so its peak memory is its own; the clock stops when the broker has
acknowledged every event. Each side's pre-built input is frozen out of the garbage collector's
sight before the clock starts (``bench.common.freeze_fixture``). Beside events/s, each side's
process CPU (user + system, every thread: the producer's I/O thread included) per event over
the same window; the lowest of the runs is the side's ``cpu_us_per_event``.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bench.common import (
    cpu_us_per_event,
    emit_result,
    freeze_fixture,
    peak_rss_mib,
    per_second,
    process_cpu_s,
    run_measurement,
    timed,
)
from ledger.procfs import current_rss_mib
from streams.emit.emitter import LINGER_MS

TARGET_EVENTS_PER_S = 30_000
TARGET_RATIO = 0.9
PRODUCER_SETTINGS = dict(linger_ms=LINGER_MS, batch_size=128 * 1024)
"""Both sides: the emitter's own defaults."""


def session_events(count: int, sessions: int, seed: int = 7) -> list:
    """``count`` valid session events over ``sessions`` concurrent sessions, in emission order."""
    from schemas.models import SessionEvent

    rng = random.Random(seed)
    start = datetime(2025, 3, 14, 12, 0, tzinfo=timezone.utc)
    open_sessions: dict[str, int] = {}
    events = []
    regions = ("eu-west", "us-east", "ap-northeast")
    platforms = ("pc", "playstation", "xbox", "switch", "ios", "android")
    for index in range(count):
        if len(open_sessions) < sessions:
            session_id, seq = str(uuid.UUID(int=rng.getrandbits(128), version=4)), 0
        else:
            session_id = rng.choice(list(open_sessions)) if index % 64 == 0 else next(iter(open_sessions))
            seq = open_sessions.pop(session_id)
        seq += 1
        event_type, payload = _step(seq, rng)
        events.append(SessionEvent(
            event_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            session_id=session_id,
            player_id=f"player-{rng.randrange(1_000_000)}",
            seq=seq,
            occurred_at=start + timedelta(milliseconds=index),
            producer="gameserver",
            platform=platforms[int(session_id[:8], 16) % len(platforms)],
            region=regions[int(session_id[:8], 16) % len(regions)],
            build="2025.3.1",
            cross_play=True,
            input_method="controller",
            event_type=event_type,
            payload=payload,
        ))
        if event_type != "ended":
            open_sessions[session_id] = seq
    return events


def _step(seq: int, rng: random.Random) -> tuple[str, dict]:
    if seq == 1:
        return "requested", {"game_mode": "ranked", "matchmaking_ticket": None}
    if seq == 2:
        return "started", {"server_id": "gs-eu-1", "game_mode": "ranked", "queue_ms": rng.randrange(100, 9000)}
    if seq > 30 and rng.random() < 0.1:
        return "ended", {"reason": "normal"}
    return "heartbeat", {"latency_ms": rng.randrange(5, 200), "packet_loss_pct": round(rng.random() * 2, 2)}


# --- one side per process ------------------------------------------------------------------


def measure_emitter(bootstrap: str, topic: str, events: int, sessions: int, compression: str) -> dict:
    from streams.emit.emitter import SessionEmitter

    batch = session_events(events, sessions)
    freeze_fixture()
    baseline = current_rss_mib()
    with tempfile.TemporaryDirectory() as spool_dir:
        emitter = SessionEmitter(bootstrap=bootstrap, topic=topic, ops_topic=topic + "-ops",
                                 spool_dir=Path(spool_dir), producer="bench", compression=compression,
                                 **PRODUCER_SETTINGS)
        emitter.emit(batch[0])  # connect and learn the topic's partitions before the clock starts
        emitter.flush(60)
        cpu = process_cpu_s()
        with timed() as clock:
            for event in batch[1:]:
                emitter.emit(event)
            clock.lap("enqueued")
            emitter.flush(300)
        cpu = process_cpu_s() - cpu
        stats, idempotent = emitter.stats, emitter.idempotent
        emitter.close()
    sent = len(batch) - 1
    return {
        "events": sent, "seconds": round(clock.seconds, 3), "events_per_s": per_second(sent, clock.seconds),
        "enqueue_s": round(clock.laps["enqueued"], 3), "cpu_us_per_event": cpu_us_per_event(cpu, sent),
        "peak_rss_mib": peak_rss_mib(), "rss_growth_mib": round(peak_rss_mib() - baseline, 1),
        "acked": stats.acked - 1, "spooled": stats.spooled, "compression": emitter.compression,
        "idempotent": idempotent,
    }


def measure_raw(bootstrap: str, topic: str, events: int, sessions: int, compression: str) -> dict:
    from kafka import KafkaProducer

    from streams.emit.emitter import best_compression

    compression = best_compression() if compression == "auto" else compression
    messages = [(e.key, e.model_dump_json().encode()) for e in session_events(events, sessions)]
    freeze_fixture()
    baseline = current_rss_mib()
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                             max_in_flight_requests_per_connection=5, compression_type=compression,
                             **PRODUCER_SETTINGS)
    key, value = messages[0]
    producer.send(topic, value=value, key=key).get(60)
    cpu = process_cpu_s()
    with timed() as clock:
        for key, value in messages[1:]:
            producer.send(topic, value=value, key=key)
        clock.lap("enqueued")
        producer.flush(300)
    cpu = process_cpu_s() - cpu
    producer.close()
    sent = len(messages) - 1
    return {
        "events": sent, "seconds": round(clock.seconds, 3), "events_per_s": per_second(sent, clock.seconds),
        "enqueue_s": round(clock.laps["enqueued"], 3), "cpu_us_per_event": cpu_us_per_event(cpu, sent),
        "peak_rss_mib": peak_rss_mib(), "rss_growth_mib": round(peak_rss_mib() - baseline, 1),
        "compression": compression,
    }


# --- the comparison ------------------------------------------------------------------------


def run(bootstrap: str, events: int, sessions: int, compression: str, partitions: int, repeat: int) -> dict:
    """Alternate raw and emitter runs ``repeat`` times each; keep each side's fastest run.

    The broker shares the machine's cores with the producers, so single runs are noisy; the
    fastest of a few alternating runs compares the two under the same conditions.
    """
    from streams.kafka.topics import ensure_topics

    common = ["--bootstrap", bootstrap, "--events", str(events), "--sessions", str(sessions),
              "--compression", compression]
    runs: dict[str, list[dict]] = {"raw": [], "emitter": []}
    for _ in range(repeat):
        for side in ("raw", "emitter"):
            topic = f"bench-emit-{side}-{uuid.uuid4().hex[:8]}"
            ensure_topics(bootstrap, {topic: partitions})
            runs[side].append(run_measurement("bench.emit", ["--side", side, "--topic", topic, *common]))
    raw, emitter = (max(runs[side], key=lambda r: r["events_per_s"]) for side in ("raw", "emitter"))
    cpu = {}
    for side, best in (("raw", raw), ("emitter", emitter)):
        best["all_runs_events_per_s"] = [r["events_per_s"] for r in runs[side]]
        best["all_runs_cpu_us_per_event"] = [r["cpu_us_per_event"] for r in runs[side]]
        cpu[side] = min(best["all_runs_cpu_us_per_event"])
    ratio = round(emitter["events_per_s"] / raw["events_per_s"], 3)
    return {
        "stage": "emit",
        "events": events,
        "sessions": sessions,
        "partitions": partitions,
        "repeat": repeat,
        "compression": emitter["compression"],
        "emitter": emitter,
        "raw_json_producer": raw,
        "ratio": ratio,
        "cpu_us_per_event": {"emitter": cpu["emitter"], "raw_producer": cpu["raw"]},
        "crc32c_accelerated": _crc32c_accelerated(),
        "targets": {
            f"emitter >= {TARGET_EVENTS_PER_S} events/s": emitter["events_per_s"] >= TARGET_EVENTS_PER_S,
            f"emitter / raw producer >= {TARGET_RATIO}": ratio >= TARGET_RATIO,
        },
    }


def _crc32c_accelerated() -> bool:
    """Whether kafka-python found the C crc32c (its pure-Python fallback caps any producer here)."""
    from kafka.record import util

    return util.crc32c_c is not None


def _print_table(result: dict) -> None:
    emitter, raw = result["emitter"], result["raw_json_producer"]
    print(f"{result['events']:,} session events over {result['sessions']:,} sessions, "
          f"{result['partitions']} partitions, compression {result['compression']}")
    print(f"{'':<22}{'events/s':>12}{'CPU µs/event':>14}{'seconds':>10}{'peak RSS MiB':>14}{'growth MiB':>12}")
    for name, side in (("SessionEmitter (Avro)", emitter), ("raw producer (JSON)", raw)):
        print(f"{name:<22}{side['events_per_s']:>12,.0f}{side['cpu_us_per_event']:>14.2f}{side['seconds']:>10.2f}"
              f"{side['peak_rss_mib']:>14.1f}{side['rss_growth_mib']:>12.1f}")
    print(f"ratio {result['ratio']:.2f} (fastest of {result['repeat']} alternating runs each: "
          f"emitter {emitter['all_runs_events_per_s']}, raw {raw['all_runs_events_per_s']}); "
          f"C crc32c: {result['crc32c_accelerated']}")
    for target, met in result["targets"].items():
        print(f"  {'met' if met else 'NOT met'}: {target}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.emit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers, HOST:PORT")
    parser.add_argument("--events", type=int, default=200_000, help="events per side (default 200000)")
    parser.add_argument("--sessions", type=int, default=5_000, help="concurrently open sessions")
    parser.add_argument("--partitions", type=int, default=3, help="partitions of each bench topic")
    parser.add_argument("--compression", default="auto", help="auto, zstd, lz4, gzip or none")
    parser.add_argument("--repeat", type=int, default=2, help="alternating runs per side; the fastest counts")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--out", type=Path, help="also write the JSON result to this file")
    parser.add_argument("--side", choices=("emitter", "raw"), help=argparse.SUPPRESS)
    parser.add_argument("--topic", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    compression = None if args.compression == "none" else args.compression
    if args.side:
        measure = measure_emitter if args.side == "emitter" else measure_raw
        emit_result(measure(args.bootstrap, args.topic, args.events, args.sessions, compression), as_json=True)
        return 0
    result = run(args.bootstrap, args.events, args.sessions, args.compression, args.partitions, args.repeat)
    if args.json:
        emit_result(result, as_json=True, out=args.out)
    else:
        _print_table(result)
        if args.out:
            args.out.write_text(json.dumps(result, sort_keys=True) + "\n")
    return 0 if all(result["targets"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
