"""The one settings object: `LEDGER_*` environment variables, an optional env file, local defaults.

Read once at the edge (the command line, a test fixture) and passed down explicitly; no other
module reads the environment.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


DAY_MS = 24 * 3600 * 1000


def _default_state_dir() -> Path:
    return Path.home() / ".local" / "state" / "session-ledger"


class Settings(BaseSettings):
    """Everything configurable, with defaults that make the local stack work unconfigured."""

    model_config = SettingsConfigDict(
        env_prefix="LEDGER_",
        env_file=None,
        extra="ignore",
        frozen=True,
    )

    state_dir: Path = Field(default_factory=_default_state_dir,
                            description="Where the broker's data and logs, chDB, spools and worker state live.")

    cache_dir: Path = Field(default_factory=lambda: Path.home() / ".cache" / "session-ledger",
                            description="Downloaded artefacts shared by every state directory (the Kafka jars).")

    # Kafka
    bootstrap_servers: str = Field(
        "", description="Kafka bootstrap servers, host:port[,host:port] (default: the local broker's port).")
    kafka_version: str = Field("3.9.1", description="Apache Kafka release the local stack runs.")
    broker_port: int = Field(9092, description="Client port of the local broker (127.0.0.1 only).")
    controller_port: int = Field(9093, description="KRaft controller port of the local broker (127.0.0.1 only).")
    broker_heap: str = Field("512m", description="Java heap of the local broker (-Xmx).")
    broker_retention_check_interval_ms: int = Field(
        300_000, ge=1000, description="How often the local broker deletes segments past their retention, ms.")
    broker_start_timeout_s: float = Field(60.0, description="How long `stack up` waits for the broker to answer.")
    maven_repo: Path | None = Field(None, description="Maven local repository (default: Maven's own, ~/.m2).")
    brokers: int = Field(1, ge=1, le=9, description="Nodes of the local stack (`ledger stack up --brokers N`); "
                                                    "node n listens on broker_port + 2(n-1).")

    # Replication: unset means derived from the cluster's broker count when a topic is created.
    replication_factor: int | None = Field(
        None, ge=1, description="Replicas of every topic the ledger creates (default: min(3, brokers)).")
    min_insync_replicas: int | None = Field(
        None, ge=1, description="min.insync.replicas of those topics (default: replication factor - 1, at least 1).")

    # Kafka security: PLAINTEXT locally; SASL/SCRAM and TLS for a real cluster.
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SSL", "SASL_SSL"] = Field(
        "PLAINTEXT", description="How clients talk to Kafka.")
    kafka_sasl_mechanism: Literal["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"] = Field(
        "SCRAM-SHA-256", description="SASL mechanism when the protocol is SASL_*.")
    kafka_username: str | None = Field(None, description="SASL user name.")
    kafka_password: SecretStr | None = Field(None, description="SASL password (never printed).")
    kafka_password_file: Path | None = Field(
        None, description="A file holding the SASL password (e.g. a mounted secret); used when no password is set.")
    kafka_ssl_cafile: Path | None = Field(None, description="CA bundle that signs the brokers' certificates.")
    kafka_ssl_certfile: Path | None = Field(None, description="Client certificate, for mutual TLS.")
    kafka_ssl_keyfile: Path | None = Field(None, description="Client private key, for mutual TLS.")

    # The worker's HTTP API.
    api_host: str = Field(
        "127.0.0.1", min_length=1,
        description="Address the worker's HTTP API listens on: 127.0.0.1 serves this machine only; "
                    "0.0.0.0 every interface (a container whose port is published).")
    api_token: SecretStr | None = Field(
        None, description="When set, the worker's HTTP API requires `Authorization: Bearer <token>` "
                          "(all but /health).")
    api_token_file: Path | None = Field(None, description="A file holding the API token (a mounted secret).")
    api_max_requests_per_s: float = Field(200.0, gt=0, description="Per-client request rate the HTTP API allows.")

    # Topics: the one place their names are defined.
    session_topic: str = Field("session-events", description="Session lifecycle events, keyed by session_id.")
    ops_topic: str = Field("ops-events", description="Incidents, deploys and anomalies.")
    slo_file: Path | None = Field(
        None, description="OpenSLO v1 YAML file of the SLOs the worker alerts on and `ledger slo` "
                          "reports (default: the shipped analytics/slos.yaml).")
    dead_letter_topic: str = Field("ledger-dead-letter", description="Messages that could not be read, with the reason.")
    erasure_topic: str = Field(
        "ledger-erasures", description="The registry of erased players (compacted; keyed by the "
                                       "erasure key, never a player id).")
    erasure_pepper: SecretStr | None = Field(
        None, description="A secret mixed into every erasure key, the same on every process of one "
                          "deployment (never printed; unset: keys are plain domain-tagged SHA-256).")
    partitions: int = Field(6, ge=1, description="Partitions of the ledger topics when the ledger creates them.")

    # Retention: how long each layer keeps what it holds (docs/operations.md, "Retention and disk").
    # Kafka values are milliseconds, -1 for ever; `ledger topics create` applies them.
    session_retention_ms: int = Field(
        7 * DAY_MS, ge=-1, description="How long the session topic keeps an event (the hot window: "
                                       "replay --source kafka and rebuilds reach this far back; -1: for ever).")
    ops_retention_ms: int = Field(
        -1, ge=-1, description="How long the ops topic keeps an event (-1, the default: for ever; a few "
                               "events a day, and a new warehouse's incident history is backfilled from it).")
    dead_letter_retention_ms: int = Field(
        30 * DAY_MS, ge=-1, description="How long the dead-letter topic keeps a letter (long enough to "
                                        "find, fix and re-drive it).")
    internal_retention_ms: int = Field(
        7 * DAY_MS, ge=-1, description="How long the worker's repartition topics (*-player-updates, "
                                       "*-disconnects) keep a handoff: in flight only, as long as the hot window.")
    segment_ms: int = Field(
        DAY_MS, ge=60_000, description="Longest time a segment of a ledger topic stays open; only a closed "
                                       "segment is deleted or compacted, so data lives up to retention + this.")
    segment_bytes: int = Field(
        256 * 1024 * 1024, ge=1024 * 1024, description="Largest segment of a ledger topic, bytes "
                                                        "(the unit retention deletes).")
    # Warehouse TTLs in days (0: for ever), brought to the tables after every migrate.
    heartbeat_ttl_days: int = Field(
        30, ge=0, description="Days session_events keeps raw heartbeats (the rollups keep their figures).")
    lifecycle_ttl_days: int = Field(
        3 * 365, ge=0, description="Days session_events keeps every other event type, and the sessions and "
                                   "per-minute rollups keep their rows.")

    # Dead letters: the limit every reader stops at (streams/kafka/deadletters/limit.py), and attempts.
    dead_letter_max_per_minute: int = Field(
        1000, ge=0, description="A reader that dead-letters more than this many messages within a minute "
                                "stops with an error (0: no such limit).")
    dead_letter_max_fraction: float = Field(
        0.5, ge=0, le=1, description="...or more than this fraction of about the last "
                                     "LEDGER_DEAD_LETTER_WINDOW messages it read (1: no such limit).")
    dead_letter_window: int = Field(1000, ge=1, description="Messages the dead-letter fraction is taken over.")
    dead_letter_min_messages: int = Field(
        100, ge=0, description="Messages a reader has read before the dead-letter fraction applies.")
    dead_letter_attempts: int = Field(
        5, ge=1, description="Attempts to write one dead letter (with backoff) before the reader stops.")

    # The disk guard (streams/disk_guard.py): the worker and the embedded sink stop taking work
    # while their state dir's filesystem is nearly full.
    disk_min_free_mb: int = Field(
        1024, ge=0, description="MiB that must stay free on the filesystem of the worker's tables and of "
                                "the embedded chDB; below it they read nothing new until space comes back "
                                "(0: no absolute minimum).")
    disk_min_free_fraction: float = Field(
        0.05, ge=0, lt=1, description="...and this fraction of that filesystem (the larger of the two "
                                      "applies; both 0 turn the guard off).")
    disk_resume_margin_mb: int = Field(
        256, ge=0, description="MiB above the threshold that must be free before a held worker or sink "
                               "takes work again (so it does not flap).")
    disk_check_interval_s: float = Field(
        5.0, gt=0, description="Seconds between two readings of the free space.")

    # ClickHouse
    clickhouse_url: SecretStr | None = Field(
        None, description="clickhouse://user:password@host:port/database; unset means embedded chDB.")
    clickhouse_url_file: Path | None = Field(
        None, description="A file holding the ClickHouse URL with its credentials (a mounted secret).")
    clickhouse_path: Path | None = Field(None, description="chDB data directory (default: <state_dir>/chdb).")

    # Reads of the embedded warehouse, served by the process that owns it (analytics/serve).
    warehouse_http_port: int = Field(
        8123, ge=0, le=65535, description="Port (127.0.0.1) of the owner's ClickHouse HTTP interface; 0: any free "
                                          "port. A port in use falls back to a free one (`ledger stack status`).")
    warehouse_query_timeout_s: float = Field(
        30.0, gt=0, description="Seconds one read may run (ClickHouse's max_execution_time), and wait for its turn.")
    warehouse_max_result_rows: int = Field(
        1_000_000, ge=1, description="Rows one read may return (max_result_rows); more is an error, not a cut.")
    warehouse_max_result_bytes: int = Field(
        100_000_000, ge=1, description="Uncompressed bytes one read may return (max_result_bytes).")
    warehouse_concurrent_reads: int = Field(
        1, ge=1, le=16, description="Reads the owner runs at once; more wait their turn (bounds the sink's slow-down).")
    warehouse_read_threads: int = Field(1, ge=1, le=64, description="Threads one read may use (max_threads).")
    warehouse_read_nice: int = Field(
        19, ge=0, le=19, description="Niceness of the threads running reads in the owner, so the sink's own "
                                     "threads get the CPU first (0: same priority as the sink).")

    @model_validator(mode="before")
    @classmethod
    def _default_bootstrap_is_the_local_broker(cls, data):
        if isinstance(data, dict) and not data.get("bootstrap_servers"):
            port, nodes = int(data.get("broker_port", 9092)), int(data.get("brokers", 1))
            data = {**data, "bootstrap_servers": ",".join(f"127.0.0.1:{port + 2 * n}" for n in range(nodes))}
        return data

    @field_validator("bootstrap_servers")
    @classmethod
    def _servers_look_like_host_ports(cls, value: str) -> str:
        for server in value.split(","):
            host, sep, port = server.strip().rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"expected host:port[,host:port], got {value!r}")
        return value

    @model_validator(mode="after")
    def _secrets_from_files(self):
        """Credentials named by a *_file setting are read once, here; a missing file is an error."""
        if self.kafka_password is None and self.kafka_password_file is not None:
            object.__setattr__(self, "kafka_password", SecretStr(_read_secret(self.kafka_password_file)))
        if self.api_token is None and self.api_token_file is not None:
            object.__setattr__(self, "api_token", SecretStr(_read_secret(self.api_token_file)))
        if self.clickhouse_url is None and self.clickhouse_url_file is not None:
            object.__setattr__(self, "clickhouse_url", SecretStr(_read_secret(self.clickhouse_url_file)))
        if self.kafka_security_protocol.startswith("SASL") and not (self.kafka_username and self.kafka_password):
            raise ValueError(f"kafka_security_protocol {self.kafka_security_protocol} needs LEDGER_KAFKA_USERNAME "
                             "and LEDGER_KAFKA_PASSWORD (or LEDGER_KAFKA_PASSWORD_FILE)")
        if self.replication_factor and self.min_insync_replicas and self.min_insync_replicas > self.replication_factor:
            raise ValueError(f"min_insync_replicas {self.min_insync_replicas} exceeds replication_factor "
                             f"{self.replication_factor}: no write could ever be acknowledged")
        return self

    @property
    def chdb_path(self) -> Path:
        return self.clickhouse_path or self.state_dir / "chdb"

    @property
    def kafka_dir(self) -> Path:
        return self.state_dir / "kafka"

    @property
    def pepper(self) -> bytes:
        """The erasure pepper as bytes (b"" when unset): see projections/erasure.py."""
        return self.erasure_pepper.get_secret_value().encode("utf-8") if self.erasure_pepper else b""

    @property
    def dead_letter_limit(self):
        """The dead-letter limit of every reader, as one value (streams.kafka.deadletters.limit)."""
        from streams.kafka.deadletters.limit import DeadLetterLimit

        return DeadLetterLimit.from_settings(self)

    @property
    def disk_policy(self):
        """The disk guard's policy, as one value (streams.disk_guard)."""
        from streams.disk_guard import DiskPolicy

        return DiskPolicy.from_settings(self)


def _read_secret(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise ValueError(f"cannot read the secret file {path}: {error.strerror}") from None


def load_settings(env_file: Path | None = None, **overrides) -> Settings:
    """Settings from the environment, an optional env file, then explicit overrides (tests).

    A bad setting raises SettingsError naming the variable and the problem, never its value:
    values may be credentials.
    """
    from pydantic import ValidationError

    from streams.errors import SettingsError

    try:
        if env_file is not None:
            return Settings(_env_file=env_file, **overrides)
        return Settings(**overrides)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            where = "LEDGER_" + "_".join(str(part) for part in item["loc"]).upper() if item["loc"] else "settings"
            problems.append(f"{where}: {item['msg'].removeprefix('Value error, ')}")
        raise SettingsError("bad settings: " + "; ".join(problems)) from None
