"""How fast the worker folds the session log, beside a bare aiokafka loop doing the same fold.

    python -m bench.fold --bootstrap 127.0.0.1:9092 --events 200000 --json

1. ``bare``: an aiokafka consumer reads the pre-filled topic from the beginning, decodes each
   partition's fetched messages with one ``schemas.batch.BatchDecoder.decode`` call and
   delivers the records to ``projections.fold.LedgerFold`` (sessions, players, concurrency,
   disconnect windows) in memory: the worker's decode and fold with no tables, changelogs or
   internal topics.
2. ``worker``: one worker process (RocksDB tables, changelogs, player repartition) folds the
   same topic; timed from its first folded event to its last, read from its /metrics.
3. ``bare`` again, once the worker has stopped. The ratio is the worker's rate over the mean
   of the two bare rates: on a shared machine whose speed drifts by a fifth within a minute,
   one bare run before the worker moved the ratio more than anything the worker did.
4. ``lag``: new sessions emitted at ``--rate`` events/s for ``--duration`` s; for every
   ``--sample-every``-th event, the time from the send to the event being visible through
   GET /sessions/{id}, polled every ``--poll-ms``. The polling is load on the worker too (one
   request per outstanding probe per poll): the result says how many requests it made.

Each of worker and bare is reported as events/s and as process CPU microseconds per event
(user + sys of the process over the run: steadier than wall time on a shared machine), also
under ``cpu_us_per_event``.

Targets: worker/bare >= 0.7, worker >= 50,000 events/s, p99 lag < 1 s at 5,000 events/s.
"""
from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from kafka import KafkaProducer

from bench.common import emit_result, event_template, open_private_worker_api, peak_rss_mib, per_second
from bench.probe import Prober
from ledger.child import wait_until
from ledger.procfs import cpu_seconds, peak_rss_kib
from ledger.stack import free_port
from ledger.worker_process import WorkerProcess
from projections.fold import LedgerFold
from schemas.batch import BatchDecoder
from schemas.codec import encode
from streams.kafka.topics import ensure_topics
from streams.settings import load_settings

TARGET_RATIO, TARGET_EVENTS_S, TARGET_P99_S = 0.7, 50_000, 1.0
UNSEEN_AFTER_S = 10.0
SCRIPT = ["requested", "started"] + ["heartbeat"] * 7 + ["ended"]


def session_events(count: int, start: datetime):
    """Encoded events of 10-event sessions, ``(session_id, seq, bytes)``, sessions interleaved by 50."""
    templates = {kind: event_template(kind) for kind in set(SCRIPT)}
    out = []
    sessions = (count + len(SCRIPT) - 1) // len(SCRIPT)
    for group in range(0, sessions, 50):
        ids = [str(uuid.uuid4()) for _ in range(min(50, sessions - group))]
        for seq, kind in enumerate(SCRIPT, start=1):
            for n, session_id in enumerate(ids):
                event = templates[kind].model_copy(update={
                    "session_id": session_id, "seq": seq, "event_id": str(uuid.uuid4()),
                    "player_id": f"player-{(group + n) % 5000}", "region": ("eu-west", "us-east")[n % 2],
                    "occurred_at": start + timedelta(milliseconds=seq * 10),
                })
                out.append((session_id, seq, encode(event)))
    return out[:count]


def fill(bootstrap: str, topic: str, events) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=20, batch_size=512 * 1024)
    for session_id, _seq, value in events:
        producer.send(topic, key=session_id.encode(), value=value)
    producer.flush()
    producer.close()


async def bare_fold(bootstrap: str, topic: str, partitions: int, total: int) -> tuple[float, float]:
    """(seconds, CPU seconds of this process) from the first fetch to the last event folded."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                                max_partition_fetch_bytes=8 * 1024 * 1024)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        fold, decoder, read, began, cpu = LedgerFold(), BatchDecoder(), 0, None, 0.0
        deliver = fold.deliver
        while read < total:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            if began is None and batches:
                began, cpu = time.perf_counter(), time.process_time()
            for records in batches.values():
                batch = decoder.decode([record.value for record in records])
                for event in batch.sessions:
                    deliver(event)
                read += len(records)
        return time.perf_counter() - began, time.process_time() - cpu
    finally:
        await consumer.stop()


def folded(worker: WorkerProcess) -> float:
    status, text = worker.get("/metrics")
    total = 0.0
    for line in text.splitlines() if status == 200 else ():
        if line.startswith("ledger_events_folded_total{"):
            total += float(line.split()[-1])
    return total


def measure_lag(worker, bootstrap, topic, rate, duration_s, sample_every, poll_s) -> Prober:
    """The prober, done: the lags of the sampled events seen, and how many were not seen
    within UNSEEN_AFTER_S.

    Every ``sample_every``-th event is flushed on its own and then probed every ``poll_s``;
    the prober polls every probe concurrently (bench/probe.py), so one slow probe never
    delays the others.
    """
    events = session_events(int(rate * duration_s), datetime.now(timezone.utc))
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=2)
    prober = Prober(worker.web_port, poll_s=poll_s, give_up_s=UNSEEN_AFTER_S)
    prober.start()
    began = time.monotonic()
    for n, (session_id, seq, value) in enumerate(events):
        producer.send(topic, key=session_id.encode(), value=value)
        if n % sample_every == 0:
            producer.flush()
            prober.add(n, session_id, seq, time.monotonic())
        delay = began + n / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    producer.flush()
    prober.emitting_done.set()
    prober.join()
    producer.close()
    prober.lags.sort()
    return prober


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fold", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--rate", type=float, default=5000)
    parser.add_argument("--duration", type=float, default=30)
    parser.add_argument("--sample-every", type=int, default=250,
                        help="probe every Nth event emitted in the lag phase (default 250: 20 probes/s at 5,000/s)")
    parser.add_argument("--poll-ms", type=float, default=20,
                        help="how often each outstanding probe asks the API (default 20 ms)")
    parser.add_argument("--store", choices=("rocksdb", "memory"), default="rocksdb")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    tag = uuid.uuid4().hex[:8]
    topic = f"bench-fold-{tag}"
    state = Path(tempfile.mkdtemp(prefix="bench-fold-"))
    settings = load_settings(state_dir=state / "state", bootstrap_servers=args.bootstrap,
                             session_topic=topic, ops_topic=f"bench-fold-ops-{tag}",
                             dead_letter_topic=f"bench-fold-dead-{tag}", partitions=args.partitions)
    ensure_topics(args.bootstrap, {topic: args.partitions, settings.ops_topic: 1, settings.dead_letter_topic: 1})
    events = session_events(args.events, datetime.now(timezone.utc))
    fill(args.bootstrap, topic, events)
    del events

    bare_runs = [asyncio.run(bare_fold(args.bootstrap, topic, args.partitions, args.events))]

    open_private_worker_api()
    worker = WorkerProcess(settings, web_port=free_port(), store=args.store, heartbeat_timeout_s=3600,
                           reservation_timeout_s=3600,
                           timeout_check_interval_s=3600)
    try:
        worker.start().wait_ready(timeout_s=180)
        first = wait_until(lambda: (n := folded(worker)) > 0 and (time.perf_counter(), n),
                           timeout_s=120, interval_s=0.02, what="the worker folding")
        first_cpu = cpu_seconds(worker.pid)
        last = wait_until(lambda: (n := folded(worker)) >= args.events and (time.perf_counter(), n),
                          timeout_s=1800, interval_s=0.1, what="the worker folding every event")
        worker_cpu = cpu_seconds(worker.pid) - first_cpu
        worker_s = last[0] - first[0]
        worker_rate = per_second(int(last[1] - first[1]), worker_s)
        prober = measure_lag(worker, args.bootstrap, topic, args.rate, args.duration,
                             args.sample_every, args.poll_ms / 1000)
        lags, unseen = prober.lags, prober.missed
        worker_mib = round(peak_rss_kib(worker.pid) / 1024, 1)
    finally:
        worker.kill()
    bare_runs.append(asyncio.run(bare_fold(args.bootstrap, topic, args.partitions, args.events)))
    bare_rates = [per_second(args.events, seconds) for seconds, _cpu in bare_runs]
    bare_rate = round(sum(bare_rates) / len(bare_rates), 1)
    bare_cpu = sum(cpu for _seconds, cpu in bare_runs) / len(bare_runs)
    worker_us = round(worker_cpu / max(1, last[1] - first[1]) * 1e6, 1)
    bare_us = round(bare_cpu / args.events * 1e6, 1)

    p = lambda q: round(lags[min(len(lags) - 1, int(q * len(lags)))], 3) if lags else None  # noqa: E731
    ratio = round(worker_rate / bare_rate, 3) if bare_rate else 0.0
    result = {
        "stage": "fold",
        "events": args.events,
        "partitions": args.partitions,
        "store": args.store,
        "worker_events_s": worker_rate,
        "bare_events_s": bare_rate,
        "bare_all_runs_events_s": bare_rates,
        "ratio": ratio,
        "worker_cpu_us_per_event": worker_us,
        "bare_cpu_us_per_event": bare_us,
        "cpu_us_per_event": {"worker": worker_us, "bare": bare_us},
        "lag_rate_events_s": args.rate,
        "lag_samples": len(lags),
        "lag_unseen_after_10s": unseen,
        "lag_poll_ms": args.poll_ms,
        "lag_probe_requests_s": round(prober.requests / args.duration, 1),
        "lag_p50_s": p(0.50),
        "lag_p99_s": p(0.99),
        "worker_peak_rss_mib": worker_mib,
        "bare_peak_rss_mib": peak_rss_mib(),
        "targets": {
            f"ratio >= {TARGET_RATIO}": ratio >= TARGET_RATIO,
            f"worker >= {TARGET_EVENTS_S:,} events/s": worker_rate >= TARGET_EVENTS_S,
            f"p99 lag < {TARGET_P99_S} s at {args.rate:,.0f} events/s": bool(lags) and not unseen and p(0.99) < TARGET_P99_S,
        },
    }
    emit_result(result, as_json=args.json)


if __name__ == "__main__":
    main()
