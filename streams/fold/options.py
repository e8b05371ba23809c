"""How one worker runs: its identity, its web port, its store, and the clocked checks it makes.

Topic names, the broker and the state directory come from ``Settings``; what is particular to
one worker process (which port it serves on, where its tables live) comes from here.
"""
from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

from streams.fold.errors import BadWorkerOption
from streams.settings import Settings

STORES = ("rocksdb", "memory")


@dataclass(frozen=True)
class WorkerOptions:
    web_port: int = 6066
    worker_id: str = "worker-1"
    store: str = "rocksdb"
    heartbeat_timeout_s: int = 30
    """A live session with no sign of life for this long gets a timed_out event."""
    reservation_timeout_s: int = 60
    """A session requested and not started for this long gets a timed_out event (matchmaking
    never placed it: its end reason is reservation_timed_out)."""
    timeout_check_interval_s: float = 30.0
    """How often the worker looks for timed-out sessions."""
    spike_threshold: int = 50
    """Accepted disconnects in one region in one minute that make a disconnect spike."""
    finished_retention_s: float = 6 * 3600.0
    """How long a finished (ended or timed-out) session's record stays in the live table after
    the worker saw it finish; 0 keeps them for ever. Its history stays in ClickHouse."""
    stall_after_s: float = 30.0
    """No run folded for this long while messages wait makes the intake stalled (stall.py)."""
    web_host: str = "127.0.0.1"
    """The address the HTTP API listens on."""
    burn_check_interval_s: float = 30.0
    """How often the SLO burn-rate alerts are evaluated (docs/metrics.md, "Burn-rate alerts")."""
    burn_min_events: int = 100
    """Events an alert's long window must hold before it may open: a quiet region does not page."""

    def __post_init__(self) -> None:
        if self.store not in STORES:
            raise BadWorkerOption("store", self.store, f"one of {', '.join(STORES)}")
        if not self.worker_id or "/" in self.worker_id:
            raise BadWorkerOption("worker_id", self.worker_id, "a non-empty name without '/'")
        for name in ("heartbeat_timeout_s", "reservation_timeout_s", "timeout_check_interval_s",
                     "spike_threshold", "stall_after_s", "burn_check_interval_s",
                     "burn_min_events"):
            if getattr(self, name) <= 0:
                raise BadWorkerOption(name, getattr(self, name), "a positive number")
        if self.finished_retention_s < 0:
            raise BadWorkerOption("finished_retention_s", self.finished_retention_s,
                                  "0 (keep for ever) or a positive number of seconds")

    @property
    def eviction_interval_s(self) -> float:
        """How often finished sessions due for removal are looked for: a tenth of the retention,
        between 1 s and 5 minutes."""
        return max(1.0, min(300.0, self.finished_retention_s / 10))

    @property
    def url(self) -> str:
        """Where other workers reach this one's HTTP API: its listen address, or this host's name
        when it listens on every address (0.0.0.0, ::)."""
        host = socket.gethostname() if self.web_host in ("0.0.0.0", "::") else self.web_host
        return f"http://[{host}]:{self.web_port}" if ":" in host else f"http://{host}:{self.web_port}"

    def datadir(self, settings: Settings) -> Path:
        """Where this worker keeps its tables: one directory per worker id."""
        return settings.state_dir / "worker" / self.worker_id


def app_id(settings: Settings) -> str:
    """The consumer group and changelog prefix: one ledger per session topic."""
    return f"ledger-{settings.session_topic}"


TABLES = ("sessions", "players", "disconnects")
"""The worker's tables (streams/fold/app.py), each backed by a changelog topic."""


def repartition_topics(settings: Settings) -> tuple[str, str]:
    """The worker's internal topics: player updates keyed by player, disconnects keyed by region."""
    name = app_id(settings)
    return f"{name}-player-updates", f"{name}-disconnects"


def worker_topics(settings: Settings, partitions: int):
    """Name -> spec of every topic the worker creates besides the ledger's: the repartition topics
    keep a handoff for ``internal_retention_ms`` (they only carry it from one agent to the next),
    the changelogs are compacted with no time limit (each is its table's snapshot).
    Returns name -> ``streams.kafka.topics.TopicSpec``."""
    from streams.kafka.topics import TopicSpec, compacted, deleting

    internal = {name: TopicSpec(partitions, deleting(settings.internal_retention_ms, settings))
                for name in repartition_topics(settings)}
    changelogs = {f"{app_id(settings)}-{table}-changelog": TopicSpec(partitions, compacted(settings))
                  for table in TABLES}
    return {**internal, **changelogs}
