"""Emit-to-visible lag through the worker's API, asking only for the oldest probe of each partition.

A probe is one emitted event (its partition, session id, seq, and when it was sent); the prober
asks GET /sessions/{id} for it every ``poll_s`` until the session's last_seq reaches the seq, or
gives up after ``give_up_s``.

The worker folds each partition in offset order and writes a run's sessions when the run ends,
so within one partition a later probe never becomes visible before an earlier one. Only the
oldest pending probe of each partition is asked for, then; once it is seen, the next one of
its partition is asked for at once. The load the prober puts on the worker is so bounded by the
partition count (at most ``partitions / poll_s`` requests a second), whatever the event rate and
however large the lag, and every probe is still seen within ``poll_s`` plus one request of the
moment it became visible. (Asking for every pending probe in turn made the request rate grow
with the lag, and the worker's event loop, which also folds, slowed down under it.)

A prober made without ``partitions`` does not know where the probes are and asks for every
pending one in turn, each every ``poll_s``.
"""
from __future__ import annotations

import heapq
import http.client
import json
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass

from streams.kafka.partitioner import partition_of


@dataclass(frozen=True)
class Probe:
    number: int
    partition: int
    session_id: str
    seq: int
    emitted_at: float
    """``time.monotonic()`` when ``emit`` returned (the clock is the same in every process)."""


class PartitionHeads:
    """Pending probes per partition, in emission order, and when each partition's oldest is due.

    The pure part of the prober: ``next_due`` names the partition to ask about next, and
    ``seen`` / ``not_yet`` record the answer.
    """

    def __init__(self, poll_s: float, give_up_s: float) -> None:
        self.poll_s, self.give_up_s = poll_s, give_up_s
        self._pending: dict[int, deque[Probe]] = {}
        self._due: list[tuple[float, int]] = []  # (due, partition) of each partition with a probe
        self.lags: list[float] = []
        self.missed = 0

    def __len__(self) -> int:
        return sum(len(probes) for probes in self._pending.values())

    def add(self, probe: Probe) -> None:
        probes = self._pending.setdefault(probe.partition, deque())
        probes.append(probe)
        if len(probes) == 1:
            heapq.heappush(self._due, (probe.emitted_at, probe.partition))

    def next_due(self) -> tuple[float, Probe] | None:
        """When the next question is due, and the probe it is about (None: nothing pending)."""
        if not self._due:
            return None
        due, partition = self._due[0]
        return due, self._pending[partition][0]

    def answered(self, probe: Probe, last_seq: int | None, now: float) -> None:
        """Record the answer for ``probe`` (the head of its partition) given at ``now``."""
        heapq.heappop(self._due)
        probes = self._pending[probe.partition]
        if last_seq is not None and last_seq >= probe.seq:
            self.lags.append(now - probe.emitted_at)
        elif now - probe.emitted_at > self.give_up_s:
            self.missed += 1
        else:
            heapq.heappush(self._due, (now + self.poll_s, probe.partition))
            return
        probes.popleft()
        if probes:
            heapq.heappush(self._due, (now, probe.partition))  # the next one may be visible already


class Prober(threading.Thread):
    """Polls GET /sessions/{id} for the probes (see the module doc); collects the lags in seconds."""

    def __init__(self, port: int, poll_s: float, give_up_s: float, partitions: int | None = None) -> None:
        super().__init__(name="lag-prober", daemon=True)
        self.port = port
        self.partitions = partitions
        self.heads = PartitionHeads(poll_s, give_up_s)
        self.incoming: queue.SimpleQueue[Probe] = queue.SimpleQueue()
        self.errors = 0
        self.requests = 0
        self.throttled = 0
        self.emitting_done = threading.Event()
        self._connection: http.client.HTTPConnection | None = None

    @property
    def lags(self) -> list[float]:
        return self.heads.lags

    @property
    def missed(self) -> int:
        return self.heads.missed

    def add(self, number: int, session_id: str, seq: int, emitted_at: float) -> None:
        """Probe event ``number``, of ``session_id`` with ``seq``, emitted at ``emitted_at``."""
        if self.partitions is None:
            partition = -1 - number  # a partition of its own: asked for beside every other
        else:
            partition = partition_of(session_id, self.partitions)
        self.incoming.put(Probe(number, partition, session_id, seq, emitted_at))

    def run(self) -> None:
        heads = self.heads
        while True:
            while not self.incoming.empty():
                heads.add(self.incoming.get())
            head = heads.next_due()
            if head is None:
                if self.emitting_done.is_set() and self.incoming.empty():
                    break
                time.sleep(0.001)
                continue
            due, probe = head
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(min(wait, 0.002))
                continue
            seen = self._last_seq(probe.session_id)
            heads.answered(probe, seen, time.monotonic())
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
