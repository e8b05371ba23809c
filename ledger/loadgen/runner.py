"""Send a planned load through a ``SessionEmitter`` at a pace: simulated time compressed into wall time.

Event ``i``, planned ``s`` simulated seconds into the run, is due ``s / time_scale`` wall seconds
after the start, and never sooner than ``i / max_rate`` seconds (when a rate is given). Events
due together are sent together; between them the runner sleeps. The clock and the sleep are
passed in, so a test can run a plan without waiting.
"""
from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TextIO

from ledger.loadgen.errors import BadLoadOption
from ledger.loadgen.generator import LoadPlan
from schemas.models import SessionEvent

Progress = Callable[[int, int], None]
"""Called as ``progress(sent, total)`` while the load runs."""


@dataclass(frozen=True)
class LoadStats:
    """What a run sent, and how fast."""

    events: int
    session_events: int
    ops_events: int
    by_type: dict[str, int]
    sessions: int
    players: int
    wall_s: float
    simulated_s: float

    @property
    def rate(self) -> float:
        """Events per wall second achieved."""
        return self.events / self.wall_s if self.wall_s > 0 else 0.0

    def as_dict(self) -> dict:
        return {
            "events": self.events, "session_events": self.session_events, "ops_events": self.ops_events,
            "by_type": dict(self.by_type), "sessions": self.sessions, "players": self.players,
            "wall_s": round(self.wall_s, 3), "simulated_s": self.simulated_s,
            "rate_events_per_s": round(self.rate, 1),
        }


@dataclass
class Pace:
    """How simulated time maps onto wall time."""

    time_scale: float = 60.0
    """Simulated seconds per wall second."""
    max_rate: float | None = None
    """At most this many events per wall second (None: as the time scale dictates)."""
    tick_s: float = 0.01
    """Never sleep less than this: events due within a tick are sent together."""
    clock: Callable[[], float] = field(default=time.monotonic)
    sleep: Callable[[float], None] = field(default=time.sleep)

    def __post_init__(self) -> None:
        if self.time_scale <= 0:
            raise BadLoadOption("--time-scale", self.time_scale, "a positive number of simulated seconds per second")
        if self.max_rate is not None and self.max_rate <= 0:
            raise BadLoadOption("--rate", self.max_rate, "a positive number of events per second")

    @classmethod
    def for_rate(cls, plan: LoadPlan, rate: float, time_scale: float | None = None) -> Pace:
        """A pace that averages ``rate`` events/s, unless a time scale is given (then ``rate`` caps it)."""
        if rate <= 0:
            raise BadLoadOption("--rate", rate, "a positive number of events per second")
        if time_scale is None:
            time_scale = plan.duration_s * rate / max(1, len(plan.events))
        return cls(time_scale=time_scale, max_rate=rate)


def summarize(plan: LoadPlan, sent: int, wall_s: float) -> LoadStats:
    """The stats of the first ``sent`` events of ``plan``."""
    events = plan.events[:sent]
    by_type = Counter(event.event_type.value for event in events)
    sessions = {e.session_id for e in events if type(e) is SessionEvent}
    players = {e.player_id for e in events if type(e) is SessionEvent}
    session_events = sum(1 for e in events if type(e) is SessionEvent)
    return LoadStats(
        events=sent, session_events=session_events, ops_events=sent - session_events,
        by_type=dict(sorted(by_type.items(), key=lambda item: -item[1])),
        sessions=len(sessions), players=len(players), wall_s=wall_s, simulated_s=plan.duration_s,
    )


def run_load(plan: LoadPlan, emitter, pace: Pace, *, progress: Progress | None = None,
             stop: Callable[[], bool] = lambda: False, flush_timeout_s: float = 60.0) -> LoadStats:
    """Emit ``plan.events`` through ``emitter`` (anything with ``emit`` and ``flush``) at ``pace``.

    Returns once every event was emitted and acknowledged (or spooled: ``flush`` raises
    ``BrokerUnreachable`` then), or ``stop()`` turned true; the stats cover what was sent.
    """
    start_ms = plan.start.timestamp() * 1000
    total = len(plan.events)
    began = pace.clock()
    sent = 0
    while sent < total and not stop():
        now = pace.clock() - began
        while sent < total and _due(plan, sent, start_ms, pace) <= now + pace.tick_s:
            emitter.emit(plan.events[sent])
            sent += 1
        if progress is not None:
            progress(sent, total)
        if sent < total:
            wait = _due(plan, sent, start_ms, pace) - (pace.clock() - began)
            pace.sleep(max(pace.tick_s, wait))
    emitter.flush(flush_timeout_s)
    return summarize(plan, sent, pace.clock() - began)


def _due(plan: LoadPlan, index: int, start_ms: float, pace: Pace) -> float:
    offset_s = (plan.events[index].occurred_at.timestamp() * 1000 - start_ms) / 1000
    due = offset_s / pace.time_scale
    if pace.max_rate is not None:
        due = max(due, index / pace.max_rate)
    return due


def write_jsonl(plan: LoadPlan, sink: TextIO | Path) -> int:
    """Write the plan as JSON lines ``ledger emit`` accepts; returns the number of lines."""
    if isinstance(sink, Path):
        with sink.open("w", encoding="utf-8") as handle:
            return write_jsonl(plan, handle)
    for event in plan.events:
        sink.write(json.dumps(event.model_dump(mode="json"), separators=(",", ":")) + "\n")
    return len(plan.events)
