"""A disk that fills up: the worker and the sink stop taking work, say so, and once space comes
back they resume by themselves, with every event folded and stored exactly once.

The disk is real: a small tmpfs mounted for the story holds the state dir, and a ballast file
fills it below the guard's threshold; deleting the ballast gives the space back.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from kafka import KafkaProducer

from analytics.serve.owner import read_owner
from analytics.warehouse import ChdbWarehouse
from ledger.child import wait_until
from ledger.stack import free_port
from ledger.worker_process import WorkerProcess
from streams.disk_guard import MIB
from streams.settings import load_settings
from streams.sink.consumer import run_sink
from tests.faults.test_worker_faults import QUIET_S, assert_serves, emit, folded, stories
from tests.support.factories import session_script
from tests.support.history import committed, end_offsets, produce, rows_per_event

pytestmark = [pytest.mark.kafka, pytest.mark.faults]

CHECK_S = 0.2
"""The guard's interval in these stories (5 s by default)."""


@pytest.fixture
def small_disk(tmp_path):
    """``(size in MiB) -> path`` of a tmpfs of that size mounted for this test, unmounted after."""
    mounted: list[Path] = []

    def mount(size_mib: int) -> Path:
        where = tmp_path / f"disk-{len(mounted)}"
        where.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mib}m", "tmpfs", str(where)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.fail(f"these stories need a small real filesystem: mount -t tmpfs failed "
                        f"({done.stderr.strip()}); run them as root")
        mounted.append(where)
        return where

    try:
        yield mount
    finally:
        for where in reversed(mounted):
            if subprocess.run(["umount", str(where)], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", str(where)], capture_output=True)


def fill_below(disk: Path, threshold_mib: int, under_mib: int = 8) -> Path:
    """Write a ballast file so that ``under_mib`` MiB less than the threshold stay free."""
    ballast = disk / "ballast"
    size = shutil.disk_usage(disk).free - (threshold_mib - under_mib) * MIB
    assert size > 0, f"{disk} has less than {threshold_mib} MiB free before any ballast"
    chunk = b"\0" * MIB
    with open(ballast, "wb") as out:
        for _ in range(size // MIB):
            out.write(chunk)
        out.write(b"\0" * (size % MIB))
    return ballast


def guarded_settings(test_settings, state_dir: Path, min_free_mib: int):
    return load_settings(
        state_dir=state_dir, bootstrap_servers=test_settings.bootstrap_servers,
        session_topic=test_settings.session_topic, ops_topic=test_settings.ops_topic,
        dead_letter_topic=test_settings.dead_letter_topic, partitions=test_settings.partitions,
        disk_min_free_mb=min_free_mib, disk_min_free_fraction=0, disk_resume_margin_mb=4,
        disk_check_interval_s=CHECK_S, warehouse_http_port=0,
    )


def metric(worker, name: str) -> dict[str, float]:
    """Samples of one metric of the worker: labels text -> value."""
    status, text = worker.get("/metrics")
    assert status == 200
    found = {}
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            labels, _, value = line.rpartition(" ")
            found[labels[len(name):]] = float(value)
    return found


def test_a_worker_on_a_full_disk_holds_its_intake_and_folds_everything_once_space_returns(
        test_settings, small_disk, tmp_path):
    disk = small_disk(512)
    settings = guarded_settings(test_settings, disk / "state", min_free_mib=128)
    events = stories(60, seed=11)
    worker = WorkerProcess(settings, web_port=free_port(), worker_id="disk-worker", log_path=tmp_path / "worker.log",
                           heartbeat_timeout_s=QUIET_S, reservation_timeout_s=QUIET_S, stall_after_s=1)
    worker.env["LEDGER_API_MAX_REQUESTS_PER_S"] = "100000"  # the checks ask for every key
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all", linger_ms=5)
    try:
        worker.start().wait_ready(timeout_s=120, partitions={0, 1, 2})
        ballast = fill_below(disk, threshold_mib=128)

        def disk_low():
            status, body = worker.get("/health")
            return body if status == 503 and body["status"] == "disk_low" else None

        health = wait_until(disk_low, 60, "/health answering 503 disk_low")
        datadir = str(disk / "state" / "worker" / "disk-worker")
        assert health["disk"]["path"] == datadir
        assert health["disk"]["threshold_bytes"] == 128 * MIB
        assert health["disk"]["free_bytes"] < 128 * MIB
        assert metric(worker, "ledger_disk_guard_paused") == {"": 1.0}
        assert metric(worker, "ledger_disk_free_bytes")[f'{{path="{datadir}"}}'] < 128 * MIB

        emit(producer, settings.session_topic, events)
        # The held worker knows messages wait (its last fetch saw some of them), so a stall could be
        # declared were the hold not known to the stall watch.
        wait_until(lambda: sum(metric(worker, "ledger_consumer_lag").values()) > 0, 60,
                   "the worker seeing events waiting")
        time.sleep(3.0)  # three times --stall-after: a stall would have been declared by now
        assert folded(worker) == 0  # nothing taken while the disk is low
        assert metric(worker, "ledger_intake_stalled_seconds") == {"": 0.0}  # held, not stalled
        assert disk_low()
        status, live = worker.get("/health/live")
        assert (status, live["status"]) == (200, "disk_low")  # a liveness probe leaves it running

        ballast.unlink()
        wait_until(lambda: worker.get("/health")[0] == 200, 60, "/health answering 200 again")
        wait_until(lambda: folded(worker) == len(events), 60, "every event folded")
        assert_serves(worker, events)
        assert folded(worker, "duplicate") == 0
        assert metric(worker, "ledger_disk_guard_paused") == {"": 0.0}
        log = (tmp_path / "worker.log").read_text()
        assert "worker: disk low at" in log and "worker: disk space back at" in log
        assert "intake stalled" not in log
    finally:
        producer.close()
        worker.kill()


def test_a_sink_on_a_full_disk_writes_and_commits_nothing_and_stores_everything_once_space_returns(
        test_settings, small_disk):
    disk = small_disk(256)
    settings = guarded_settings(test_settings, disk / "state", min_free_mib=96)
    before, during = sessions(20), sessions(40)
    group = f"sink-disk-{uuid.uuid4().hex[:8]}"
    stop = threading.Event()
    outcome: dict = {}
    sink = threading.Thread(target=lambda: outcome.update(stats=run_sink(
        settings, stop=stop, group_id=group, batch_max_events=100, batch_max_wait_s=0.2)), daemon=True)
    sink.start()
    try:
        produce(settings, before)
        wait_until(lambda: committed(settings, group) == end_offsets(settings), 90, "the first events committed")
        offsets_before = committed(settings, group)
        owner = read_owner(settings.state_dir)
        assert status_of(owner.url) == (200, "ok")

        ballast = fill_below(disk, threshold_mib=96)
        wait_until(lambda: status_of(owner.url)[1] == "disk_low", 60, "the owner's /status saying disk_low")
        code, body = fetch_status(owner.url)
        assert code == 503
        assert body["role"] == "sink" and body["disk"]["path"] == str(settings.chdb_path)
        assert body["disk"]["free_bytes"] < body["disk"]["threshold_bytes"] == 96 * MIB

        produce(settings, during)
        time.sleep(2.0)  # ten readings of the guard and many polls of the sink
        assert committed(settings, group) == offsets_before  # nothing written, nothing committed

        ballast.unlink()
        wait_until(lambda: committed(settings, group) == end_offsets(settings), 90,
                   "the events held back committed")
        assert status_of(owner.url) == (200, "ok")
    finally:
        stop.set()
        sink.join(timeout=60)
    assert outcome["stats"].disk_pauses == 1
    everything = len(before) + len(during)
    with ChdbWarehouse(settings.chdb_path) as warehouse:
        assert rows_per_event(warehouse, "session_events") == (everything, everything)


def sessions(count: int):
    return [event for _ in range(count) for event in session_script(heartbeats=3)]


def fetch_status(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url + "/status", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def status_of(url: str) -> tuple[int, str]:
    code, body = fetch_status(url)
    return code, body["status"]
