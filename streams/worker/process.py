"""A worker in a child process of its own: started, probed over HTTP, and killed for good.

Tests, benchmarks and the demo run workers this way. A Faust worker may ignore SIGTERM while
it starts or rebalances, so ``kill`` sends SIGKILL to the child's whole process group.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from streams.settings import Settings
from streams.worker.errors import WorkerError


class WorkerNotReady(WorkerError):
    def __init__(self, url: str, waited_s: float, log_path: Path, tail: str) -> None:
        super().__init__(
            f"worker at {url} was not ready after {waited_s:.0f}s; its log {log_path} ends with:\n{tail}"
        )


def settings_env(settings: Settings) -> dict[str, str]:
    """The LEDGER_* variables that give a child process these settings."""
    return {
        "LEDGER_STATE_DIR": str(settings.state_dir),
        "LEDGER_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "LEDGER_SESSION_TOPIC": settings.session_topic,
        "LEDGER_OPS_TOPIC": settings.ops_topic,
        "LEDGER_DEAD_LETTER_TOPIC": settings.dead_letter_topic,
        "LEDGER_PARTITIONS": str(settings.partitions),
    }


class WorkerProcess:
    def __init__(
        self, settings: Settings, *, web_port: int, worker_id: str = "worker-1",
        store: str = "rocksdb", log_path: Path | None = None, **options: Any,
    ) -> None:
        self.settings = settings
        self.web_port = web_port
        self.worker_id = worker_id
        self.store = store
        self.options = options
        self.log_path = log_path or settings.state_dir / f"{worker_id}.log"
        self.url = f"http://127.0.0.1:{web_port}"
        self._process: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> WorkerProcess:
        args = [sys.executable, "-m", "streams.worker", "--web-port", str(self.web_port),
                "--worker-id", self.worker_id, "--store", self.store, "--loglevel", "info"]
        for name, value in self.options.items():
            args += [f"--{name.replace('_', '-')}", str(value)]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        try:
            self._process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, **settings_env(self.settings)}, start_new_session=True,
                cwd=Path(__file__).resolve().parents[2],
            )
        finally:
            log.close()
        return self

    def kill(self) -> None:
        """SIGKILL the worker's process group and reap it (a no-op if it is not running)."""
        if self._process is None:
            return
        try:
            os.killpg(self._process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._process.wait(timeout=30)
        self._process = None

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def get(self, path: str, timeout_s: float = 5.0) -> tuple[int, Any]:
        """``(status, parsed JSON or text)`` of a GET on the worker's API."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout_s) as response:
                status, body = response.status, response.read()
                kind = response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as error:
            status, body, kind = error.code, error.read(), error.headers.get("Content-Type", "")
        text = body.decode()
        return status, json.loads(text) if "json" in kind else text

    def health(self) -> dict | None:
        try:
            status, body = self.get("/health", timeout_s=2.0)
        except (OSError, ValueError):
            return None
        return body if status == 200 else None

    def wait_ready(self, timeout_s: float = 90.0, partitions: set[int] | None = None) -> dict:
        """Wait until the worker is recovered and (if given) owns exactly ``partitions``."""
        start = time.monotonic()
        while time.monotonic() - start < timeout_s:
            if not self.alive():
                break
            health = self.health()
            if health and (partitions is None or set(health["partitions"]) == partitions):
                return health
            time.sleep(0.3)
        raise WorkerNotReady(self.url, time.monotonic() - start, self.log_path, self.log_tail())

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()


def wait_until(check, *, timeout_s: float, interval_s: float = 0.3, what: str = "condition"):
    """Call ``check()`` until it returns something truthy; return that, or raise TimeoutError."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval_s)
    raise TimeoutError(f"{what} not reached in {timeout_s:.0f}s (last: {last!r})")
