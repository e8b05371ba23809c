"""Replay speed: the ledger as of an instant, and the timeline of one hour, from chDB.

    python -m bench.replay --events 1000000 --json
    python -m bench.replay --events 1000000 --timeline-events 10000000 --json   # the 10M figure
    python -m bench.replay --events 1000000 --baselines --json                  # + the old paths

A synthetic history (bench/sink_history_sessions.sql: sessions of 10 events over 7 days) is
written into a fresh chDB by a child process, so this process's peak memory is the replay's
own (chDB's engine included). Stages, each timed by wall clock and by the process's CPU time
(user + sys of every thread, chDB's included):

- replay_at:        ``counts_as_of`` at the end of the history, what ``ledger replay window --at``
                    runs: the warehouse folds every session it can settle, Python the rest;
- replay_at_states: ``ledger_as_of``, the same with every SessionState and PlayerState built;
- timeline:         ``replay_window`` of one hour in the middle of a history of
                    ``--timeline-events`` (its own history when that differs from ``--events``),
                    and its HTML page;
- with --heartbeat-ttl-days N: the history's heartbeats deleted by that TTL first (its sessions
                    all older than it), so every session takes the path that closes the holes
                    they leave (docs/replay.md, "Sessions older than the heartbeat TTL");
                    per-event figures are then per remaining event, CPU seconds per session compare;
- with --baselines: pages (the keyset pages read as columns, what the fold reads) and fold
                    (every event validated and folded in Python: the replay before).

Peak RSS is the process's; ``rss_opened_mib`` is the RSS with the warehouse open and one query
run, the floor chDB's engine sets before any replay.
"""
from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from bench.common import emit_result, peak_rss_mib

HERE = Path(__file__).resolve().parent
BASE = datetime(2026, 1, 5, tzinfo=timezone.utc)
END = BASE + timedelta(days=8)
HOUR = (BASE + timedelta(days=3, hours=12), BASE + timedelta(days=3, hours=13))
GENERATE_CHUNK = 1_000_000

TARGET_AT_SECONDS = 5.0
TARGET_AT_RSS_MIB = 400.0
TARGET_TIMELINE_SECONDS = 2.0


def generate(path: str, events: int, heartbeat_ttl_days: int = 0) -> None:
    """Write ``events`` synthetic session events (whole sessions of 10) into a chDB at ``path``;
    with ``heartbeat_ttl_days``, then apply that heartbeat TTL."""
    from analytics.migrate import migrate
    from analytics.retention import WarehouseRetention, apply_retention
    from analytics.warehouse import ChdbWarehouse

    sessions = max(1, events // 10)
    with ChdbWarehouse(path) as warehouse:
        migrate(warehouse)
        for first in range(0, sessions * 10, GENERATE_CHUNK):
            warehouse.execute((HERE / "sink_history_sessions.sql").read_text(), {
                "base": BASE, "sessions": sessions, "first": first,
                "count": min(GENERATE_CHUNK, sessions * 10 - first)}, name="synthetic sessions")
        if heartbeat_ttl_days:
            apply_retention(warehouse, WarehouseRetention(heartbeat_days=heartbeat_ttl_days, lifecycle_days=0))
        warehouse.execute("OPTIMIZE TABLE session_events FINAL", name="merge")


def history(path: Path, events: int, heartbeat_ttl_days: int = 0) -> float:
    """Generate a history of ``events`` at ``path`` in a child process; seconds taken."""
    started = time.perf_counter()
    child = multiprocessing.get_context("spawn").Process(target=generate,
                                                         args=(str(path), events, heartbeat_ttl_days))
    child.start()
    child.join()
    if child.exitcode != 0:
        raise SystemExit(f"generating the history failed (exit {child.exitcode})")
    return round(time.perf_counter() - started, 2)


def measure(work: Callable[[], Any]) -> tuple[Any, dict[str, float]]:
    """Run ``work``; its result and wall seconds, CPU seconds (process, all threads), peak RSS."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return result, {"seconds": round(time.perf_counter() - wall, 3),
                    "cpu_seconds": round(time.process_time() - cpu, 3),
                    "peak_rss_mib": peak_rss_mib()}


def per_event(figures: dict[str, float], events: int) -> dict[str, float]:
    return {**figures, "events": events, "events_s": round(events / figures["seconds"]),
            "cpu_us_per_event": round(figures["cpu_seconds"] / events * 1e6, 3)}


def as_of_stages(path: Path, baselines: bool) -> dict[str, Any]:
    from analytics.replay import counts_as_of, fold_events, ledger_as_of
    from analytics.replay.history import events_until, iter_pages_by_key
    from analytics.warehouse import ChdbWarehouse

    stages: dict[str, Any] = {}
    with ChdbWarehouse(path) as warehouse:
        warehouse.query("SELECT count() FROM session_events", name="open")
        stages["rss_opened_mib"] = peak_rss_mib()
        counts, figures = measure(lambda: counts_as_of(warehouse, END).summary())
        events = counts["events_folded"]
        stages["replay_at"] = per_event(figures, events)
        stages["replay_at"]["cpu_us_per_session"] = round(
            figures["cpu_seconds"] / max(1, counts["sessions"]["count"]) * 1e6, 3)
        stages["summary"] = {"sessions": counts["sessions"]["count"],
                             "players": counts["players"]["count"],
                             "by_status": counts["sessions"]["by_status"]}
        states, figures = measure(lambda: ledger_as_of(warehouse, END).summary())
        stages["replay_at_states"] = per_event(figures, events)
        if states != counts:
            raise SystemExit(f"ledger_as_of and counts_as_of disagree: {states} != {counts}")
        if baselines:
            rows, figures = measure(lambda: sum(page.num_rows for page in iter_pages_by_key(warehouse, END)))
            stages["pages"] = per_event(figures, rows)
            folded, figures = measure(lambda: fold_events(events_until(warehouse, END), END).summary())
            stages["fold"] = per_event(figures, folded["events_folded"])
    return stages


def timeline_stage(path: Path) -> dict[str, Any]:
    from analytics.replay import replay_window
    from analytics.replay.history import Window, count_events
    from analytics.replay.timeline_page import write_timeline_page
    from analytics.warehouse import ChdbWarehouse

    with ChdbWarehouse(path) as warehouse, tempfile.TemporaryDirectory(prefix="bench-page-") as tmp:
        total = int(warehouse.query("SELECT count() AS n FROM session_events")[0]["n"])
        in_window = count_events(warehouse, Window(*HOUR))
        page = Path(tmp) / "timeline.html"

        def timeline() -> int:
            replay = replay_window(warehouse, *HOUR)
            write_timeline_page(replay, page, "one hour")
            return len(replay.lifecycle_events)

        shown, figures = measure(timeline)
    return {**figures, "history_events": total, "window_events": in_window, "events_shown": shown}


def run(events: int, timeline_events: int, baselines: bool, heartbeat_ttl_days: int = 0) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
        at_path = Path(tmp) / "history"
        generated = {"events": history(at_path, events, heartbeat_ttl_days)}
        result: dict[str, Any] = {"events": events, "heartbeat_ttl_days": heartbeat_ttl_days,
                                  **as_of_stages(at_path, baselines)}
        timeline_path = at_path
        if timeline_events != events or heartbeat_ttl_days:
            timeline_path = Path(tmp) / "timeline-history"
            generated["timeline_events"] = history(timeline_path, timeline_events)
        result["timeline"] = timeline_stage(timeline_path)
    at, timeline = result["replay_at"], result["timeline"]
    result["generate_s"] = generated
    result["cpu_us_per_event"] = {"replay_at": at["cpu_us_per_event"]}
    result["targets"] = {
        f"replay --at {events:,} events <= {TARGET_AT_SECONDS:g} s": at["seconds"] <= TARGET_AT_SECONDS,
        f"replay --at peak RSS <= {TARGET_AT_RSS_MIB:g} MiB": at["peak_rss_mib"] <= TARGET_AT_RSS_MIB,
        f"timeline of one hour over {timeline['history_events']:,} events <= "
        f"{TARGET_TIMELINE_SECONDS:g} s": timeline["seconds"] <= TARGET_TIMELINE_SECONDS,
    }
    result["python"] = sys.version.split()[0]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.replay", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000,
                        help="Events in the history replayed --at its end (whole sessions of 10).")
    parser.add_argument("--timeline-events", type=int, default=None,
                        help="Events in the history the one-hour timeline is cut from (default: --events; "
                             "10000000 for the target figure, which takes a few minutes to generate).")
    parser.add_argument("--baselines", action="store_true",
                        help="Also read the pages as rows and fold every event in Python (slow).")
    parser.add_argument("--heartbeat-ttl-days", type=int, default=0,
                        help="Delete the history's heartbeats by this TTL before replaying --at (default 0: none).")
    parser.add_argument("--bootstrap", default=None, help="ignored: this stage reads no broker")
    parser.add_argument("--json", action="store_true", help="Print the result as JSON.")
    args = parser.parse_args(argv)
    result = run(args.events, args.timeline_events or args.events, args.baselines, args.heartbeat_ttl_days)
    emit_result(result, as_json=args.json)
    return 0 if all(result["targets"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
