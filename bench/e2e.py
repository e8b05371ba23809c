"""The whole pipeline at fixed emit rates: emitter, broker, worker and sink, each in its own process.

    python -m bench.e2e --bootstrap 127.0.0.1:9092 --json                 # 5,000/s for 30 s, 10,000/s for 60 s
    python -m bench.e2e --bootstrap 127.0.0.1:9092 --run 2000:10 --json    # one run: RATE:SECONDS

Each run (``--run RATE:SECONDS``, repeatable) has fresh topics (unique names) and a fresh state
directory: one worker (RocksDB tables) and one history sink (chDB) run as child processes
configured by LEDGER_* variables, as an operator would run them, and so does the emitter: a
child process that generates realistic sessions with the load generator, connects a
``SessionEmitter`` (the shipped defaults), and once the worker's /health says it has recovered
and the sink owns the session topic's partitions, emits at RATE events/s for SECONDS. Measured:

- emit -> visible: every ``--probe-every``-th event is a probe; a prober thread polls
  GET /sessions/{id} (one keep-alive connection; only the oldest pending probe of each
  partition, every ``--poll-ms``: bench/probe.py) until ``last_seq`` reaches the probe's seq.
  Lag is the time from the ``emit`` call's return to the response that showed it (the
  monotonic clock is the same in every process); a probe still unseen after ``--give-up``
  seconds counts as missed.
- emit -> history: the warehouse tables keep no insert time, so the sink's committed offsets
  (group ``ledger-sink``) are read every ``--offsets-every`` seconds. The sink commits only after
  the insert, so an event is in the history no later than the first reading past its offset.
  Each event's partition and offset come from reading the topic back after the run.
- throughput: the achieved emit rate; events folded/s from the worker's
  ``ledger_events_folded_total`` (read once a second: a /metrics scrape counts every key of the
  worker's tables, so scraping faster slows the fold); rows/s from the committed offsets; each
  over the time from the first emit until the last event was folded (or committed), and the
  largest backlog (emitted, not yet folded or committed) seen at any reading.
- CPU: process CPU (user + system) per event emitted, of the emitter (its own reading, from the
  first emit until every event is acknowledged), the worker and the sink (from /proc, from the
  first emit until the reading that saw it had folded, or committed, the last event). The
  worker's includes answering the prober (``worker_http_requests``).
- peak memory of worker and sink: VmHWM of each process from /proc, read while it runs.
- exactly once: once the sink has stopped, its chDB is opened and every event_id compared with
  the emitted ones.

Targets, at every rate: p99 emit -> visible < 1 s, p99 emit -> history < 3 s, the rate achieved
(>= 95 %), and the history holding every emitted event exactly once.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import queue
import shutil
import subprocess
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

from bench.common import (
    cpu_us_per_event,
    emit_result,
    freeze_fixture,
    open_private_worker_api,
    per_second,
    process_cpu_s,
)
from bench.probe import Prober
from ledger.child import ROOT, ChildProcess, settings_env
from ledger.child import wait_until
from ledger.procfs import cpu_seconds, peak_rss_kib
from ledger.stack import free_port
from ledger.worker_process import WorkerProcess
from schemas.batch import decode_batch
from schemas.codec import decode
from schemas.models import SessionEvent
from streams.kafka.partitioner import partition_of
from streams.kafka.topics import ensure_topics, ledger_topics
from streams.settings import Settings, load_settings
from streams.sink.consumer import DEFAULT_GROUP_ID

TARGET_VISIBLE_P99_MS = 1000.0
TARGET_HISTORY_P99_MS = 3000.0
TARGET_RATE_SHARE = 0.95
DEFAULT_RUNS = ("5000:30", "10000:60")
"""RATE:SECONDS of the runs made when no ``--run`` is given."""


# --- the processes ---------------------------------------------------------------------------


def sink_process(settings: Settings, log_path: Path, batch_max_wait_s: float | None = None) -> ChildProcess:
    """``ledger sink`` into this run's own chDB (any LEDGER_CLICKHOUSE* of the caller unset),
    with its default batch wait unless ``batch_max_wait_s`` is given."""
    wait = [] if batch_max_wait_s is None else ["--batch-max-wait", str(batch_max_wait_s)]
    return ChildProcess(["-m", "ledger.cli", "sink", *wait], log_path, env=settings_env(settings),
                        unset=("LEDGER_CLICKHOUSE",))


class EmitterProcess:
    """The emitting side of a run in a child process of its own (``--emitter-child``).

    The child generates its events and connects, prints ``{"ready": N}``, waits for ``go`` on its
    standard input, then emits; each probe is one line ``P number partition session_id seq
    emitted_at`` on its standard output as it is emitted (handed to ``on_probe``), and the last
    line is the JSON of its figures. Every event's id and emit time are in ``out`` (JSON).
    """

    def __init__(self, settings: Settings, rate: float, duration_s: float, probe_every: int,
                 out: Path, log_path: Path, on_probe) -> None:
        self.args = ["-m", "bench.e2e", "--emitter-child", "--bootstrap", settings.bootstrap_servers,
                     "--rate", str(rate), "--duration", str(duration_s),
                     "--probe-every", str(probe_every), "--out", str(out)]
        self.env = {**os.environ, **settings_env(settings)}
        self.out, self.log_path, self.on_probe = out, log_path, on_probe
        self.lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._process: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> EmitterProcess:
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen([sys.executable, *self.args], stdin=subprocess.PIPE,
                                             stdout=subprocess.PIPE, stderr=log, env=self.env, cwd=ROOT,
                                             text=True, bufsize=1, start_new_session=True)
        threading.Thread(target=self._read, name="e2e-emitter-reader", daemon=True).start()
        return self

    def _read(self) -> None:
        for line in self._process.stdout:
            if line.startswith("P "):
                _, number, partition, session_id, seq, at = line.split()
                self.on_probe(int(number), int(partition), session_id, int(seq), float(at))
            else:
                self.lines.put(line)
        self.lines.put(None)

    def _next_json(self, timeout_s: float) -> dict:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise RuntimeError(f"the emitter said nothing for {timeout_s:.0f} s; its log: {self.log_path}")
            if line is None:
                raise RuntimeError(f"the emitter exited (code {self._process.wait()}); its log ends with:\n"
                                   f"{self.log_path.read_text()[-2000:]}")
            if line.startswith("{"):
                return json.loads(line)

    def wait_ready(self, timeout_s: float) -> int:
        """The number of events the child will emit, once it is ready to."""
        return self._next_json(timeout_s)["ready"]

    def go(self) -> None:
        self._process.stdin.write("go\n")
        self._process.stdin.flush()

    def result(self, timeout_s: float) -> tuple[dict, list[str], list[float]]:
        """The child's figures, and each event's id and emit time, once it has emitted them all."""
        figures = self._next_json(timeout_s)
        self._process.wait(timeout=30)
        emitted = json.loads(self.out.read_text())
        return figures, emitted["ids"], emitted["times"]

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=30)


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


EMIT_TICK_S = 0.02
"""The emitting loop wakes at most this often and emits every event due since its last wake.

A game server emits in ticks too (20-60 a second). Waking for each event instead (every
100-200 µs at these rates) cost the emitter process about 28 µs more CPU per event at 5,000
events/s (73.6 against 44.4 µs), all of it in the sleeping and waking, none in the emitter. At
10,000 events/s a 20 ms tick cost the emitter 25.8 µs per event against 28.3 µs for 5 ms
(python -m bench.emit_rate; docs/benchmarks.md): each wake finds the caches cold."""


def emit_at_rate(emitter, events: list[SessionEvent], rate: float, on_probe, probe_every: int,
                 partitions: int, tick_s: float = EMIT_TICK_S) -> tuple[list[float], float]:
    """Emit ``events`` at ``rate`` events/s in ticks of ``tick_s``, calling
    ``on_probe(number, partition, event, at)`` for every ``probe_every``-th; returns each
    event's emit time (when its ``emit`` returned) and the seconds taken."""
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
                on_probe(sent, partition_of(event.session_id, partitions), event, now)
            sent += 1
        wait = began + sent / rate - time.monotonic()
        if wait > 0:  # ahead of the schedule: the next tick (behind it: emit on at once)
            time.sleep(max(wait, tick_s))
    return times, time.monotonic() - began


def emitter_child(args: argparse.Namespace) -> int:
    """The emitting side of a run (see ``EmitterProcess``), configured by LEDGER_* variables."""
    from streams.emit.emitter import SessionEmitter

    settings = load_settings()
    events = realistic_sessions(int(args.rate * args.duration))
    freeze_fixture()  # full collections walking 300,000 pre-built models are the bench's, not the emitter's
    emitter = SessionEmitter.from_settings(settings, producer="bench-e2e")
    print(json.dumps({"ready": len(events)}), flush=True)
    if sys.stdin.readline().strip() != "go":
        emitter.close()
        return 1

    def probe(number: int, partition: int, event: SessionEvent, at: float) -> None:
        print(f"P {number} {partition} {event.session_id} {event.seq} {at!r}", flush=True)

    cpu = process_cpu_s()
    try:
        emitted_at, emit_s = emit_at_rate(emitter, events, args.rate, probe, args.probe_every,
                                          settings.partitions)
        emitter.flush(60)
        acked_s = time.monotonic() - emitted_at[0]
        cpu = process_cpu_s() - cpu
        stats = emitter.stats
    finally:
        emitter.close()
    args.out.write_text(json.dumps({"ids": [str(event.event_id) for event in events], "times": emitted_at}))
    print(json.dumps({
        "emit_s": round(emit_s, 2), "acked_s": round(acked_s, 2), "cpu_s": round(cpu, 3),
        "acked": stats.acked, "spooled": stats.spooled, "failed": stats.failed,
        "compression": emitter.compression,
    }), flush=True)
    return 0


# --- watching the worker's metrics and the sink's commits ------------------------------------


class Monitor(threading.Thread):
    """Samples committed offsets of the sink, the worker's folded count and both processes'
    VmHWM; reads each process's CPU when it starts (``start_cpu``) and when it is done."""

    def __init__(self, admin: KafkaAdminClient, partitions: list[TopicPartition], worker: WorkerProcess,
                 sink: ChildProcess, offsets_every_s: float, metrics_every_s: float = 1.0) -> None:
        super().__init__(name="e2e-monitor", daemon=True)
        self.admin, self.partitions, self.worker, self.sink = admin, partitions, worker, sink
        self.offsets_every_s, self.metrics_every_s = offsets_every_s, metrics_every_s
        self.committed: dict[int, list[tuple[float, int]]] = {tp.partition: [] for tp in partitions}
        self.folded: list[tuple[float, float]] = []
        self.peak_kib = {"worker": 0, "sink": 0}
        self.cpu_from: dict[str, float] = {}
        self.cpu_s: dict[str, float] = {}
        """CPU seconds each process used from ``start_cpu`` until it was seen done."""
        self.done_at = {"worker": math.inf, "sink": math.inf}
        self.failures: list[str] = []
        self.stopping = threading.Event()

    def start_cpu(self, folded_target: float, committed_target: int) -> None:
        """Read each process's CPU now; read it again when the worker has folded
        ``folded_target`` events in all, or the sink has committed ``committed_target``."""
        self.cpu_from = {"worker": cpu_seconds(self.worker.pid), "sink": cpu_seconds(self.sink.pid)}
        self.done_at = {"worker": folded_target, "sink": committed_target}

    def run(self) -> None:
        next_metrics = 0.0
        while not self.stopping.is_set():
            began = time.monotonic()
            self._sample_offsets()
            if began >= next_metrics:
                next_metrics = began + self.metrics_every_s
                self._sample_metrics()
            self._read_cpu_when_done()
            self.stopping.wait(max(0.0, began + self.offsets_every_s - time.monotonic()))

    def committed_total(self) -> int:
        return sum(samples[-1][1] for samples in self.committed.values() if samples)

    def folded_total(self) -> float:
        return self.folded[-1][1] if self.folded else 0.0

    def _read_cpu_when_done(self) -> None:
        for name, process, total in (("worker", self.worker, self.folded_total()),
                                     ("sink", self.sink, self.committed_total())):
            if name in self.cpu_from and name not in self.cpu_s and total >= self.done_at[name]:
                self.cpu_s[name] = cpu_seconds(process.pid) - self.cpu_from[name]

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


# --- reading the results ---------------------------------------------------------------------


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
                messages += len(records)
                for record, event_id in zip(records, _event_ids([r.value for r in records])):
                    positions.setdefault(event_id, (tp.partition, record.offset))
        return positions, messages
    finally:
        consumer.close()


def _event_ids(values: list[bytes]) -> list[str]:
    """The event_id of each value, in order (the batch decoder's, unless some value is no
    session event: then each is decoded on its own)."""
    decoded = decode_batch(values)
    if len(decoded.sessions) == len(values):
        return [record.event_id for record in decoded.sessions]
    return [str(decode(value).event_id) for value in values]


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


# --- one run, and all of them ----------------------------------------------------------------


def run_once(args: argparse.Namespace, rate: float, duration_s: float) -> dict:
    """One run at ``rate`` events/s for ``duration_s`` seconds, on its own topics and state."""
    tag = uuid.uuid4().hex[:8]
    scratch = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    settings = load_settings(
        state_dir=scratch / "state", bootstrap_servers=args.bootstrap, partitions=args.partitions,
        session_topic=f"bench-e2e-{tag}", ops_topic=f"bench-e2e-ops-{tag}",
        dead_letter_topic=f"bench-e2e-dead-{tag}", clickhouse_url=None, clickhouse_path=None)
    settings.state_dir.mkdir(parents=True)
    ensure_topics(args.bootstrap, ledger_topics(settings))
    open_private_worker_api()
    worker = WorkerProcess(settings, web_port=free_port(), store="rocksdb",
                           heartbeat_timeout_s=10 ** 7, reservation_timeout_s=10 ** 7,
                           timeout_check_interval_s=3600)
    sink = sink_process(settings, settings.state_dir / "sink.log", args.sink_batch_max_wait)
    prober = Prober(worker.web_port, args.poll_ms / 1000, args.give_up, partitions=args.partitions)
    emitter = EmitterProcess(settings, rate, duration_s, args.probe_every, scratch / "emitted.json",
                             settings.state_dir / "emitter.log",
                             on_probe=lambda n, _p, session_id, seq, at: prober.add(n, session_id, seq, at))
    admin = KafkaAdminClient(bootstrap_servers=args.bootstrap)
    result: dict = {"rate_events_s": rate, "duration_s": duration_s, "partitions": args.partitions,
                    "sink_batch_max_wait_s": args.sink_batch_max_wait or "default"}
    try:
        try:
            started = time.monotonic()
            worker.start()
            sink.start()
            emitter.start()
            result["events"] = emitter.wait_ready(timeout_s=300)
            result["generate_s"] = round(time.monotonic() - started, 1)
            worker.wait_ready(timeout_s=180)
            result["worker_ready_s"] = round(time.monotonic() - started, 1)
            wait_until(lambda: _sink_ready(sink, admin, settings), timeout_s=180, interval_s=0.5,
                       what="the sink owning every partition")
            result["sink_joined_s"] = round(time.monotonic() - started, 1)
            result.update(measure(args, settings, worker, sink, emitter, prober, admin, result["events"],
                                  duration_s))
        finally:
            emitter.stop()
            admin.close()
            worker.stop(grace_s=10.0)  # a Faust worker may ignore SIGTERM while it starts
            result["sink_exit_code"] = sink.stop()
        result["history"] = history_check(settings, result["emitted_ids"])
    finally:
        if args.keep_state or not result.get("drained", True):
            result["state_kept_in"] = str(scratch)  # the logs of the processes, the chDB
            print(f"state kept in {scratch}", file=sys.stderr)
        else:
            shutil.rmtree(scratch, ignore_errors=True)
        if not args.keep_topics:
            drop_topics(args.bootstrap, tag)
    emitted_ids = result.pop("emitted_ids", [])
    history = result["history"]
    history["exactly_once"] = (history["rows"] == len(emitted_ids) == history["distinct_event_ids"]
                               and history["missing"] == 0 and history["unexpected"] == 0)
    result["targets"] = run_targets(result, rate)
    return result


def run_targets(result: dict, rate: float) -> dict[str, bool]:
    visible, history = result["visible_lag"], result["history_lag"]
    at = f"at {rate:,.0f} events/s"
    return {
        f"p99 emit->visible lag < {TARGET_VISIBLE_P99_MS:,.0f} ms {at}":
            visible["p99_ms"] is not None and visible["missed"] == 0 and visible["p99_ms"] < TARGET_VISIBLE_P99_MS,
        f"p99 emit->history lag < {TARGET_HISTORY_P99_MS:,.0f} ms {at}":
            history["p99_ms"] is not None and history["missed"] == 0 and history["p99_ms"] < TARGET_HISTORY_P99_MS,
        f"achieved emit rate >= {TARGET_RATE_SHARE:.0%} of {rate:,.0f} events/s":
            result["achieved_rate_events_s"] >= TARGET_RATE_SHARE * rate,
        f"history rows == events emitted, each exactly once {at}": result["history"]["exactly_once"],
    }


def _sink_ready(sink: ChildProcess, admin: KafkaAdminClient, settings: Settings) -> bool:
    if not sink.alive():
        raise RuntimeError(f"the sink exited before joining its group; its log ends with:\n{sink.log_tail()}")
    return sink_owns(admin, settings.session_topic, settings.partitions)


def measure(args, settings: Settings, worker: WorkerProcess, sink: ChildProcess, emitter: EmitterProcess,
            prober: Prober, admin: KafkaAdminClient, events: int, duration_s: float) -> dict:
    """Emit ``events`` (the emitter is ready), wait for the worker and the sink to catch up, and
    measure (see the module doc)."""
    partitions = [TopicPartition(settings.session_topic, p) for p in range(settings.partitions)]
    monitor = Monitor(admin, partitions, worker, sink, args.offsets_every)
    monitor.start()
    prober.start()
    time.sleep(max(args.offsets_every, 1.2))  # a first reading of every counter before the clock starts
    folded_before = monitor.folded_total()
    monitor.start_cpu(folded_before + events, events)
    emitter.go()
    try:
        emitted, emitted_ids, emitted_at = emitter.result(timeout_s=duration_s + 180)
    finally:
        prober.emitting_done.set()
    total = len(emitted_ids)
    first_emit = emitted_at[0]
    drained = _wait_for_drain(monitor, folded_before + total, total, sink, worker, args.drain_timeout)
    prober.join(args.give_up + 10)
    monitor.stopping.set()
    monitor.join(10)
    folded_at = first_time(monitor.folded, folded_before + total) or last_change(monitor.folded)
    committed_series = [(t, sum(_latest(monitor.committed, t).values())) for t in _all_times(monitor)]
    committed_at = first_time(committed_series, total) or last_change(committed_series)
    positions, log_messages = log_positions(args.bootstrap, settings.session_topic, settings.partitions)
    lags, never = history_lags(emitted_ids, emitted_at, positions, monitor.committed)
    folded = monitor.folded_total() - folded_before
    cpu = {"emitter": emitted["cpu_s"], **monitor.cpu_s}
    return {
        "emitted": total,
        "emit_s": emitted["emit_s"],
        "achieved_rate_events_s": per_second(total, emitted["emit_s"]),
        "emitter": {key: emitted[key] for key in ("acked", "spooled", "failed", "acked_s", "compression")},
        "drained": drained,
        "cpu_us_per_event": {name: cpu_us_per_event(seconds, total) for name, seconds in cpu.items()},
        "visible_lag": {
            "method": f"GET /sessions/{{id}} until last_seq >= the probe's seq; every {args.probe_every}th "
                      f"event a probe; the oldest pending probe of each partition asked for every "
                      f"{args.poll_ms:g} ms",
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


def run(args: argparse.Namespace) -> dict:
    """Every run of ``args.runs`` in turn; the CPU per event of the fastest rate is the stage's."""
    result: dict = {"stage": "e2e"}
    targets: dict[str, bool] = {}
    for rate, duration_s in args.runs:
        figures = run_once(args, rate, duration_s)
        targets.update(figures.pop("targets"))
        result[f"at_{rate:g}"] = figures
    fastest = max(args.runs)[0]
    result["cpu_us_per_event"] = dict(result[f"at_{fastest:g}"].get("cpu_us_per_event", {}))
    result["cpu_measured_at_events_s"] = fastest
    result["targets"] = targets
    return result


def parse_run(text: str) -> tuple[float, float]:
    """``RATE:SECONDS`` (events/s, seconds of emitting), both positive."""
    rate, sep, seconds = text.partition(":")
    try:
        parsed = float(rate), float(seconds)
    except ValueError:
        parsed = None
    if not sep or parsed is None or min(parsed) <= 0:
        raise argparse.ArgumentTypeError(f"expected RATE:SECONDS such as 10000:60, got {text!r}")
    return parsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.e2e", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers, HOST:PORT")
    parser.add_argument("--run", dest="runs", action="append", type=parse_run, metavar="RATE:SECONDS",
                        help="emit RATE events/s for SECONDS (repeatable; default: "
                             f"{' and '.join(DEFAULT_RUNS)})")
    parser.add_argument("--partitions", type=int, default=6, help="partitions of the session topic")
    parser.add_argument("--probe-every", type=int, default=100, help="every Nth event is a probe")
    parser.add_argument("--poll-ms", type=float, default=20,
                        help="how often the oldest pending probe of a partition is asked for")
    parser.add_argument("--give-up", type=float, default=30, help="seconds after which a probe counts missed")
    parser.add_argument("--offsets-every", type=float, default=0.1, help="seconds between readings of "
                                                                        "the sink's committed offsets")
    parser.add_argument("--drain-timeout", type=float, default=120, help="seconds to wait for the worker "
                                                                        "and sink to catch up")
    parser.add_argument("--sink-batch-max-wait", type=float, metavar="SECONDS",
                        help="the sink's --batch-max-wait (default: the sink's own default)")
    parser.add_argument("--keep-state", action="store_true", help="leave each run's state directory "
                                                                     "(the logs of emitter, worker and "
                                                                     "sink, chDB); it is left anyway "
                                                                     "when a run does not drain")
    parser.add_argument("--keep-topics", action="store_true", help="leave the runs' topics on the broker")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--emitter-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--duration", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.emitter_child:
        return emitter_child(args)
    args.runs = args.runs or [parse_run(text) for text in DEFAULT_RUNS]
    result = run(args)
    emit_result(result, as_json=args.json)
    return 0 if all(result["targets"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
