"""A worker in a child process of its own: started, probed over HTTP, and killed for good.

Tests, benchmarks and the demo run workers this way. A Faust worker may ignore SIGTERM while
it starts or rebalances, so ``kill`` sends SIGKILL to the child's whole process group.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from ledger.child import ChildProcess, settings_env
from schemas.errors import Unavailable
from streams.fold.errors import WorkerError
from streams.settings import Settings


class WorkerNotReady(WorkerError, Unavailable):
    """The worker child process did not answer its health check in time."""

    def __init__(self, url: str, waited_s: float, log_path: Path, tail: str) -> None:
        super().__init__(
            f"worker at {url} was not ready after {waited_s:.0f}s; its log {log_path} ends with:\n{tail}"
        )


class WorkerProcess(ChildProcess):
    def __init__(
        self, settings: Settings, *, web_port: int, worker_id: str = "worker-1",
        store: str = "rocksdb", log_path: Path | None = None, **options: Any,
    ) -> None:
        args = ["-m", "streams.fold", "--web-port", str(web_port), "--worker-id", worker_id,
                "--store", store, "--loglevel", "info"]
        for name, value in options.items():
            args += [f"--{name.replace('_', '-')}", str(value)]
        super().__init__(args, log_path or settings.state_dir / f"{worker_id}.log",
                         env=settings_env(settings))
        self.settings = settings
        self.web_port = web_port
        self.worker_id = worker_id
        self.url = f"http://127.0.0.1:{web_port}"

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
