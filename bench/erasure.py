"""How long erasing players from the history takes, and what it costs, on chDB.

    python -m bench.erasure --events 1000000 --json

A fresh chDB is filled with ``--events`` synthetic events (bench/sink_history_sessions.sql:
sessions of 10 events, 200,000 players), then:

1. ``one``: one player erased (``analytics.erasure.erase_history``): the rows counted by key,
   then one mutation per table, waited for;
2. ``again``: the same erasure again: nothing to rewrite, only the count;
3. ``many``: ``--many`` players erased at once (``erase_histories``: still one mutation per table);
4. ``old_parts_gone_s``: from the end of 3. until the replaced parts are off the disk
   (``old_parts`` 0), polled every second up to ``--wait-s``.

Each step reports wall seconds and process CPU seconds (user + system, chDB's threads included).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from analytics.erasure import erase_histories, erase_history, old_parts
from analytics.migrate import migrate
from analytics.warehouse import ChdbWarehouse
from bench.sink import BASE, HERE, cpu_s
from projections.erasure import Erasure


def timed(action) -> tuple[object, dict]:
    began, cpu = time.perf_counter(), cpu_s()
    result = action()
    return result, {"seconds": round(time.perf_counter() - began, 3), "cpu_s": round(cpu_s() - cpu, 3)}


def run(events: int, many: int, wait_s: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-erasure-") as scratch, \
            ChdbWarehouse(Path(scratch) / "chdb") as warehouse:
        migrate(warehouse)
        chunk = 1_000_000
        for first in range(0, events, chunk):
            warehouse.execute((HERE / "sink_history_sessions.sql").read_text(), {
                "base": BASE, "sessions": events // 10, "first": first,
                "count": min(chunk, events - first)}, name="synthetic sessions")
        result: dict = {"events": events, "sessions": events // 10}
        erasure = Erasure.new("player-1")
        receipt, result["one"] = timed(lambda: erase_history(warehouse, erasure))
        result["one"]["rows"] = receipt.removed
        receipt, result["again"] = timed(lambda: erase_history(warehouse, erasure))
        result["again"]["rows"] = receipt.removed
        batch = [Erasure.new(f"player-{n}") for n in range(2, 2 + many)]
        receipts, result["many"] = timed(lambda: erase_histories(warehouse, batch))
        result["many"].update(players=many, rows={
            table: sum(r.removed[table] for r in receipts) for table in ("session_events", "sessions")})
        result["last_copy_by_s"] = round((receipts[0].last_copy_by - receipts[0].done_at).total_seconds())
        began = time.perf_counter()
        while old_parts(warehouse) and time.perf_counter() - began < wait_s:
            time.sleep(1)
        left = old_parts(warehouse)
        result["old_parts_gone_s"] = None if left else round(time.perf_counter() - began, 1)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.erasure", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="synthetic events in the history")
    parser.add_argument("--many", type=int, default=1_000, help="players erased at once in step 3")
    parser.add_argument("--wait-s", type=float, default=600.0, help="longest wait for the old parts to go")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    result = run(args.events, args.many, args.wait_s)
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
