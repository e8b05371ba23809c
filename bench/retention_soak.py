"""Retention soak: sustained load with short retention, watching disk use at every layer stay bounded.

    python -m bench.retention_soak --duration 300 --rate 2000 --json

Starts a broker of its own (a temporary directory, free ports) that looks for expired segments
every ``--check-interval`` seconds, creates the ledger's topics as ``ledger topics create`` does
with short settings (session, internal and dead-letter retention ``--retention`` seconds,
segments closed after ``--segment-ms`` or 1 MiB), starts ``ledger worker`` (finished sessions
evicted after ``--retention`` too) and ``ledger sink``, and emits session events at ``--rate``
events/s for ``--duration`` seconds (the rolling session pool of bench/soak.py).

Every ``--every`` seconds it samples the bytes on disk (allocated blocks, so Kafka's sparse
preallocated indexes count as what they use) of: the session topic's partitions, the worker's
changelogs, the worker's repartition topics, the rest of the broker's log dir, the warehouse
(chDB) and the worker's state dir, and the first and last offsets the session topic holds.

Reported: events, events/s achieved, CPU µs per event of the broker, the worker and the sink
(each process's own CPU over the run), each series' first/min/max/last and the slope of its
second half, and disk per million events at each layer: Kafka bytes per session event held,
warehouse bytes per row (system.parts, read after the sink stopped), worker state bytes per
event folded. The session topic and the repartition topics must stay bounded (they delete);
the warehouse grows with every event until its TTL (days), by design.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.soak import Sessions, ledger_child, slope_per_minute, wait_healthy

SAMPLE_EVERY_S = 10.0
SEGMENT_BYTES = 1024 * 1024


def disk_bytes(path: Path) -> int:
    """Bytes allocated on disk under ``path`` (st_blocks); files and directories that vanish while
    it walks (segments deleted, parts merged) are skipped."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                continue
    return total


def topic_of(partition_dir: Path) -> str:
    """``session-events-2`` -> ``session-events``."""
    return partition_dir.name.rsplit("-", 1)[0]


def kafka_groups(data_dir: Path, settings, changelog_prefix: str, internal: tuple[str, ...]) -> dict[str, int]:
    """Bytes on disk of the broker's log dir, by layer."""
    groups = {"session_topic": 0, "changelogs": 0, "repartition": 0, "kafka_other": 0}
    for entry in data_dir.iterdir() if data_dir.exists() else ():
        if not entry.is_dir():
            continue
        topic = topic_of(entry)
        size = disk_bytes(entry)
        if topic == settings.session_topic:
            groups["session_topic"] += size
        elif topic.startswith(changelog_prefix) and topic.endswith("-changelog"):
            groups["changelogs"] += size
        elif topic in internal:
            groups["repartition"] += size
        else:
            groups["kafka_other"] += size
    return groups


def offsets_held(consumer, topic: str) -> tuple[int, int]:
    """(sum of first offsets, sum of end offsets) over the topic's partitions."""
    from kafka import TopicPartition

    tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
    return sum(consumer.beginning_offsets(tps).values()), sum(consumer.end_offsets(tps).values())


def series_summary(samples: list[tuple[float, float]]) -> dict[str, Any]:
    values = [v for _, v in samples]
    half = samples[len(samples) // 2:]
    return {"first": values[0], "min": min(values), "max": max(values), "last": values[-1],
            "second_half_min": min(v for _, v in half), "second_half_max": max(v for _, v in half),
            "second_half_slope_per_min": round(slope_per_minute(half), 1)}


def warehouse_bytes_per_row(chdb_path: Path) -> dict[str, Any]:
    """Rows and bytes on disk of each session table, from system.parts (after the sink stopped)."""
    from analytics.warehouse import ChdbWarehouse

    with ChdbWarehouse(chdb_path) as warehouse:
        rows = warehouse.query(
            "SELECT table, sum(rows) AS rows, sum(bytes_on_disk) AS bytes FROM system.parts "
            "WHERE active AND database = currentDatabase() GROUP BY table ORDER BY table", name="parts")
    return {row["table"]: {"rows": int(row["rows"]), "bytes": int(row["bytes"]),
                           "bytes_per_million_rows": round(int(row["bytes"]) / int(row["rows"]) * 1e6)
                           if int(row["rows"]) else None} for row in rows}


def run(duration_s: float, rate: float, every_s: float, retention_s: float, segment_ms: int,
        check_interval_s: float, concurrent: int, players: int, partitions: int, pipeline: bool,
        keep: bool, progress) -> dict[str, Any]:
    from kafka import KafkaConsumer

    from ledger.procfs import cpu_seconds
    from ledger.stack import BrokerConfig, LocalBroker, free_port
    from streams.emit.emitter import SessionEmitter
    from streams.fold.options import app_id, repartition_topics
    from streams.kafka.topics import ensure_topics, ledger_topics
    from streams.settings import load_settings

    run_id = uuid.uuid4().hex[:8]
    home = Path(tempfile.mkdtemp(prefix=f"ledger-retention-soak-{run_id}-"))
    defaults = load_settings()
    retention_ms = int(retention_s * 1000)
    broker = LocalBroker(BrokerConfig(
        home=home / "kafka", jars_cache=defaults.cache_dir, version=defaults.kafka_version, port=free_port(),
        controller_port=free_port(), heap="512m", start_timeout_s=120.0, maven_repo=defaults.maven_repo,
        retention_ms=retention_ms, retention_check_interval_ms=int(check_interval_s * 1000),
        extra_properties=(("num.network.threads", "2"), ("num.io.threads", "2"), ("log.cleaner.backoff.ms", "5000"))))
    status = broker.up()
    settings = load_settings(
        state_dir=home / "state", bootstrap_servers=status.bootstrap, partitions=partitions,
        session_retention_ms=retention_ms, internal_retention_ms=retention_ms, dead_letter_retention_ms=retention_ms,
        segment_ms=segment_ms, segment_bytes=SEGMENT_BYTES, heartbeat_ttl_days=30, lifecycle_ttl_days=1095,
        warehouse_http_port=0)
    worker = sink = emitter = consumer = None
    samples: dict[str, list[tuple[float, float]]] = {}
    emitted, sent_s, cpu = 0, 0.0, {}
    try:
        ensure_topics(status.bootstrap, ledger_topics(settings))
        broker_pid = status.pid
        if pipeline:
            port = free_port()
            worker = ledger_child(["worker", "--web-port", str(port), "--worker-id", "soak", "--loglevel", "warn",
                                   "--finished-retention", str(int(retention_s))], settings, home / "worker.log")
            sink = ledger_child(["sink"], settings, home / "sink.log")
            wait_healthy(port, worker, timeout_s=180)
        emitter = SessionEmitter.from_settings(settings, producer="gameserver")
        consumer = KafkaConsumer(bootstrap_servers=status.bootstrap)
        load = Sessions(concurrent, players)
        cpu_before = {"broker": cpu_seconds(broker_pid), "worker": cpu_seconds(worker.pid) if worker else 0.0,
                      "sink": cpu_seconds(sink.pid) if sink else 0.0}
        started = time.monotonic()
        next_sample = started
        while (elapsed := time.monotonic() - started) < duration_s:
            for _ in range(100):
                emitter.emit(load.next())
            emitted += 100
            if time.monotonic() >= next_sample:
                for name, process in (("worker", worker), ("sink", sink)):
                    if process is not None and not process.alive():
                        raise RuntimeError(f"the {name} exited; its log ends with:\n{process.log_tail()}")
                point = kafka_groups(broker.config.data_dir, settings, app_id(settings),
                                     repartition_topics(settings))
                point["kafka_total"] = disk_bytes(broker.config.data_dir)
                point["warehouse"] = disk_bytes(settings.chdb_path)
                point["worker_state"] = disk_bytes(settings.state_dir / "worker")
                first, end = offsets_held(consumer, settings.session_topic)
                point["session_first_offset"], point["session_end_offset"] = first, end
                for key, value in point.items():
                    samples.setdefault(key, []).append((round(elapsed, 1), value))
                progress(elapsed, emitted, point)
                next_sample += every_s
            time.sleep(max(0.0, started + emitted / rate - time.monotonic()))
        emitter.flush(timeout=60)
        sent_s = time.monotonic() - started
        cpu = {"broker": cpu_seconds(broker_pid) - cpu_before["broker"]}
        for name, process in (("worker", worker), ("sink", sink)):
            if process is not None:
                cpu[name] = cpu_seconds(process.pid) - cpu_before[name]
    finally:
        if emitter is not None:
            emitter.close()
        if consumer is not None:
            consumer.close()
        for process in (worker, sink):
            if process is not None:
                process.stop(grace_s=30.0)
        broker.down(timeout_s=30.0)
    held = [(s, e) for (_, s), (_, e) in zip(samples["session_first_offset"], samples["session_end_offset"])]
    # Bytes per event from the samples taken before the first deletion: afterwards the files of
    # deleted segments stay on disk for the broker's file.delete.delay.ms (60 s) beside the events held.
    per_event = [size / e for (_, size), (s, e) in zip(samples["session_topic"], held) if s == 0 and e > 0]
    result: dict[str, Any] = {
        "duration_s": round(sent_s, 1), "rate_offered": rate, "events_emitted": emitted,
        "rate_achieved": round(emitted / sent_s, 1) if sent_s else None,
        "settings": {"retention_s": retention_s, "segment_ms": segment_ms, "segment_bytes": SEGMENT_BYTES,
                     "check_interval_s": check_interval_s, "partitions": partitions},
        "cpu_us_per_event": {name: round(seconds / emitted * 1e6, 1) for name, seconds in cpu.items()},
        "series": {key: series_summary(values) for key, values in samples.items()},
        "segments_deleted": held[-1][0] > 0,
        "kafka_bytes_per_million_session_events": round(per_event[-1] * 1e6) if per_event else None,
        "samples_raw": samples, "home": str(home) if keep else None,
    }
    if pipeline:
        result["warehouse_parts"] = warehouse_bytes_per_row(settings.chdb_path)
        result["worker_state_bytes_per_million_events"] = round(samples["worker_state"][-1][1] / emitted * 1e6)
    if not keep:
        shutil.rmtree(home, ignore_errors=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.retention_soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of load (default 300)")
    parser.add_argument("--rate", type=float, default=2000.0, help="events/s offered (default 2000)")
    parser.add_argument("--every", type=float, default=SAMPLE_EVERY_S, help="seconds between samples")
    parser.add_argument("--retention", type=float, default=60.0, help="retention of the deleting topics, s")
    parser.add_argument("--segment-ms", type=int, default=60_000, help="segment.ms of the ledger's topics")
    parser.add_argument("--check-interval", type=float, default=5.0, help="broker's retention check interval, s")
    parser.add_argument("--concurrent", type=int, default=2000, help="live sessions at any time")
    parser.add_argument("--players", type=int, default=10000, help="distinct players")
    parser.add_argument("--partitions", type=int, default=3, help="partitions of the session topic")
    parser.add_argument("--kafka-only", action="store_true", help="no worker and no sink: the broker alone")
    parser.add_argument("--keep", action="store_true", help="keep the broker's, worker's and sink's directory")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)

    def progress(elapsed: float, emitted: int, point: dict[str, int]) -> None:
        mib = " ".join(f"{k}={v / 2**20:.1f}MiB" for k, v in point.items() if not k.endswith("offset"))
        print(f"[{elapsed:6.0f}s] emitted={emitted} first_offset={point['session_first_offset']} {mib}",
              file=sys.stderr, flush=True)

    result = run(args.duration, args.rate, args.every, args.retention, args.segment_ms, args.check_interval,
                 args.concurrent, args.players, args.partitions, not args.kafka_only, args.keep, progress)
    if args.json:
        print(json.dumps(result))
    else:
        for name, summary in result["series"].items():
            print(f"{name:22} {summary}")
        print(f"cpu µs/event {result['cpu_us_per_event']}; segments deleted: {result['segments_deleted']}")
    return 0 if result["segments_deleted"] else 1


if __name__ == "__main__":
    sys.exit(main())
