"""How much readers slow the sink down: sink rows/s with and without four processes running a
report in a loop through the warehouse's owner.

    python -m bench.readers --bootstrap 127.0.0.1:9092 --events 300000 --json

Each run opens a fresh chDB as its owner (``open_owned``: the sink's own way of opening it,
serving reads on 127.0.0.1), preloads ``--history-events`` synthetic events so a report has real
work (bench/sink_history_sessions.sql), and runs a ``HistorySink`` over a topic pre-filled with
``--events`` encoded session events until every event is a row. In the second run, ``--readers``
child processes (``python -m bench.readers --reader URL``) run ``ledger report --report`` through
the owner's HTTP interface in a loop (the way ``ledger report`` does when a sink owns the
warehouse), from before the sink's first read until its last commit.

Runs alternate (alone, with readers) for ``--rounds`` rounds and the medians are reported, with
the ratio per round: this machine is shared, and wall-clock rates drift with its neighbours.
Reported per run: sink rows/s and process CPU µs per row (the owner's process, so the readers'
queries, which chDB runs in the owner, are in it), and the reads done with their p50/p99 seconds.
The bound the docs state: the sink keeps >= 50 % of its rows/s with four readers at the defaults
(``LEDGER_WAREHOUSE_CONCURRENT_READS`` 1, reads at nice 19); ``--concurrent`` and ``--nice``
measure other values.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from bench.common import emit_result
from bench.sink import BASE, HERE, cpu_s, encoded_events, fill_topic

TARGET_KEPT = 0.5
READY_TIMEOUT_S = 120.0


def preload(warehouse, history_events: int) -> None:
    sessions = max(1, history_events // 10)
    warehouse.execute((HERE / "sink_history_sessions.sql").read_text(), {
        "base": BASE, "sessions": sessions, "first": 0, "count": history_events}, name="synthetic sessions")


def sink_run(bootstrap: str, topic: str, events: int, history_events: int, readers: int, concurrent: int,
             report: str, scratch: Path, nice: int = 19) -> dict:
    """One run: a fresh owned chDB, preloaded; ``readers`` report loops; the sink over ``topic``."""
    from analytics.serve.owner import open_owned
    from streams.settings import load_settings
    from streams.sink.consumer import HistorySink

    settings = load_settings(state_dir=scratch, bootstrap_servers=bootstrap, warehouse_http_port=0,
                             warehouse_concurrent_reads=concurrent, warehouse_read_nice=nice)
    with open_owned(settings) as warehouse:
        preload(warehouse, history_events)
        progress = [scratch / f"reader-{n}.jsonl" for n in range(readers)]
        stop_file = scratch / "stop"
        children = [subprocess.Popen([sys.executable, "-m", "bench.readers", "--reader", warehouse.owner.url,
                                      "--report", report, "--progress", str(path), "--stop", str(stop_file)])
                    for path in progress]
        try:
            _wait_reading(progress, children)
            sink = HistorySink(bootstrap=bootstrap, topics=[topic], warehouse=warehouse,
                               dead_letters=lambda message, error: None,
                               group_id=f"bench-readers-{uuid.uuid4().hex[:8]}", batch_max_events=50_000)
            cpu_before = cpu_s()
            while sink.stats.rows < events or sink._slices:
                sink.poll_once()
            cpu = cpu_s() - cpu_before
            elapsed = time.monotonic() - sink.stats.first_read_at
            sink.close()
            reads_during = [_reads_since(path, sink.stats.first_read_at) for path in progress]
        finally:
            stop_file.touch()
            for child in children:
                child.wait(timeout=120)
    latencies = sorted(s for reads in reads_during for s in reads)
    return {"readers": readers, "rows": sink.stats.rows, "seconds": round(elapsed, 2),
            "rows_per_s": round(sink.stats.rows / elapsed), "cpu_us_per_row": round(cpu / sink.stats.rows * 1e6, 2),
            "reads": len(latencies), "read_p50_s": _quantile(latencies, 0.5), "read_p99_s": _quantile(latencies, 0.99)}


def _wait_reading(progress: list[Path], children: list[subprocess.Popen]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not all(path.exists() and path.stat().st_size for path in progress):
        if time.monotonic() > deadline or any(child.poll() is not None for child in children):
            raise RuntimeError("the readers did not complete a first read")
        time.sleep(0.2)


def _reads_since(path: Path, since_monotonic: float) -> list[float]:
    reads = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r["seconds"] for r in reads if r["ended"] >= since_monotonic]


def _quantile(values: list[float], q: float) -> float | None:
    return round(values[min(len(values) - 1, int(q * len(values)))], 3) if values else None


def reader_loop(url: str, report: str, progress: Path, stop: Path) -> None:
    """Run ``report`` over the preloaded period through the owner until ``stop`` exists; one JSON
    line per read (its seconds, and when it ended on the shared monotonic clock)."""
    from analytics.reports import run_report
    from analytics.serve.client import RemoteWarehouse

    with RemoteWarehouse(url) as warehouse, progress.open("a") as out:
        while not stop.exists():
            began = time.monotonic()
            run_report(warehouse, report, from_=BASE, to=BASE + timedelta(days=7))
            ended = time.monotonic()
            out.write(json.dumps({"seconds": round(ended - began, 4), "ended": ended}) + "\n")
            out.flush()


def run(bootstrap: str, events: int, history_events: int, readers: int, concurrent: int, report: str,
        nice: int = 19, rounds: int = 3) -> dict:
    from streams.kafka.topics import ensure_topics

    topic = f"bench-readers-{uuid.uuid4().hex[:8]}"
    ensure_topics(bootstrap, {topic: 6})
    fill_topic(bootstrap, topic, encoded_events(events))
    result: dict = {"events": events, "history_events": history_events, "report": report,
                    "concurrent_reads": concurrent, "read_nice": nice, "rounds": rounds, "readers": readers}
    runs: dict[str, list[dict]] = {"alone": [], "with_readers": []}
    for _ in range(rounds):  # interleaved, so a neighbour's load drifts over both alike
        for label, count in (("alone", 0), ("with_readers", readers)):
            with tempfile.TemporaryDirectory(prefix="bench-readers-") as scratch:
                runs[label].append(sink_run(bootstrap, topic, events, history_events, count, concurrent, report,
                                            Path(scratch), nice))
    for label, measured in runs.items():
        result[label] = {key: _median([m[key] for m in measured]) for key in measured[0]
                         if isinstance(measured[0][key], (int, float))}
    result["kept_per_round"] = [round(w["rows_per_s"] / a["rows_per_s"], 3)
                                for a, w in zip(runs["alone"], runs["with_readers"])]
    result["kept"] = round(result["with_readers"]["rows_per_s"] / result["alone"]["rows_per_s"], 3)
    result["targets"] = {f"sink keeps >= {TARGET_KEPT:.0%} of its rows/s with {readers} readers (median)":
                         result["kept"] >= TARGET_KEPT}
    return result


def _median(values: list[float]) -> float:
    ordered = sorted(v for v in values if v is not None)
    return ordered[len(ordered) // 2] if ordered else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--events", type=int, default=300_000, help="Events the sink writes per run.")
    parser.add_argument("--history-events", type=int, default=1_000_000, help="History preloaded before each run.")
    parser.add_argument("--readers", type=int, default=4)
    parser.add_argument("--concurrent", type=int, default=1, help="LEDGER_WAREHOUSE_CONCURRENT_READS of the owner.")
    parser.add_argument("--nice", type=int, default=19, help="LEDGER_WAREHOUSE_READ_NICE of the owner.")
    parser.add_argument("--report", default="latency")
    parser.add_argument("--rounds", type=int, default=3, help="Runs of each kind, interleaved; medians reported.")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--reader", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--progress", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--stop", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.reader:
        reader_loop(args.reader, args.report, args.progress, args.stop)
        return
    emit_result(run(args.bootstrap, args.events, args.history_events, args.readers, args.concurrent, args.report,
                    args.nice, args.rounds), as_json=args.json)


if __name__ == "__main__":
    main()
