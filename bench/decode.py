"""How fast a batch of Kafka values becomes records, beside bare per-record fastavro on the same bytes.

    python -m bench.decode --json

No broker: a realistic mix (sessions of 10 events: requested, started, 7 heartbeats, ended;
the current writer version; a third with a trace id) is encoded once, then for each batch size:

1. ``fastavro``: ``schemaless_reader`` per message on the body after the 10-byte header, with
   the current parsed schema (no resolution, no checks, no records: dicts out). The limit of
   the usual per-record path.
2. ``batch``: ``schemas.batch.BatchDecoder.decode`` on the whole batch: resolution, the
   contract checks and ``SessionRecord``s out, ready for the fold.
3. ``rows``: ``BatchDecoder.decode_rows``, the same pass with plain tuples and epoch-ms
   timestamps out: what the history sink zips into the columns of its insert.

Each is timed in process CPU time (steadier than wall time on a shared machine) over
``--events`` events, ``--repeat`` times in alternation; the best run counts. events/s is per
core: events over CPU seconds.

Targets: batch >= 150,000 events/s on one core, and faster than per-record fastavro, at every
batch size.
"""
from __future__ import annotations

import argparse
import sys
import time
import uuid
from datetime import timedelta
from io import BytesIO

from fastavro import schemaless_reader

from bench.common import T0, emit_result, event_template, peak_rss_mib
from schemas.batch import BatchDecoder
from schemas.catalogue import SESSION_EVENT, default_catalogue
from schemas.codec import HEADER_BYTES, encode

TARGET_EVENTS_S = 150_000
BATCH_SIZES = (500, 20_000)
SCRIPT = ["requested", "started"] + ["heartbeat"] * 7 + ["ended"]


def encoded_mix(count: int) -> list[bytes]:
    """``count`` encoded events of 10-event sessions, 50 sessions interleaved at a time."""
    templates = {kind: event_template(kind) for kind in set(SCRIPT)}
    out: list[bytes] = []
    group = 0
    while len(out) < count:
        ids = [str(uuid.uuid4()) for _ in range(50)]
        for seq, kind in enumerate(SCRIPT, start=1):
            for n, session_id in enumerate(ids):
                out.append(encode(templates[kind].model_copy(update={
                    "session_id": session_id, "seq": seq, "event_id": str(uuid.uuid4()),
                    "player_id": f"player-{(group * 50 + n) % 5000}",
                    "region": ("eu-west", "us-east", "ap-northeast")[n % 3],
                    "trace_id": f"trace-{n}" if n % 3 == 0 else None,
                    "occurred_at": T0 + timedelta(seconds=group, milliseconds=seq * 10_000 + n),
                })))
        group += 1
    return out[:count]


def bare_fastavro(batches: list[list[bytes]]) -> int:
    schema = default_catalogue().current(SESSION_EVENT).parsed
    read = 0
    for batch in batches:
        for value in batch:
            body = BytesIO(value)
            body.seek(HEADER_BYTES)
            schemaless_reader(body, schema, None)
            read += 1
    return read


def batch_decoder(batches: list[list[bytes]], decoder: BatchDecoder) -> int:
    read = 0
    for batch in batches:
        decoded = decoder.decode(batch)
        if decoded.errors:
            raise RuntimeError(f"the benchmark's own events failed to decode: {decoded.errors[0]}")
        read += len(decoded.sessions)
    return read


def row_decoder(batches: list[list[bytes]], decoder: BatchDecoder) -> int:
    read = 0
    for batch in batches:
        decoded = decoder.decode_rows(batch)
        if decoded.errors:
            raise RuntimeError(f"the benchmark's own events failed to decode: {decoded.errors[0]}")
        read += len(decoded.sessions)
    return read


def measure(run, events: int) -> dict:
    cpu, wall = time.process_time(), time.perf_counter()
    done = run()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    assert done == events
    return {"events_s": round(events / cpu), "cpu_us_per_event": round(cpu / events * 1e6, 2),
            "wall_events_s": round(events / wall)}


def run(events: int, repeat: int, sizes=BATCH_SIZES) -> dict:
    began = time.perf_counter()
    values = encoded_mix(events)
    result: dict = {"stage": "decode", "events": events, "repeat": repeat,
                    "encode_s": round(time.perf_counter() - began, 1)}
    decoder = BatchDecoder()
    for size in sizes:
        batches = [values[i:i + size] for i in range(0, len(values), size)]
        runs: dict[str, list[dict]] = {"fastavro": [], "batch": [], "rows": []}
        for _ in range(repeat):
            runs["fastavro"].append(measure(lambda: bare_fastavro(batches), events))
            runs["batch"].append(measure(lambda: batch_decoder(batches, decoder), events))
            runs["rows"].append(measure(lambda: row_decoder(batches, decoder), events))
        best = {name: min(r, key=lambda m: m["cpu_us_per_event"]) for name, r in runs.items()}
        result[f"batch_{size}"] = {
            **{f"{name}_{key}": value for name, figures in best.items()
               for key, value in figures.items()},
            "batch_all_runs_cpu_us": [r["cpu_us_per_event"] for r in runs["batch"]],
            "fastavro_all_runs_cpu_us": [r["cpu_us_per_event"] for r in runs["fastavro"]],
            "ratio": round(best["fastavro"]["cpu_us_per_event"] / best["batch"]["cpu_us_per_event"], 2),
            "rows_ratio": round(best["fastavro"]["cpu_us_per_event"] / best["rows"]["cpu_us_per_event"], 2),
            "batch_cores_for_100k_events_s": round(100_000 / best["batch"]["events_s"], 2),
        }
    largest = result[f"batch_{max(sizes)}"]  # the sink's and worker's batches are this large or near
    result["cpu_us_per_event"] = {"batch": largest["batch_cpu_us_per_event"],
                                  "rows": largest["rows_cpu_us_per_event"],
                                  "fastavro": largest["fastavro_cpu_us_per_event"]}
    result["peak_rss_mib"] = peak_rss_mib()
    result["targets"] = targets(result, sizes)
    return result


def targets(result: dict, sizes) -> dict[str, bool]:
    met = {}
    for size in sizes:
        figures = result[f"batch_{size}"]
        met[f"batch of {size:,} >= {TARGET_EVENTS_S:,} events/s on one core"] = \
            figures["batch_events_s"] >= TARGET_EVENTS_S
        met[f"batch of {size:,} faster than per-record fastavro"] = figures["ratio"] > 1
    return met


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.decode", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", default=None, help="ignored: this stage reads no broker")
    parser.add_argument("--events", type=int, default=200_000,
                        help="events per timed run (default 200,000)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each path (best counts)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args(argv)
    result = run(args.events, args.repeat)
    emit_result(result, as_json=args.json)
    return 0 if all(result["targets"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
