"""The worker's Prometheus metrics, in a registry of its own (one per app, so tests can build several)."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.deliveries = Counter(
            "ledger_events_folded", "Session events delivered to the session fold, by outcome "
            "(applied, held behind a gap, duplicate).", ["outcome"], registry=r)
        self.dead_lettered = Counter(
            "ledger_dead_lettered", "Messages sent to the dead-letter topic, by reason.",
            ["reason"], registry=r)
        self.anomalies = Counter(
            "ledger_anomalies_detected", "anomaly_detected ops events appended, by kind.",
            ["kind"], registry=r)
        self.timeouts = Counter(
            "ledger_timeouts_appended", "timed_out events the worker appended to the session topic.",
            registry=r)
        self.evicted = Counter(
            "ledger_sessions_evicted", "Finished session records removed from the live table "
            "after the retention (their history stays in ClickHouse).", registry=r)
        self.erasures = Counter(
            "ledger_erasures_applied", "Player erasures this worker applied to its tables as they "
            "were recorded (those applied again on recovery are not counted).", registry=r)
        self.erased_updates = Counter(
            "ledger_erased_player_updates_dropped", "Player updates dropped because their player "
            "was erased after they were sent.", registry=r)
        self.player_updates = Counter(
            "ledger_player_updates", "Player updates folded, by outcome (applied, duplicate).",
            ["outcome"], registry=r)
        self.table_size = Gauge(
            "ledger_table_keys", "Keys held by this worker's tables (active and standby partitions; "
            "RocksDB's estimate).",
            ["table"], registry=r)
        self.stalled = Gauge(
            "ledger_intake_stalled_seconds", "Seconds since an agent last folded a run while "
            "messages wait and the worker is settled; 0 while the intake moves.", registry=r)
        self.slo_burn_rate = Gauge(
            "ledger_slo_burn_rate", "Burn rate of an SLO's error budget over a window (1 spends "
            "the budget exactly over the SLO's window), from this worker's events; NaN when the "
            "window holds no event.", ["slo", "window"], registry=r)
        self.slo_budget_remaining = Gauge(
            "ledger_slo_error_budget_remaining", "Share of an SLO's error budget left over its "
            "window (1 untouched, 0 spent, negative overspent), from this worker's events.",
            ["slo"], registry=r)
        self.slo_alerts = Counter(
            "ledger_slo_burn_alerts", "slo_burn ops events appended, by alert and state.",
            ["alert", "state"], registry=r)
        self.disk_free = Gauge(
            "ledger_disk_free_bytes", "Free bytes of the filesystem holding this worker's tables, as the "
            "disk guard last read them.", ["path"], registry=r)
        self.disk_paused = Gauge(
            "ledger_disk_guard_paused", "1 while the disk guard holds the intake (too little free space "
            "for the tables: nothing new is read, the lag grows), else 0.", registry=r)
        self.lag = Gauge(
            "ledger_consumer_lag", "Messages of the session topic not yet read, by partition.",
            ["partition"], registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)


log = logging.getLogger("streams.fold")


@dataclass
class Progress:
    """What the worker folded since its last progress line (a line in the log for on-call)."""

    sessions: int = 0
    players: int = 0
    since: float = field(default_factory=time.monotonic)

    def log(self, read_offsets: dict[int, int]) -> None:
        now = time.monotonic()
        if self.sessions or self.players:
            log.info("folded %d session event(s) and %d player update(s) in %.0f s; session topic "
                     "read to %s", self.sessions, self.players, now - self.since,
                     dict(sorted(read_offsets.items())))
        self.sessions = self.players = 0
        self.since = now
