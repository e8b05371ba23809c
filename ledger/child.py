"""Child processes of the ledger's own commands (the demo's, the benchmarks' and the fault
tests' workers and sinks), each in a process group of its own so that stopping it stops
everything it started."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Self

from streams.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
KILL_WAIT_S = 30.0
"""How long a SIGKILLed child may take to be reaped."""


RETENTION_SETTINGS = ("session_retention_ms", "ops_retention_ms", "dead_letter_retention_ms", "internal_retention_ms",
                      "segment_ms", "segment_bytes", "heartbeat_ttl_days", "lifecycle_ttl_days")
"""Retention settings a child process takes from its parent, so both apply the same."""


def settings_env(settings: Settings, *, warehouse: bool = False) -> dict[str, str]:
    """The LEDGER_* variables that give a child process these settings (with ``warehouse``,
    also where the history is)."""
    env = {
        "LEDGER_STATE_DIR": str(settings.state_dir),
        "LEDGER_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "LEDGER_SESSION_TOPIC": settings.session_topic,
        "LEDGER_OPS_TOPIC": settings.ops_topic,
        "LEDGER_DEAD_LETTER_TOPIC": settings.dead_letter_topic,
        "LEDGER_ERASURE_TOPIC": settings.erasure_topic,
        "LEDGER_PARTITIONS": str(settings.partitions),
    }
    if settings.api_token is not None:  # the worker's API and the warehouse owner's reads want the same token
        env["LEDGER_API_TOKEN"] = settings.api_token.get_secret_value()
    for name in RETENTION_SETTINGS:
        env[f"LEDGER_{name.upper()}"] = str(getattr(settings, name))
    for name in ("disk_min_free_mb", "disk_min_free_fraction", "disk_resume_margin_mb", "disk_check_interval_s"):
        env[f"LEDGER_{name.upper()}"] = str(getattr(settings, name))
    if settings.erasure_pepper is not None:  # every reader must hash ids alike
        env["LEDGER_ERASURE_PEPPER"] = settings.erasure_pepper.get_secret_value()
    for name in ("replication_factor", "min_insync_replicas", "slo_file"):
        if getattr(settings, name) is not None:
            env[f"LEDGER_{name.upper()}"] = str(getattr(settings, name))
    if warehouse:
        env["LEDGER_CLICKHOUSE_PATH"] = str(settings.chdb_path)
        if settings.clickhouse_url is not None:
            env["LEDGER_CLICKHOUSE_URL"] = settings.clickhouse_url.get_secret_value()
    return env


class ChildProcess:
    """``python <args>`` run from the repository root, its output appended to ``log_path``.

    Its environment is this process's as it is when the child starts, without the variables
    starting with one of ``unset`` and with ``env`` added.
    """

    def __init__(self, args: list[str], log_path: Path, env: Mapping[str, str] | None = None,
                 unset: tuple[str, ...] = ()) -> None:
        self.args = args
        self.log_path = log_path
        self.env = dict(env or {})
        self.unset = unset
        self._process: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> Self:
        environ = {k: v for k, v in os.environ.items() if not (self.unset and k.startswith(self.unset))}
        environ.update(self.env)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, *self.args], stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, env=environ, start_new_session=True, cwd=ROOT,
            )
        return self

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def kill(self) -> None:
        """SIGKILL the process group, as a crash would, and reap the child (no-op when not running)."""
        process, self._process = self._process, None
        if process is None:
            return
        _signal_group(process, signal.SIGKILL)
        process.wait(timeout=KILL_WAIT_S)

    def stop(self, grace_s: float = 30.0) -> int | None:
        """SIGTERM the process group; SIGKILL it if the child has not exited after ``grace_s``.

        The child's exit code when it stopped on SIGTERM, None when it had to be killed or was
        not running.
        """
        process = self._process
        if process is None:
            return None
        _signal_group(process, signal.SIGTERM)
        try:
            code = process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            self.kill()
            return None
        self._process = None
        return code

    def wait(self, timeout_s: float) -> int | None:
        """The child's exit code once it exits by itself within ``timeout_s``; None if it runs on."""
        if self._process is None:
            return None
        try:
            return self._process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass


def wait_until(check, timeout_s: float, what: str = "condition", *, interval_s: float = 0.3):
    """Call ``check()`` until it returns something truthy; return that, or raise TimeoutError."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval_s)
    raise TimeoutError(f"{what} not reached in {timeout_s:.0f}s (last: {last!r})")
