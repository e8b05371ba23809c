"""The smoke round trip: events through the real broker into real chDB and counted back."""
from __future__ import annotations

import subprocess
import sys

from ledger.smoke import run_smoke


def test_events_round_trip_through_kafka_into_clickhouse_exactly_once(kafka_broker, new_topic, warehouse):
    topic = new_topic(partitions=3)

    result = run_smoke(kafka_broker.bootstrap, topic, warehouse, sessions=12)

    assert result.produced == 60
    assert result.consumed == 60
    assert result.decoded_equal
    assert result.rows_in_history == 60  # written twice under one token, stored once
    assert result.ok


def test_smoke_command_round_trips_and_exits_zero(test_settings, tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LEDGER_STATE_DIR": str(test_settings.state_dir),
        "LEDGER_BOOTSTRAP_SERVERS": test_settings.bootstrap_servers,
        "LEDGER_SESSION_TOPIC": test_settings.session_topic,
    }
    result = subprocess.run([sys.executable, "-m", "ledger.cli", "smoke", "--sessions", "4", "--json"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert '"rows_in_history": 20' in result.stdout


def test_smoke_against_an_unreachable_broker_says_how_to_start_one(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LEDGER_STATE_DIR": str(tmp_path / "s"),
           "LEDGER_BOOTSTRAP_SERVERS": "127.0.0.1:1"}
    result = subprocess.run([sys.executable, "-m", "ledger.cli", "smoke"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 3
    assert "127.0.0.1:1 did not answer" in result.stderr
    assert "ledger stack up" in result.stderr
