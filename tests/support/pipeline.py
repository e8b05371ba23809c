"""The whole pipeline as real processes, for end-to-end fault stories.

`ledger worker` and `ledger sink` run as children (``python -m ledger.cli ...``) in process
groups of their own, configured only by LEDGER_* variables; the story emits through
``SessionEmitter`` and produces anything odd (poison, duplicates, shuffled sessions) with a bare
producer. After the story, three checks read what the pipeline made of it: the history in chDB,
the projections the worker serves against a rebuild from the log, and the dead-letter topic.
"""
from __future__ import annotations

import json
import logging
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from ledger.child import ChildProcess, settings_env
from ledger.worker_process import WorkerProcess
from schemas.codec import MARKER, encode
from schemas.models import SessionEvent
from streams.settings import Settings
from streams.sink.consumer import DEFAULT_GROUP_ID
from tests.support.factories import invalid_avro_heartbeat, session_event, session_script
from tests.support.history import committed

QUIET_S = 3600
"""Heartbeat timeout of the workers under test: no session of a story times out while it runs."""

log = logging.getLogger("tests.support.pipeline")


# --- processes ---------------------------------------------------------------------------------


class Worker(WorkerProcess):
    """`ledger worker` (the command line) on a port of its own, probed over its HTTP API."""

    def __init__(self, settings: Settings, web_port: int, home: Path) -> None:
        super().__init__(settings, web_port=web_port, worker_id="fault-worker", log_path=home / "worker.log")
        self.args = [
            "-m", "ledger.cli", "worker", "--web-port", str(web_port), "--worker-id", "fault-worker",
            "--store", "rocksdb", "--heartbeat-timeout", str(QUIET_S),
            "--reservation-timeout", str(QUIET_S), "--spike-threshold", "100000",
            "--loglevel", "info",
        ]
        self.env["LEDGER_API_MAX_REQUESTS_PER_S"] = "100000"  # the checks ask for every key

    def seconds_to_ready(self, timeout_s: float = 120.0) -> float:
        """Seconds until the worker answers healthy with every partition of the session topic."""
        started = time.monotonic()
        self.wait_ready(timeout_s, partitions=set(range(self.settings.partitions)))
        return time.monotonic() - started

    def folded(self) -> float:
        """Session events this run of the worker applied (its /metrics counter)."""
        try:
            status, text = self.get("/metrics", timeout_s=2.0)
        except (OSError, ValueError):
            return 0.0
        for line in text.splitlines() if status == 200 else ():
            if line.startswith('ledger_events_folded_total{outcome="applied"}'):
                return float(line.split()[-1])
        return 0.0


class Sink(ChildProcess):
    """`ledger sink` in its default consumer group, with small batches so a story sees many commits."""

    group = DEFAULT_GROUP_ID

    def __init__(self, settings: Settings, home: Path) -> None:
        super().__init__(["-m", "ledger.cli", "sink", "--batch-max-events", "2000", "--batch-max-wait", "0.5"],
                         home / "sink.log", env=settings_env(settings))
        self.settings = settings


# --- the traffic of a story --------------------------------------------------------------------


def sessions(count: int, *, seed: int) -> list[list[SessionEvent]]:
    """``count`` scripted sessions of a few players, regions and platforms, starting a minute ago."""
    rng = random.Random(seed)
    now = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=60)
    tag = uuid.uuid4().hex[:6]
    return [
        session_script(
            player_id=f"player-{tag}-{n % 40}", start=now + timedelta(seconds=n % 11),
            heartbeats=rng.randint(2, 12), end=rng.choice(["normal", "quit", "kicked", None]),
            disconnect_and_reconnect=rng.random() < 0.3, migrate=rng.random() < 0.2,
            region=rng.choice(["eu-west", "us-east", "ap-northeast"]),
            platform=rng.choice(["pc", "playstation", "xbox", "ios", "android"]),
            cross_play=rng.random() < 0.5,
        )
        for n in range(count)
    ]


def interleave(scripts: list[list[SessionEvent]], *, seed: int) -> list[SessionEvent]:
    """The events of every script, sessions interleaved at random, each session in seq order."""
    rng = random.Random(seed)
    cursors = [0] * len(scripts)
    open_ = [i for i, s in enumerate(scripts) if s]
    events = []
    while open_:
        i = rng.choice(open_)
        events.append(scripts[i][cursors[i]])
        cursors[i] += 1
        if cursors[i] == len(scripts[i]):
            open_.remove(i)
    return events


def shuffled_within_sessions(scripts: list[list[SessionEvent]], *, seed: int) -> list[SessionEvent]:
    """Each session's events in a shuffled seq order (never the sorted one), sessions interleaved."""
    rng = random.Random(seed)
    shuffled = []
    for script in scripts:
        order = list(script)
        while len(order) > 1 and [e.seq for e in order] == sorted(e.seq for e in order):
            rng.shuffle(order)
        shuffled.append(order)
    return interleave(shuffled, seed=seed)


@dataclass(frozen=True)
class Poison:
    value: bytes
    reason: str
    """The code the readers give it (schemas.errors ``code``)."""


def poison_messages(count: int, *, seed: int) -> list[Poison]:
    """Random bytes, an unknown fingerprint and valid Avro that breaks the contract, in turn."""
    rng = random.Random(seed)
    made = []
    for n in range(count):
        kind = n % 3
        if kind == 0:
            made.append(Poison(bytes([rng.randrange(0, 0xC3)]) + rng.randbytes(rng.randint(20, 80)),
                               "bad_marker"))
        elif kind == 1:
            body = encode(session_event("heartbeat"))[len(MARKER) + 8:]
            made.append(Poison(MARKER + rng.randbytes(8) + body, "unknown_fingerprint"))
        else:
            made.append(Poison(invalid_avro_heartbeat(), "invalid_event"))
    return made


def raw_producer(settings: Settings) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all", linger_ms=5)


def produce_raw(producer: KafkaProducer, topic: str, items: list[tuple[bytes, bytes]]) -> None:
    for key, value in items:
        producer.send(topic, key=key, value=value)
    producer.flush(timeout=60)


def paced(items: list, per_second: float, send: Callable[[Any], None],
          between: Callable[[int], None] | None = None) -> None:
    """``send`` each item at ``per_second``; ``between(n)`` is called after every 50th."""
    start = time.monotonic()
    for n, item in enumerate(items):
        send(item)
        if n % 50 == 49:
            if between is not None:
                between(n + 1)
            time.sleep(max(0.0, start + (n + 1) / per_second - time.monotonic()))


# --- reading what the pipeline made ------------------------------------------------------------


def read_topic(settings: Settings, topic: str, timeout_s: float = 60.0) -> list[Any]:
    """Every record of ``topic`` from its first offset to its end now, in partition-offset order."""
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False,
                             group_id=None)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        records: list[Any] = []
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise AssertionError(f"could not read {topic} to its end in {timeout_s:.0f}s")
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(r for r in batch if r.offset < ends[TopicPartition(topic, r.partition)])
        records.sort(key=lambda r: (r.partition, r.offset))
        return records
    finally:
        consumer.close()


def end_offsets(settings: Settings, topics: tuple[str, ...]) -> dict[TopicPartition, int]:
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers)
    try:
        tps = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
        return dict(consumer.end_offsets(tps))
    finally:
        consumer.close()


def sink_caught_up(settings: Settings) -> bool:
    """The sink's group has committed the end of every non-empty partition it reads."""
    topics = (settings.session_topic, settings.ops_topic)
    ends = {tp: end for tp, end in end_offsets(settings, topics).items() if end}
    done = committed(settings, Sink.group, topics)
    return all(done.get(tp, -1) >= end for tp, end in ends.items())


# --- the three checks ---------------------------------------------------------------------------


def history_figures(settings: Settings, emitted_ids: set[str]) -> dict[str, int]:
    """Rows of the ledger's history against the events emitted (read after the sink stopped)."""
    from analytics.warehouse import ChdbWarehouse

    with ChdbWarehouse(settings.chdb_path) as warehouse:
        row = warehouse.query("SELECT uniqExact(event_id) AS ids, count() AS n FROM session_events FINAL")[0]
        stored = {r["event_id"] for r in warehouse.query("SELECT DISTINCT toString(event_id) AS event_id "
                                                         "FROM session_events")}
    return {"rows": row["n"], "distinct_event_ids": row["ids"], "lost": len(emitted_ids - stored),
            "unexpected": len(stored - emitted_ids), "duplicate_rows": row["n"] - row["ids"]}


def projection_mismatches(worker: Worker, rebuilt: dict[str, Any], timeout_s: float = 90.0) -> list[tuple]:
    """``(kind/key, rebuilt, served)`` of each session and player the worker serves differently
    from the rebuild, once it had ``timeout_s`` to catch up."""
    pending = [("sessions", k, v, None) for k, v in rebuilt["sessions"].items()]
    pending += [("players", k, v, None) for k, v in rebuilt["players"].items()]
    deadline = time.monotonic() + timeout_s
    while pending and time.monotonic() < deadline:
        still = []
        for kind, key, wanted, _ in pending:
            try:
                status, body = worker.get(f"/{kind}/{key}")
            except (OSError, ValueError):
                status, body = None, None
            if status != 200 or body != wanted:
                still.append((kind, key, wanted, body))
        pending = still
        if pending:
            time.sleep(0.5)
    return [(f"{kind}/{key}", wanted, served) for kind, key, wanted, served in pending]


@dataclass
class DeadLetterFigures:
    letters: int = 0
    by_writer: dict[str, int] = field(default_factory=dict)
    repeated: int = 0
    """Letters beyond the first per (writer, source offset): a crash made a reader see it again."""
    problems: list[str] = field(default_factory=list)


def dead_letter_figures(settings: Settings, poison: list[Poison]) -> DeadLetterFigures:
    """Compare the dead-letter topic with the poison produced to the session topic.

    Two readers dead-letter what they cannot decode, the worker and the sink, with the same
    headers (``reason`` = the error's code, ``detected_by`` = which of them). Each poison message
    must be there from each of them, with its original bytes, and nothing else may be.
    """
    wanted = {p.value: p.reason for p in poison}
    positions = {r.value: (r.partition, r.offset) for r in read_topic(settings, settings.session_topic)
                 if r.value in wanted}
    figures = DeadLetterFigures()
    seen: dict[tuple[str, int, int], int] = {}
    for record in read_topic(settings, settings.dead_letter_topic):
        headers = {k: v.decode() for k, v in record.headers or ()}
        writer = headers.get("detected_by", "?")
        code = headers.get("reason")
        figures.letters += 1
        figures.by_writer[writer] = figures.by_writer.get(writer, 0) + 1
        if record.value not in wanted:
            figures.problems.append(f"{writer} dead-lettered a message that is not poison: {record.value[:20]!r}")
            continue
        if code != wanted[record.value]:
            figures.problems.append(f"{writer} gave reason {code!r}, expected {wanted[record.value]!r}")
        where = (int(headers["source_partition"]), int(headers["source_offset"]))
        if headers.get("source_topic") != settings.session_topic or where != positions[record.value]:
            figures.problems.append(f"{writer} names {headers.get('source_topic')}{where}, the message "
                                    f"is at {settings.session_topic}{positions[record.value]}")
        seen[(writer, *where)] = seen.get((writer, *where), 0) + 1
    figures.repeated = sum(n - 1 for n in seen.values())
    for writer in ("worker", "sink"):
        missing = {positions[p.value] for p in poison} - {w[1:] for w in seen if w[0] == writer}
        if missing:
            figures.problems.append(f"{writer} did not dead-letter {len(missing)} poison message(s)")
    return figures


def report(tmp_path: Path, name: str, figures: dict[str, Any]) -> None:
    """Print a story's figures, log them, and keep them as JSON beside the test's files."""
    text = json.dumps(figures, indent=2, sort_keys=True, default=str)
    (tmp_path / f"{name}.json").write_text(text)
    log.warning("%s figures: %s", name, text)
    print(f"\n{name}: {text}", flush=True)
