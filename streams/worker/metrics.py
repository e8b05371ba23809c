"""The worker's Prometheus metrics, in a registry of its own (one per app, so tests can build several)."""
from __future__ import annotations

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
        self.player_updates = Counter(
            "ledger_player_updates", "Player updates folded, by outcome (applied, duplicate).",
            ["outcome"], registry=r)
        self.table_size = Gauge(
            "ledger_table_keys", "Keys held by this worker's tables (active partitions).",
            ["table"], registry=r)
        self.lag = Gauge(
            "ledger_consumer_lag", "Messages of the session topic not yet read, by partition.",
            ["partition"], registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
