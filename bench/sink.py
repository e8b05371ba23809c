"""How fast the history sink fills chDB, beside a bare insert of the same events, and how fast the
reports read a 10-million-event history.

    python -m bench.sink --bootstrap 127.0.0.1:9092 --events 500000 --json

1. ``sink``: a fresh topic is pre-filled with ``--events`` encoded session events; a
   ``HistorySink`` reads it into a fresh chDB until every event is a row (librdkafka consumer,
   ``BatchDecoder.decode_rows``, one columnar insert per table per batch). Timed from the first
   message read (the group join is reported apart) to the last batch committed.
2. ``bare``: the limit of the parts: the same encoded bytes, already in memory, decoded record
   by record with bare fastavro ``schemaless_reader`` (writer schema from the fingerprint), each
   record flattened to the row and inserted the same way in batches of the same size, into
   another fresh chDB. No project decode, no validation, no Kafka, polling or commits.
3. ``reports``: ``--history-events`` synthetic events (and 300 incidents with their deploys)
   generated inside ClickHouse with ``INSERT ... SELECT FROM numbers()`` (bench/sink_history_*.sql),
   then every report of ``analytics.reports`` run twice; both timings are kept.

Both report rows/s and process CPU µs per row (user + system of this process, chDB's and
librdkafka's threads included): steadier than wall time on a shared machine. The result's
``cpu_us_per_event`` holds both CPU figures (``{"sink": ..., "bare": ...}``) for the cores-needed
table of the suite; ``cpu_ratio`` is bare over sink (above 1: the sink is the cheaper).

With ``--erasures N`` the sink writes with N erased players in force (``player-0`` ..
``player-{N-1}`` of the 50,000, so N / 50,000 of the rows are anonymised); ``--erasures 0`` an
eraser that knows none; without it, none at all (the sink with no erasure support in its path).

Targets: sink/bare >= 0.8, sink >= 100,000 rows/s, sink <= 10 µs CPU per row, every report
< 2 s at 10 million events.
"""
from __future__ import annotations

import argparse
import io
import json
import resource
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from fastavro import schemaless_reader
from kafka import KafkaProducer

from analytics.migrate import migrate
from analytics.reports import REPORTS, run_report
from analytics.rows import SESSION_EVENT_COLUMNS
from analytics.warehouse import ChdbWarehouse
from projections.erasure import ErasedPlayers, Erasure
from schemas.catalogue import default_catalogue
from schemas.codec import HEADER_BYTES, encode
from schemas.models import SessionEvent
from streams.kafka.topics import ensure_topics
from streams.settings import load_settings
from streams.sink.consumer import HistorySink

HERE = Path(__file__).parent
BASE = datetime(2025, 3, 1, tzinfo=timezone.utc)
TARGET_RATIO, TARGET_ROWS_S, TARGET_REPORT_S, TARGET_CPU_US = 0.8, 100_000, 2.0, 10.0
_SCRIPT = (["requested", "started"] + ["heartbeat"] * 7 + ["ended"])
_PAYLOADS = {
    "requested": {"game_mode": "ranked"},
    "started": {"server_id": "gs-1", "game_mode": "ranked", "queue_ms": 1500},
    "heartbeat": {"latency_ms": 45, "packet_loss_pct": 0.3},
    "ended": {"reason": "normal"},
}


def encoded_events(count: int) -> list[bytes]:
    """``count`` encoded events of sessions of 10 (requested, started, 7 heartbeats, ended)."""
    out: list[bytes] = []
    session = 0
    while len(out) < count:
        session_id = str(uuid.uuid4())
        start = BASE + timedelta(seconds=session)
        for seq, event_type in enumerate(_SCRIPT[: count - len(out)], start=1):
            out.append(encode(SessionEvent.model_validate({
                "event_id": str(uuid.uuid4()), "session_id": session_id,
                "player_id": f"player-{session % 50_000}", "seq": seq,
                "occurred_at": start + timedelta(seconds=10 * seq), "producer": "bench",
                "platform": ("pc", "xbox", "ios")[session % 3], "region": "eu-west",
                "build": "1.0.0", "cross_play": True, "input_method": "controller",
                "event_type": event_type, "payload": _PAYLOADS[event_type],
            })))
        session += 1
    return out


def fill_topic(bootstrap: str, topic: str, messages: list[bytes]) -> float:
    started = time.perf_counter()
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20,
                             batch_size=512 * 1024)
    for number, value in enumerate(messages):
        producer.send(topic, key=str(number // 10).encode(), value=value)
    producer.flush()
    producer.close()
    return time.perf_counter() - started


class KnownErasures:
    """A sink's eraser that knows ``count`` erasures from the start and learns none."""

    def __init__(self, count: int) -> None:
        self.erased = ErasedPlayers(erasures=[Erasure.new(f"player-{n}") for n in range(count)])

    def run_due(self) -> int:
        return 0


def bench_sink(bootstrap: str, topic: str, expected: int, path: Path, batch: int,
               check_crcs: bool = True, erasures: int | None = None) -> dict:
    with ChdbWarehouse(path) as warehouse:
        migrate(warehouse)
        sink = HistorySink(bootstrap=bootstrap, topics=[topic], warehouse=warehouse,
                           dead_letters=lambda message, error: None,
                           eraser=None if erasures is None else KnownErasures(erasures),
                           group_id=f"bench-sink-{uuid.uuid4().hex[:8]}",
                           batch_max_events=batch, batch_max_wait_s=1.0,
                           consumer_config={"check_crcs": check_crcs})
        created = time.monotonic()
        cpu_before = cpu_s()
        while sink.stats.rows < expected or sink._slices:
            sink.poll_once()
        cpu = cpu_s() - cpu_before
        first_read = sink.stats.first_read_at
        elapsed = time.monotonic() - first_read
        sink.close()
        stored = warehouse.query("SELECT count() AS n FROM session_events")[0]["n"]
    return {"rows": sink.stats.rows, "stored": stored, "seconds": round(elapsed, 3),
            "rows_per_s": round(sink.stats.rows / elapsed), "batches": sink.stats.batches,
            "group_join_s": round(first_read - created, 3),
            "erasures": erasures, "anonymised_rows": sink.stats.anonymised_rows,
            "cpu_us_per_row": round(cpu / sink.stats.rows * 1e6, 2)}


def cpu_s() -> float:
    """User + system CPU seconds of this process so far (all its threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


_ENVELOPE = ("event_id", "session_id", "player_id", "seq", "occurred_at", "producer", "platform",
             "region", "build", "cross_play", "input_method")
_TAIL = ("trace_id", "party_id", "event_type")
_PAYLOAD_COLUMN = {"reason": None, "game_mode": "game_mode", "matchmaking_ticket": "matchmaking_ticket",
                   "server_id": "server_id", "queue_ms": "queue_ms", "latency_ms": "latency_ms",
                   "packet_loss_pct": "packet_loss_pct", "downtime_ms": "downtime_ms",
                   "from_server_id": "from_server_id", "to_server_id": "to_server_id",
                   "last_heartbeat_at": "last_heartbeat_at", "timeout_s": "timeout_s"}
_REASON_COLUMN = {"disconnected": "disconnect_reason", "migrated": "migration_reason", "ended": "end_reason"}


def bare_row(record: dict) -> tuple:
    """A fastavro record flattened to a session_events row, with nothing checked."""
    a = record["accessibility"]
    row = dict.fromkeys(SESSION_EVENT_COLUMNS)
    for name in _ENVELOPE + _TAIL:
        row[name] = record[name]
    row["subtitles"], row["colorblind_mode"] = a["subtitles"], a["colorblind_mode"]
    row["screen_reader"], row["reduced_motion"] = a["screen_reader"], a["reduced_motion"]
    for name, value in record["payload"].items():
        column = _REASON_COLUMN.get(record["event_type"]) if name == "reason" else _PAYLOAD_COLUMN[name]
        row[column] = value
    return tuple(row.values())


def bench_bare(messages: list[bytes], path: Path, batch: int) -> dict:
    writers = {v.fingerprint: v.parsed for v in default_catalogue()}
    with ChdbWarehouse(path) as warehouse:
        migrate(warehouse)
        started, cpu_before = time.perf_counter(), cpu_s()
        rows = 0
        for first in range(0, len(messages), batch):
            chunk = []
            for value in messages[first:first + batch]:
                body = io.BytesIO(value)
                body.seek(HEADER_BYTES)
                chunk.append(bare_row(schemaless_reader(body, writers[value[2:HEADER_BYTES]], None)))
            warehouse.insert_rows("session_events", SESSION_EVENT_COLUMNS, chunk,
                                  dedup_token=f"bare/{first}")
            rows += len(chunk)
        elapsed, cpu = time.perf_counter() - started, cpu_s() - cpu_before
    return {"rows": rows, "seconds": round(elapsed, 3), "rows_per_s": round(rows / elapsed),
            "cpu_us_per_row": round(cpu / rows * 1e6, 2)}


def bench_reports(history_events: int, path: Path) -> dict:
    sessions = history_events // 10
    with ChdbWarehouse(path) as warehouse:
        migrate(warehouse)
        started = time.perf_counter()
        chunk = 1_000_000
        for first in range(0, history_events, chunk):
            warehouse.execute((HERE / "sink_history_sessions.sql").read_text(), {
                "base": BASE, "sessions": sessions, "first": first,
                "count": min(chunk, history_events - first)}, name="synthetic sessions")
        warehouse.execute((HERE / "sink_history_ops.sql").read_text(),
                          {"base": BASE, "incidents": 300}, name="synthetic ops")
        load_s = time.perf_counter() - started
        timings = {}
        for name in sorted(REPORTS):
            params = _report_params(name)
            runs = []
            for _ in range(2):
                began = time.perf_counter()
                rows = run_report(warehouse, name, **params)
                runs.append(round(time.perf_counter() - began, 3))
            timings[name] = {"first_s": runs[0], "second_s": runs[1], "rows": len(rows)}
    return {"events": history_events, "load_s": round(load_s, 1), "reports": timings}


def _report_params(name: str) -> dict:
    required = REPORTS[name].required
    if "incident_id" in required:
        return {"incident_id": "INC-42"}
    if name == "churn":
        return {"from_": BASE, "to": BASE + timedelta(days=3)}
    if name.startswith("concurrency") or name == "minute_rollup":
        return {"from_": BASE + timedelta(days=2), "to": BASE + timedelta(days=3)}
    return {"from_": BASE, "to": BASE + timedelta(days=7)}


def run(bootstrap: str, events: int, history_events: int, batch: int, check_crcs: bool = True,
        erasures: int | None = None) -> dict:
    result: dict = {"events": events, "batch_max_events": batch, "check_crcs": check_crcs,
                    "erasures": erasures}
    with tempfile.TemporaryDirectory(prefix="bench-sink-") as scratch:
        root = Path(scratch)
        if events:
            topic = f"bench-sink-{uuid.uuid4().hex[:8]}"
            ensure_topics(bootstrap, {topic: 6})
            began = time.perf_counter()
            messages = encoded_events(events)
            result["encode_s"] = round(time.perf_counter() - began, 1)
            result["produce_s"] = round(fill_topic(bootstrap, topic, messages), 1)
            result["sink"] = bench_sink(bootstrap, topic, events, root / "sink", batch, check_crcs,
                                        erasures)
            result["bare"] = bench_bare(messages, root / "bare", batch)
            result["ratio"] = round(result["sink"]["rows_per_s"] / result["bare"]["rows_per_s"], 3)
            result["cpu_ratio"] = round(result["bare"]["cpu_us_per_row"] / result["sink"]["cpu_us_per_row"], 3)
            result["cpu_us_per_event"] = {"sink": result["sink"]["cpu_us_per_row"],
                                          "bare": result["bare"]["cpu_us_per_row"]}
        if history_events:
            result["history"] = bench_reports(history_events, root / "history")
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    result["targets"] = _targets(result)
    return result


def _targets(result: dict) -> dict:
    met = {}
    if "ratio" in result:
        met[f"sink/bare >= {TARGET_RATIO}"] = result["ratio"] >= TARGET_RATIO
        met[f"sink >= {TARGET_ROWS_S:,} rows/s"] = result["sink"]["rows_per_s"] >= TARGET_ROWS_S
        met[f"sink <= {TARGET_CPU_US} µs CPU per row"] = result["sink"]["cpu_us_per_row"] <= TARGET_CPU_US
    if "history" in result:
        slowest = max(min(t["first_s"], t["second_s"]) for t in result["history"]["reports"].values())
        met[f"every report < {TARGET_REPORT_S} s (best of 2)"] = slowest < TARGET_REPORT_S
    return met


def _print_table(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if "sink" in result:
        table = Table(title=f"sink vs bare insert, {result['events']:,} events, "
                            f"batches of {result['batch_max_events']:,}")
        for column in ("path", "rows", "seconds", "rows/s", "CPU µs/row"):
            table.add_column(column, justify="right")
        for path in ("sink", "bare"):
            row = result[path]
            table.add_row(path, f"{row['rows']:,}", f"{row['seconds']:.2f}", f"{row['rows_per_s']:,}",
                          f"{row['cpu_us_per_row']:.2f}")
        console.print(table)
        console.print(f"ratio sink/bare = {result['ratio']} (rows/s), {result['cpu_ratio']} (CPU); "
                      f"CRC checks {result['check_crcs']}; group join "
                      f"{result['sink']['group_join_s']} s (not timed)")
    if "history" in result:
        history = result["history"]
        table = Table(title=f"reports over {history['events']:,} events (loaded in {history['load_s']} s)")
        for column in ("report", "first run s", "second run s", "rows"):
            table.add_column(column, justify="right")
        for name, t in history["reports"].items():
            table.add_row(name, f"{t['first_s']:.3f}", f"{t['second_s']:.3f}", str(t["rows"]))
        console.print(table)
    for target, ok in result["targets"].items():
        console.print(f"{'met' if ok else 'MISSED'}: {target}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sink", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", default=None, help="Kafka bootstrap (default: the settings')")
    parser.add_argument("--events", type=int, default=500_000, help="events through the sink (0: skip)")
    parser.add_argument("--history-events", type=int, default=10_000_000,
                        help="synthetic events for the report timings (0: skip)")
    parser.add_argument("--batch", type=int, default=50_000, help="batch_max_events of sink and bare")
    parser.add_argument("--no-check-crcs", dest="check_crcs", action="store_false",
                        help="skip the consumer's CRC-32C check of fetched batches (check.crcs)")
    parser.add_argument("--erasures", type=int, default=None,
                        help="erased players in force while the sink writes (default: no eraser)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    bootstrap = args.bootstrap or load_settings().bootstrap_servers
    result = run(bootstrap, args.events, args.history_events, args.batch, args.check_crcs,
                 args.erasures)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print_table(result)
    return 0 if all(result["targets"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
