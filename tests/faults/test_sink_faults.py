"""The sink under real faults: SIGKILL mid-stream, and a warehouse that refuses every write for a while.

The outage is real: the test detaches ``session_events`` in the very chDB engine the sink writes
to (``DETACH TABLE``), so every insert fails inside ClickHouse with UNKNOWN_TABLE until the table
is attached again. Nothing in the sink is replaced or patched.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from analytics.migrate import migrate
from analytics.warehouse import ChdbWarehouse
from ledger.child import wait_until
from streams.sink.consumer import Backoff, HistorySink
from tests.support.factories import session_script
from tests.support.history import committed, end_offsets, produce, rows_per_event

ROOT = Path(__file__).resolve().parents[2]
SINK_PROCESS = (
    "import logging, sys\n"
    "from streams.settings import load_settings\n"
    "from streams.sink.consumer import run_sink\n"
    "logging.basicConfig(level=logging.INFO)\n"
    "run_sink(load_settings(), group_id=sys.argv[1], batch_max_events=int(sys.argv[2]),"
    " batch_max_wait_s=0.5, consumer_config={'group_instance_id': sys.argv[1] + '-1'})\n"
)


def test_a_sink_killed_mid_stream_and_restarted_stores_each_event_once(test_settings, tmp_path):
    events = sessions(6_000, heartbeats=7)  # 60,000 events: a stream the sink needs a while for
    produce(test_settings, events)
    group = f"sink-killed-{uuid.uuid4().hex[:8]}"
    total = sum(end_offsets(test_settings).values())
    with ChdbWarehouse(test_settings.chdb_path) as warehouse:
        migrate(warehouse)  # closed again before the sink process opens the same directory

    kills = []
    # SIGKILL at a quarter, a half and three quarters of the stream, each time a little after a
    # commit was seen, so the kill falls at different points of the next batch (decode, insert, commit).
    for share, later_s in ((0.25, 0.03), (0.5, 0.08), (0.75, 0.13)):
        sink = start_sink(test_settings, group, tmp_path, batch=2_000)
        wait_until(lambda: sum(committed(test_settings, group).values()) >= total * share, 90,
                   f"{share:.0%} of the stream committed", interval_s=0.02)  # a sink is quick
        time.sleep(later_s)
        sink.send_signal(signal.SIGKILL)
        sink.wait(timeout=10)
        with ChdbWarehouse(test_settings.chdb_path) as warehouse:
            stored = warehouse.query("SELECT count() AS n FROM session_events")[0]["n"]
        kills.append((sum(committed(test_settings, group).values()), stored))

    restarted = time.monotonic()
    last = start_sink(test_settings, group, tmp_path, batch=2_000)
    wait_until(lambda: sum(committed(test_settings, group).values()) == total, 120, "every offset committed")
    caught_up_s = time.monotonic() - restarted
    last.send_signal(signal.SIGTERM)
    assert last.wait(timeout=30) == 0

    with ChdbWarehouse(test_settings.chdb_path) as warehouse:
        assert rows_per_event(warehouse, "session_events") == (len(events), len(events))
        raw = warehouse.query("SELECT count() AS n FROM session_events")[0]["n"]
    assert all(offsets < total for offsets, _ in kills)
    print(f"\nevents={len(events)} at each kill (committed offsets, rows stored)={kills}; "
          f"rows after the last restart before merges={raw}, read with FINAL={len(events)}; "
          f"restart to caught up={caught_up_s:.1f}s")


def test_while_the_warehouse_refuses_writes_the_sink_waits_commits_nothing_and_loses_nothing(
        test_settings, warehouse):
    before, during = sessions(30), sessions(30)
    group = f"sink-outage-{uuid.uuid4().hex[:8]}"
    sink = HistorySink.from_settings(test_settings, warehouse, group_id=group, batch_max_events=100,
                                     batch_max_wait_s=0.2, backoff=Backoff(initial_s=0.1, max_s=0.8))
    stop = threading.Event()
    worker = threading.Thread(target=sink.run, args=(stop,), daemon=True)
    worker.start()
    try:
        produce(test_settings, before)
        wait_until(lambda: committed(test_settings, group) == end_offsets(test_settings), 60,
                   "the first events committed")
        offsets_before = committed(test_settings, group)

        warehouse.execute("DETACH TABLE session_events")
        produce(test_settings, during)
        wait_until(lambda: sink.stats.retries >= 4, 60, "four failed writes")
        time.sleep(1.0)
        assert committed(test_settings, group) == offsets_before  # nothing committed early
        assert sink.stats.rows == len(before)
        assert "UNKNOWN_TABLE" in sink.stats.last_error
        assert sink.consumer.paused()

        warehouse.execute("ATTACH TABLE session_events")
        recovered = time.monotonic()
        wait_until(lambda: committed(test_settings, group) == end_offsets(test_settings), 60,
                   "the events of the outage committed")
        recovery_s = time.monotonic() - recovered
    finally:
        stop.set()
        worker.join(timeout=30)

    everything = len(before) + len(during)
    assert rows_per_event(warehouse, "session_events") == (everything, everything)
    assert sink.stats.rows == everything
    print(f"\nevents={everything} rows={sink.stats.rows} retries={sink.stats.retries} "
          f"recovery after attach={recovery_s:.2f}s")


# --- the small things the stories use ---------------------------------------------------------


def sessions(count, heartbeats=3):
    return [event for _ in range(count) for event in session_script(heartbeats=heartbeats)]


def start_sink(settings, group, home, batch):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
           "LEDGER_STATE_DIR": str(settings.state_dir),
           "LEDGER_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
           "LEDGER_SESSION_TOPIC": settings.session_topic, "LEDGER_OPS_TOPIC": settings.ops_topic,
           "LEDGER_DEAD_LETTER_TOPIC": settings.dead_letter_topic,
           "LEDGER_ERASURE_TOPIC": settings.erasure_topic,
           # The events are stamped in 2025: the default TTLs would delete them (tests/conftest.py).
           **{name: os.environ[name] for name in ("LEDGER_HEARTBEAT_TTL_DAYS", "LEDGER_LIFECYCLE_TTL_DAYS")}}
    log = open(home / f"{group}-{time.monotonic_ns()}.log", "w")
    return subprocess.Popen([sys.executable, "-c", SINK_PROCESS, group, str(batch)], cwd=ROOT,
                            env=env, stdout=log, stderr=subprocess.STDOUT)


