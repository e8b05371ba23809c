"""Emit-to-visible lag through the worker's API: probes polled concurrently, soonest due first.

A probe is one emitted event (session id, seq, when it was sent); the prober asks
GET /sessions/{id} for it every ``poll_s`` until the session's last_seq reaches the seq, or
gives up after ``give_up_s``. Probes are kept in a heap by when each is next due, so a slow
probe never holds up the ones behind it (a prober that waited for each probe in turn would
measure its own queue once the lag exceeded the gap between probes).
"""
from __future__ import annotations

import heapq
import http.client
import json
import queue
import threading
import time
from dataclasses import dataclass, field


@dataclass(order=True)
class Probe:
    due: float
    number: int
    session_id: str = field(compare=False)
    seq: int = field(compare=False)
    emitted_at: float = field(compare=False)


class Prober(threading.Thread):
    """Polls GET /sessions/{id} for each probe until its seq is visible; collects the lags in seconds."""

    def __init__(self, port: int, poll_s: float, give_up_s: float) -> None:
        super().__init__(name="lag-prober", daemon=True)
        self.port, self.poll_s, self.give_up_s = port, poll_s, give_up_s
        self.incoming: queue.SimpleQueue[Probe] = queue.SimpleQueue()
        self.lags: list[float] = []
        self.missed = 0
        self.errors = 0
        self.requests = 0
        self.throttled = 0
        self.emitting_done = threading.Event()
        self._connection: http.client.HTTPConnection | None = None

    def add(self, number: int, session_id: str, seq: int, emitted_at: float) -> None:
        self.incoming.put(Probe(emitted_at, number, session_id, seq, emitted_at))

    def run(self) -> None:
        pending: list[Probe] = []
        while True:
            while not self.incoming.empty():
                heapq.heappush(pending, self.incoming.get())
            if not pending:
                if self.emitting_done.is_set() and self.incoming.empty():
                    break
                time.sleep(0.001)
                continue
            wait = pending[0].due - time.monotonic()
            if wait > 0:
                time.sleep(min(wait, 0.002))
                continue
            probe = heapq.heappop(pending)
            seen = self._last_seq(probe.session_id)
            now = time.monotonic()
            if seen is not None and seen >= probe.seq:
                self.lags.append(now - probe.emitted_at)
            elif now - probe.emitted_at > self.give_up_s:
                self.missed += 1
            else:
                probe.due = now + self.poll_s
                heapq.heappush(pending, probe)
        if self._connection is not None:
            self._connection.close()

    def _last_seq(self, session_id: str) -> int | None:
        self.requests += 1
        try:
            if self._connection is None:
                self._connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            self._connection.request("GET", f"/sessions/{session_id}")
            response = self._connection.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException):
            self.errors += 1
            if self._connection is not None:
                self._connection.close()
            self._connection = None
            return None
        if response.status == 429:
            self.throttled += 1
        if response.status != 200:
            return None
        return json.loads(body)["last_seq"]
