"""The three-node local stack through `ledger stack up --brokers 3`, `status` and `down`."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from streams.kafka.replication import session_topic_warnings
from streams.settings import load_settings
from tests.support.cli import process_running, run_ledger, outside_env

pytestmark = [pytest.mark.kafka, pytest.mark.faults]


def test_stack_up_brokers_3_runs_a_replicated_cluster_that_status_describes_and_down_stops(tmp_path: Path,
                                                                                          cluster_ports):
    port, controller_port = cluster_ports()
    env = outside_env()
    env.update(LEDGER_STATE_DIR=str(tmp_path / "state"), LEDGER_BROKER_PORT=str(port),
               LEDGER_CONTROLLER_PORT=str(controller_port), LEDGER_BROKER_HEAP="384m")
    pids: list[int] = []
    try:
        up = run_ledger("stack", "up", "--brokers", "3", "--json", env=env)
        assert up.returncode == 0, up.stderr
        cluster = json.loads(up.stdout)["cluster"]
        pids = [node["pid"] for node in cluster["nodes"]]
        assert [node["bootstrap"] for node in cluster["nodes"]] == [f"127.0.0.1:{port + 2 * n}" for n in range(3)]
        assert sorted(json.loads(up.stdout)["topics_created"]) == ["ledger-dead-letter", "ledger-erasures",
                                                                   "ops-events", "session-events"]

        status = run_ledger("stack", "status", "--json", env=env)
        assert status.returncode == 0, status.stderr
        described = json.loads(status.stdout)
        assert described["registered_brokers"] == [1, 2, 3]
        assert described["retention"]["topics"]["session-events"]["retention.ms"] == str(7 * 24 * 3600 * 1000)
        assert described["quorum"]["leader"] in (1, 2, 3)
        assert sorted(v["node_id"] for v in described["quorum"]["voters"]) == [1, 2, 3]
        assert described["under_replicated"] == []

        settings = load_settings(state_dir=tmp_path / "state", broker_port=port, brokers=3)
        assert session_topic_warnings(settings) == []  # created with 3 replicas, min.insync 2
    finally:
        down = run_ledger("stack", "down", env=env)
    assert down.returncode == 0, down.stderr
    assert pids and not any(process_running(pid) for pid in pids), "a node outlived `stack down`"
    assert run_ledger("stack", "status", "--json", env=env).returncode == 3
