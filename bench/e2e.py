"""The whole pipeline at a fixed emit rate: emitter -> broker -> worker and sink, each in its own process.

    python -m bench.e2e --bootstrap 127.0.0.1:9092 --rate 5000 --duration 30 --json

On fresh topics (unique names) and a fresh state directory, one worker (RocksDB tables) and one
history sink (chDB) run as child processes configured by LEDGER_* variables, as an operator would
run them. Once the worker's /health says it has recovered and the sink owns the session topic's
partitions, realistic sessions from the load generator are emitted through ``SessionEmitter`` at
``--rate`` events/s for ``--duration`` s. Measured:

- emit -> visible: every ``--probe-every``-th event is a probe; a prober thread polls
  GET /sessions/{id} (one keep-alive connection, each pending probe every ``--poll-ms``) until
  ``last_seq`` reaches the probe's seq. Lag is the time from the ``emit`` call to the response
  that showed it; a probe still unseen after ``--give-up`` seconds counts as missed.
- emit -> history: the warehouse tables keep no insert time, so the sink's committed offsets
  (group ``ledger-sink``) are read every ``--offsets-every`` seconds. The sink commits only after
  the insert, so an event is in the history no later than the first reading past its offset.
  Each event's partition and offset come from reading the topic back after the run.
- throughput: the achieved emit rate; events folded/s from the worker's
  ``ledger_events_folded_total`` (read once a second: a /metrics scrape counts every key of the
  worker's tables, so scraping faster slows the fold); rows/s from the committed offsets; each
  over the time from the first emit until the last event was folded (or committed), and the
  largest backlog (emitted, not yet folded or committed) seen at any reading.
- peak memory of worker and sink: VmHWM of each process from /proc, read while it runs.
- exactly once: once the sink has stopped, its chDB is opened and every event_id compared with
  the emitted ones.

Targets: p99 emit -> visible lag < 1 s at the chosen rate, the rate achieved (>= 95 %), and the
history holding every emitted event exactly once.
"""
from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import threading
import time
import uuid
from bisect import bisect_right
from datetime import datetime, timezone
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError

from bench.common import emit_result, open_private_worker_api, per_second
from bench.probe import Prober
from ledger.child import ChildProcess, settings_env
from ledger.child import wait_until
from ledger.procfs import peak_rss_kib
from ledger.stack import free_port
from ledger.worker_process import WorkerProcess
from schemas.codec import decode
from schemas.models import SessionEvent
from streams.kafka.topics import ensure_topics, ledger_topics
from streams.settings import Settings, load_settings
from streams.sink.consumer import DEFAULT_GROUP_ID

TARGET_P99_MS = 1000.0
TARGET_RATE_SHARE = 0.95


# --- the processes ---------------------------------------------------------------------------


def sink_process(settings: Settings, log_path: Path) -> ChildProcess:
    """``ledger sink`` into this run's own chDB (any LEDGER_CLICKHOUSE* of the caller unset)."""
    return ChildProcess(["-m", "ledger.cli", "sink"], log_path, env=settings_env(settings),
                        unset=("LEDGER_CLICKHOUSE",))


# --- what the run emits ----------------------------------------------------------------------


def realistic_sessions(count: int, seed: int = 11) -> list[SessionEvent]:
    """The first ``count`` session events of a simulated hour of the load generator's traffic."""
    from ledger.loadgen.generator import generate

    players = max(50, math.ceil(count / 95))
    while True:
        plan = generate(players=players, duration_s=3600, seed=seed, start=datetime.now(timezone.utc))
        events = [event for event in plan.events if type(event) is SessionEvent]
        if len(events) >= count:
            return events[:count]
        players *= 2


# --- watching the worker's metrics and the sink's commits ------------------------------------


class Monitor(threading.Thread):
    """Samples committed offsets of the sink, the worker's folded count and both processes' VmHWM."""

    def __init__(self, admin: KafkaAdminClient, partitions: list[TopicPartition], worker: WorkerProcess,
                 sink: ChildProcess, offsets_every_s: float, metrics_every_s: float = 1.0) -> None:
        super().__init__(name="e2e-monitor", daemon=True)
        self.admin, self.partitions, self.worker, self.sink = admin, partitions, worker, sink
        self.offsets_every_s, self.metrics_every_s = offsets_every_s, metrics_every_s
        self.committed: dict[int, list[tuple[float, int]]] = {tp.partition: [] for tp in partitions}
        self.folded: list[tuple[float, float]] = []
        self.peak_kib = {"worker": 0, "sink": 0}
        self.failures: list[str] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        next_metrics = 0.0
        while not self.stopping.is_set():
            began = time.monotonic()
            self._sample_offsets()
            if began >= next_metrics:
                next_metrics = began + self.metrics_every_s
                self._sample_metrics()
            self.stopping.wait(max(0.0, began + self.offsets_every_s - time.monotonic()))

    def committed_total(self) -> int:
        return sum(samples[-1][1] for samples in self.committed.values() if samples)

    def folded_total(self) -> float:
        return self.folded[-1][1] if self.folded else 0.0

    def _sample_offsets(self) -> None:
        try:
            offsets = self.admin.list_group_offsets({DEFAULT_GROUP_ID: self.partitions})[DEFAULT_GROUP_ID]
        except (KafkaError, OSError) as error:  # recorded; the next reading is tried
            self.failures.append(f"committed offsets: {error}")
            return
        now = time.monotonic()
        for tp, meta in offsets.items():
            if tp in self.partitions and meta is not None and meta.offset >= 0:
                samples = self.committed[tp.partition]
                if not samples or samples[-1][1] != meta.offset:
                    samples.append((now, meta.offset))

    def _sample_metrics(self) -> None:
        for name, pid in (("worker", self.worker.pid), ("sink", self.sink.pid)):
            self.peak_kib[name] = max(self.peak_kib[name], peak_rss_kib(pid))
        try:
            status, text = self.worker.get("/metrics", timeout_s=2.0)
        except OSError as error:
            self.failures.append(f"worker /metrics: {error}")
            return
        if status == 200:
            total = sum(float(line.split()[-1]) for line in text.splitlines()
                        if line.startswith("ledger_events_folded_total{"))
            self.folded.append((time.monotonic(), total))


def sink_owns(admin: KafkaAdminClient, topic: str, partitions: int) -> bool:
    """Whether the sink's group is stable with every partition of ``topic`` assigned to a member."""
    group = admin.describe_groups([DEFAULT_GROUP_ID]).get(DEFAULT_GROUP_ID) or {}
    if group.get("group_state") != "Stable":
        return False
    owned: set[int] = set()
    for member in group.get("members", []):
        for entry in (member.get("member_assignment") or {}).get("assigned_partitions", []):
            if entry["topic"] == topic:
                owned.update(entry["partitions"])
    return owned == set(range(partitions))


# --- the run ---------------------------------------------------------------------------------


def emit_at_rate(emitter, events: list[SessionEvent], rate: float, prober: Prober,
                 probe_every: int) -> tuple[list[float], float]:
    """Emit ``events`` at ``rate`` events/s; returns each event's emit time and the seconds taken."""
    times = [0.0] * len(events)
    began = time.monotonic()
    sent = 0
    while sent < len(events):
        due = min(len(events), int((time.monotonic() - began) * rate) + 1)
        while sent < due:
            event = events[sent]
            emitter.emit(event)
            times[sent] = now = time.monotonic()
            if sent % probe_every == 0:
                prober.add(sent, event.session_id, event.seq, now)
            sent += 1
        wait = began + sent / rate - time.monotonic()
        if wait > 0:
            time.sleep(wait)
    return times, time.monotonic() - began


def log_positions(bootstrap: str, topic: str, partitions: int) -> tuple[dict[str, tuple[int, int]], int]:
    """event_id -> (partition, offset) of every message in ``topic``, and the number of messages."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                             max_partition_fetch_bytes=8 * 1024 * 1024)
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        positions: dict[str, tuple[int, int]] = {}
        messages = 0
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            for tp, records in consumer.poll(timeout_ms=1000, max_records=20_000).items():
                for record in records:
                    messages += 1
                    event = decode(record.value)
                    positions.setdefault(str(event.event_id), (tp.partition, record.offset))
        return positions, messages
    finally:
        consumer.close()


def history_lags(emitted_ids: list[str], emitted_at: list[float], positions: dict[str, tuple[int, int]],
                 committed: dict[int, list[tuple[float, int]]]) -> tuple[list[float], int]:
    """Per event, seconds from emit to the first reading of a committed offset past it; and how many never."""
    times = {p: [t for t, _ in samples] for p, samples in committed.items()}
    offsets = {p: [o for _, o in samples] for p, samples in committed.items()}
    lags, never = [], 0
    for event_id, sent_at in zip(emitted_ids, emitted_at):
        partition, offset = positions.get(event_id, (None, None))
        if partition is None:
            never += 1
            continue
        index = bisect_right(offsets[partition], offset)  # first committed offset > this one
        if index == len(offsets[partition]):
            never += 1
            continue
        lags.append(times[partition][index] - sent_at)
    return lags, never


def max_backlog(emitted_at: list[float], done: list[tuple[float, float]], base: float) -> int:
    """The most events emitted but not yet done (folded, committed) at any reading of ``done``."""
    return int(max((bisect_right(emitted_at, t) - (value - base) for t, value in done), default=0))


def last_change(samples: list[tuple[float, float]]) -> float | None:
    """When the last new value of a series was read (the end of the work, if it never finished)."""
    changes = [t for (t, v), (_, before) in zip(samples[1:], samples) if v != before]
    return changes[-1] if changes else None


def first_time(samples: list[tuple[float, float]], value: float) -> float | None:
    return next((t for t, v in samples if v >= value), None)


def percentiles_ms(seconds: list[float], missed: int = 0) -> dict:
    """p50/p99/max in ms, nearest rank; missed samples count as slower than any seen."""
    ordered = sorted(seconds) + [math.inf] * missed

    def rank(q: float):
        if not ordered:
            return None
        value = ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]
        return None if math.isinf(value) else round(value * 1000, 1)

    return {"count": len(seconds), "missed": missed, "p50_ms": rank(0.50), "p99_ms": rank(0.99),
            "max_ms": rank(1.0)}


def history_check(settings: Settings, emitted_ids: list[str]) -> dict:
    """Rows of the sink's chDB against the emitted event ids (the sink must have stopped)."""
    from analytics.warehouse import ChdbWarehouse

    with ChdbWarehouse(settings.chdb_path) as warehouse:
        rows = warehouse.query("SELECT count() AS n, uniqExact(event_id) AS d FROM session_events")[0]
        stored = {row["event_id"] for row in warehouse.query("SELECT DISTINCT event_id FROM session_events")}
    wanted = set(emitted_ids)
    return {"rows": int(rows["n"]), "distinct_event_ids": int(rows["d"]),
            "missing": len(wanted - stored), "unexpected": len(stored - wanted)}


def drop_topics(bootstrap: str, tag: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        ours = [name for name in admin.list_topics() if tag in name]
        if ours:
            admin.delete_topics(ours)
    finally:
        admin.close()


def run(args: argparse.Namespace) -> dict:
    tag = uuid.uuid4().hex[:8]
    scratch = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    settings = load_settings(
        state_dir=scratch / "state", bootstrap_servers=args.bootstrap, partitions=args.partitions,
        session_topic=f"bench-e2e-{tag}", ops_topic=f"bench-e2e-ops-{tag}",
        dead_letter_topic=f"bench-e2e-dead-{tag}", clickhouse_url=None, clickhouse_path=None)
    settings.state_dir.mkdir(parents=True)
    ensure_topics(args.bootstrap, ledger_topics(settings))
    count = int(args.rate * args.duration)
    open_private_worker_api()
    worker = WorkerProcess(settings, web_port=free_port(), store="rocksdb",
                           heartbeat_timeout_s=10 ** 7, reservation_timeout_s=10 ** 7,
                           timeout_check_interval_s=3600)
    sink = sink_process(settings, settings.state_dir / "sink.log")
    admin = KafkaAdminClient(bootstrap_servers=args.bootstrap)
    result: dict = {"stage": "e2e", "rate_events_s": args.rate, "duration_s": args.duration,
                    "partitions": args.partitions}
    try:
        try:
            started = time.monotonic()
            worker.start()
            sink.start()
            events = realistic_sessions(count)
            result["generate_s"] = round(time.monotonic() - started, 1)
            worker.wait_ready(timeout_s=180)
            result["worker_ready_s"] = round(time.monotonic() - started, 1)
            wait_until(lambda: _sink_ready(sink, admin, settings), timeout_s=180, interval_s=0.5,
                       what="the sink owning every partition")
            result["sink_joined_s"] = round(time.monotonic() - started, 1)
            result.update(measure(args, settings, worker, sink, admin, events))
        finally:
            admin.close()
            worker.stop(grace_s=10.0)  # a Faust worker may ignore SIGTERM while it starts
            result["sink_exit_code"] = sink.stop()
        result["history"] = history_check(settings, result["emitted_ids"])
    finally:
        if args.keep_state or not result.get("drained", True):
            result["state_kept_in"] = str(scratch)  # the worker's and the sink's logs, for a look
            print(f"state kept in {scratch}", file=sys.stderr)
        else:
            shutil.rmtree(scratch, ignore_errors=True)
        if not args.keep_topics:
            drop_topics(args.bootstrap, tag)
    emitted_ids = result.pop("emitted_ids", [])
    history = result["history"]
    history["exactly_once"] = (history["rows"] == len(emitted_ids) == history["distinct_event_ids"]
                               and history["missing"] == 0 and history["unexpected"] == 0)
    visible = result["visible_lag"]
    result["targets"] = {
        f"p99 emit->visible lag < {TARGET_P99_MS:.0f} ms at {args.rate:,.0f} events/s":
            visible["p99_ms"] is not None and visible["missed"] == 0 and visible["p99_ms"] < TARGET_P99_MS,
        f"achieved emit rate >= {TARGET_RATE_SHARE:.0%} of {args.rate:,.0f} events/s":
            result["achieved_rate_events_s"] >= TARGET_RATE_SHARE * args.rate,
        "history rows == events emitted, each exactly once": history["exactly_once"],
    }
    return result


def _sink_ready(sink: ChildProcess, admin: KafkaAdminClient, settings: Settings) -> bool:
    if not sink.alive():
        raise RuntimeError(f"the sink exited before joining its group; its log ends with:\n{sink.log_tail()}")
    return sink_owns(admin, settings.session_topic, settings.partitions)


def measure(args, settings: Settings, worker: WorkerProcess, sink: ChildProcess, admin: KafkaAdminClient,
            events: list[SessionEvent]) -> dict:
    from streams.emit.emitter import SessionEmitter

    partitions = [TopicPartition(settings.session_topic, p) for p in range(settings.partitions)]
    monitor = Monitor(admin, partitions, worker, sink, args.offsets_every)
    prober = Prober(worker.web_port, args.poll_ms / 1000, args.give_up)
    emitter = SessionEmitter.from_settings(settings, producer="bench-e2e")
    monitor.start()
    prober.start()
    time.sleep(max(args.offsets_every, 0.3))  # a first reading of every counter before the clock starts
    folded_before = monitor.folded_total()
    try:
        emitted_at, emit_s = emit_at_rate(emitter, events, args.rate, prober, args.probe_every)
        emitter.flush(60)
        emitter_stats = emitter.stats
    finally:
        emitter.close()
        prober.emitting_done.set()
    first_emit = emitted_at[0]
    total = len(events)
    drained = _wait_for_drain(monitor, folded_before + total, total, sink, worker, args.drain_timeout)
    prober.join(args.give_up + 10)
    monitor.stopping.set()
    monitor.join(10)
    folded_at = first_time(monitor.folded, folded_before + total) or last_change(monitor.folded)
    committed_series = [(t, sum(_latest(monitor.committed, t).values())) for t in _all_times(monitor)]
    committed_at = first_time(committed_series, total) or last_change(committed_series)
    emitted_ids = [str(event.event_id) for event in events]
    positions, log_messages = log_positions(args.bootstrap, settings.session_topic, settings.partitions)
    lags, never = history_lags(emitted_ids, emitted_at, positions, monitor.committed)
    folded = monitor.folded_total() - folded_before
    return {
        "emitted": total,
        "emit_s": round(emit_s, 2),
        "achieved_rate_events_s": per_second(total, emit_s),
        "emitter": {"acked": emitter_stats.acked, "spooled": emitter_stats.spooled,
                    "failed": emitter_stats.failed},
        "drained": drained,
        "visible_lag": {
            "method": f"GET /sessions/{{id}} until last_seq >= the probe's seq; every {args.probe_every}th "
                      f"event a probe, polled every {args.poll_ms:g} ms",
            **percentiles_ms(prober.lags, prober.missed),
            "http_requests": prober.requests, "http_errors": prober.errors,
            "http_throttled": prober.throttled,
        },
        "history_lag": {
            "method": f"the sink's committed offsets read every {args.offsets_every:g} s (tables keep no "
                      "insert time); offset of each event from reading the topic back",
            **percentiles_ms(lags, never),
        },
        "worker": {
            "events_folded": int(folded),
            "folded_events_s": per_second(int(folded), folded_at - first_emit) if folded_at else None,
            "max_backlog_events": max_backlog(emitted_at, monitor.folded, folded_before),
            "peak_rss_mib": round(monitor.peak_kib["worker"] / 1024, 1),
        },
        "sink": {
            "rows_committed": monitor.committed_total(),
            "rows_s": per_second(monitor.committed_total(), committed_at - first_emit) if committed_at else None,
            "max_backlog_events": max_backlog(emitted_at, committed_series, 0),
            "peak_rss_mib": round(monitor.peak_kib["sink"] / 1024, 1),
        },
        "log_messages": log_messages,
        "monitor_failures": {"count": len(monitor.failures), "first": sorted(set(monitor.failures))[:3]},
        "emitted_ids": emitted_ids,
    }


def _wait_for_drain(monitor: Monitor, folded_target: float, committed_target: int, sink: ChildProcess,
                    worker: WorkerProcess, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if monitor.folded_total() >= folded_target and monitor.committed_total() >= committed_target:
            return True
        if not (sink.alive() and worker.alive()):
            return False
        time.sleep(0.1)
    return False


def _all_times(monitor: Monitor) -> list[float]:
    return sorted({t for samples in monitor.committed.values() for t, _ in samples})


def _latest(committed: dict[int, list[tuple[float, int]]], at: float) -> dict[int, int]:
    latest = {}
    for partition, samples in committed.items():
        index = bisect_right([t for t, _ in samples], at)
        latest[partition] = samples[index - 1][1] if index else 0
    return latest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.e2e", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers, HOST:PORT")
    parser.add_argument("--rate", type=float, default=5000, help="events emitted per second (default 5000)")
    parser.add_argument("--duration", type=float, default=30, help="seconds of emitting (default 30)")
    parser.add_argument("--partitions", type=int, default=6, help="partitions of the session topic")
    parser.add_argument("--probe-every", type=int, default=100, help="every Nth event is a probe")
    parser.add_argument("--poll-ms", type=float, default=10, help="how often a pending probe is asked for")
    parser.add_argument("--give-up", type=float, default=30, help="seconds after which a probe counts missed")
    parser.add_argument("--offsets-every", type=float, default=0.1, help="seconds between readings of "
                                                                        "the sink's committed offsets")
    parser.add_argument("--drain-timeout", type=float, default=120, help="seconds to wait for the worker "
                                                                        "and sink to catch up")
    parser.add_argument("--keep-state", action="store_true", help="leave the run's state directory "
                                                                     "(worker and sink logs, chDB); it is "
                                                                     "left anyway when a run does not drain")
    parser.add_argument("--keep-topics", action="store_true", help="leave the run's topics on the broker")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    result = run(args)
    emit_result(result, as_json=args.json)
    return 0 if all(result["targets"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
