"""Running the ledger command line as a user would, as a child process."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ledger.procfs import alive

REPO = Path(__file__).resolve().parents[2]
LEDGER = [sys.executable, "-m", "ledger.cli"]


def ledger(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*LEDGER, *args], input=stdin, env=env,
                          capture_output=True, text=True, timeout=120, cwd=REPO)


def run_ledger(*args: str, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([*LEDGER, *args], env=env, capture_output=True, text=True, timeout=timeout)


KEPT = ("LEDGER_HEARTBEAT_TTL_DAYS", "LEDGER_LIFECYCLE_TTL_DAYS")
"""LEDGER_* variables the test suite sets for every process (tests/conftest.py: TTLs off)."""


def outside_env() -> dict[str, str]:
    """This process's environment without its LEDGER_* variables, but for the suite's own (``KEPT``)."""
    return {key: value for key, value in os.environ.items() if not key.startswith("LEDGER_") or key in KEPT}


def settings_env(settings) -> dict[str, str]:
    env = outside_env()
    env.update(LEDGER_STATE_DIR=str(settings.state_dir), LEDGER_BOOTSTRAP_SERVERS=settings.bootstrap_servers,
               LEDGER_SESSION_TOPIC=settings.session_topic, LEDGER_OPS_TOPIC=settings.ops_topic,
               LEDGER_DEAD_LETTER_TOPIC=settings.dead_letter_topic, LEDGER_ERASURE_TOPIC=settings.erasure_topic)
    return env


process_running = alive
"""Whether a process the test started is still running (not a zombie)."""
