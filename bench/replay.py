"""Replay speed: the ledger as of the end of a large window, folded from chDB.

    python -m bench.replay --events 1000000 --json

A synthetic history (bench/sink_history_sessions.sql: sessions of 10 events over 7 days) is
written into a fresh chDB by a child process, so this process's peak memory is the replay's
own. Then three passes over the same window, each streamed in keyset pages:

- fold:   read the pages in key order, turn each row into a validated SessionEvent and fold it
          into every projection (``ledger_as_of``, what ``ledger replay window --at`` runs);
- rows:   the same pages read only (chDB, Arrow, rows as Python dicts);
- events: the same pages turned into events, not folded;
- time_order_rows: the pages in occurred_at order (FINAL), as re-emission reads them.

Peak memory is the process's peak RSS (chDB's engine included), before and after the fold.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
BASE = datetime(2026, 1, 5, tzinfo=timezone.utc)
GENERATE_CHUNK = 1_000_000


def generate(path: str, events: int) -> None:
    """Write ``events`` synthetic session events (whole sessions of 10) into a chDB at ``path``."""
    from analytics.migrate import migrate
    from analytics.warehouse import ChdbWarehouse

    sessions = max(1, events // 10)
    with ChdbWarehouse(path) as warehouse:
        migrate(warehouse)
        for first in range(0, sessions * 10, GENERATE_CHUNK):
            warehouse.execute((HERE / "sink_history_sessions.sql").read_text(), {
                "base": BASE, "sessions": sessions, "first": first,
                "count": min(GENERATE_CHUNK, sessions * 10 - first)}, name="synthetic sessions")
        warehouse.execute("OPTIMIZE TABLE session_events FINAL", name="merge")


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def run(events: int, chunk: int) -> dict:
    from analytics.replay import Window, ledger_as_of
    from analytics.row_events import event_from_row
    from analytics.replay.history import iter_rows_by_key, iter_session_rows
    from analytics.warehouse import ChdbWarehouse

    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
        path = str(Path(tmp) / "chdb")
        started = time.perf_counter()
        child = multiprocessing.get_context("spawn").Process(target=generate, args=(path, events))
        child.start()
        child.join()
        if child.exitcode != 0:
            raise SystemExit(f"generating the history failed (exit {child.exitcode})")
        generated_s = time.perf_counter() - started

        with ChdbWarehouse(path) as warehouse:
            end = BASE + timedelta(days=8)
            window = Window(BASE, end)
            rss_before = peak_rss_mb()

            started = time.perf_counter()
            state = ledger_as_of(warehouse, end, chunk=chunk)
            fold_s = time.perf_counter() - started
            rss_after_fold = peak_rss_mb()
            folded = state.events_folded
            summary = state.summary()
            del state

            started = time.perf_counter()
            rows = sum(len(page) for page in iter_rows_by_key(warehouse, end, "", chunk))
            rows_s = time.perf_counter() - started

            started = time.perf_counter()
            converted = sum(1 for page in iter_rows_by_key(warehouse, end, "", chunk)
                            for row in page if event_from_row(row))
            events_s = time.perf_counter() - started

            started = time.perf_counter()
            in_time_order = sum(len(page) for page in iter_session_rows(warehouse, window, chunk))
            time_order_s = time.perf_counter() - started

    assert rows == converted == folded == in_time_order, (rows, converted, folded, in_time_order)
    return {
        "events": folded,
        "chunk": chunk,
        "sessions": summary["sessions"]["count"],
        "players": summary["players"]["count"],
        "generate_s": round(generated_s, 2),
        "rows": {"seconds": round(rows_s, 2), "per_s": round(rows / rows_s)},
        "events_from_rows": {"seconds": round(events_s, 2), "per_s": round(converted / events_s)},
        "fold": {"seconds": round(fold_s, 2), "per_s": round(folded / fold_s)},
        "time_order_rows": {"seconds": round(time_order_s, 2), "per_s": round(in_time_order / time_order_s)},
        "peak_rss_mb": {"before_fold": rss_before, "after_fold": rss_after_fold},
        "python": sys.version.split()[0],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.replay", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="Events in the window (whole sessions of 10).")
    parser.add_argument("--chunk", type=int, default=20_000, help="Rows per page read from chDB.")
    parser.add_argument("--json", action="store_true", help="Print the result as JSON.")
    args = parser.parse_args(argv)
    result = run(args.events, args.chunk)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['events']:,} events, {result['sessions']:,} sessions, pages of {result['chunk']:,}")
        for stage in ("fold", "rows", "events_from_rows", "time_order_rows"):
            print(f"  {stage:<17} {result[stage]['per_s']:>10,}/s  ({result[stage]['seconds']} s)")
        print(f"  peak RSS {result['peak_rss_mb']['before_fold']} MB before the fold, "
              f"{result['peak_rss_mb']['after_fold']} MB after")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
