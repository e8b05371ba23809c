"""What every benchmark needs: a clock, peak memory, one measurement per process, JSON results."""
from __future__ import annotations

import gc
import json
import os
import resource
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from schemas.models import SessionEvent

T0 = datetime(2025, 3, 14, 12, 0, tzinfo=timezone.utc)
"""The instant synthetic events start at."""


@dataclass
class Stopwatch:
    """Seconds between ``start`` and ``stop``, read with ``seconds``."""

    started: float = 0.0
    stopped: float | None = None
    laps: dict[str, float] = field(default_factory=dict)

    def start(self) -> Stopwatch:
        self.started, self.stopped = time.perf_counter(), None
        return self

    def lap(self, name: str) -> None:
        self.laps[name] = time.perf_counter() - self.started

    def stop(self) -> float:
        self.stopped = time.perf_counter()
        return self.seconds

    @property
    def seconds(self) -> float:
        end = self.stopped if self.stopped is not None else time.perf_counter()
        return end - self.started


@contextmanager
def timed() -> Iterator[Stopwatch]:
    """``with timed() as clock: ...`` then ``clock.seconds``."""
    clock = Stopwatch().start()
    try:
        yield clock
    finally:
        clock.stop()


def per_second(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else float("inf")


def cpu_us_per_event(cpu_s: float, events: int) -> float | None:
    """Process CPU (user + system) microseconds per event; None when no event was counted."""
    return round(cpu_s / events * 1e6, 2) if events > 0 else None


def process_cpu_s() -> float:
    """User + system CPU seconds of this whole process so far (every thread)."""
    return time.process_time()


def freeze_fixture() -> None:
    """Take everything alive now (the bench's pre-built input) out of the garbage collector's sight.

    A bench that holds its whole input in memory (hundreds of thousands of event models) makes
    every full collection during the measurement walk that input: its cost belongs to the
    fixture, not to what is measured, and it landed on whichever side happened to trigger a
    full collection. Call once the input is built, before the clock starts; objects made
    afterwards are collected as usual.
    """
    gc.collect()
    gc.freeze()


def peak_rss_mib() -> float:
    """The highest resident set size this process has had, in MiB (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def run_measurement(module: str, args: Sequence[str], *, timeout_s: float = 900.0) -> dict[str, Any]:
    """Run ``python -m module args`` in a fresh process and return the JSON object it prints last.

    One measurement per process keeps peak memory honest and stops one run warming the next.
    """
    done = subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=timeout_s,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"measurement `{module} {' '.join(args)}` exited {done.returncode}:\n{done.stderr[-3000:]}"
        )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"measurement `{module}` printed no JSON result:\n{done.stdout[-2000:]}")
    return json.loads(lines[-1])


def emit_result(result: dict[str, Any], *, as_json: bool, out: Path | None = None) -> None:
    """Print a result (one JSON line, or aligned ``key: value`` lines) and optionally save it."""
    text = json.dumps(result, sort_keys=True)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
    if as_json:
        print(text, flush=True)
        return
    width = max(map(len, result), default=0)
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")


def open_private_worker_api() -> None:
    """The worker a benchmark starts is private to its run: its API needs no token, and the
    prober (one client asking hundreds of times a second) must not be throttled into false lag.
    Set before the worker process starts (it inherits the environment)."""
    for name in ("LEDGER_API_TOKEN", "LEDGER_API_TOKEN_FILE"):
        os.environ.pop(name, None)
    os.environ["LEDGER_API_MAX_REQUESTS_PER_S"] = "1000000"


_PAYLOADS = {
    "requested": {"game_mode": "ranked", "matchmaking_ticket": None},
    "started": {"server_id": "gs-eu-1", "game_mode": "ranked", "queue_ms": 2000},
    "heartbeat": {"latency_ms": 40, "packet_loss_pct": 0.5},
    "ended": {"reason": "normal"},
}


def event_template(kind: str) -> SessionEvent:
    """One valid event of ``kind``, the fields the benchmark does not vary filled in."""
    return SessionEvent.model_validate({
        "event_id": str(uuid.uuid4()), "session_id": str(uuid.uuid4()), "player_id": "player-0",
        "seq": 1, "occurred_at": datetime(2025, 1, 1, tzinfo=timezone.utc), "producer": "bench",
        "platform": "pc", "region": "eu-west", "build": "1.0.0", "cross_play": True,
        "input_method": "keyboard_mouse", "event_type": kind, "payload": _PAYLOADS[kind],
    })
