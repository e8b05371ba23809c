"""The one settings object: `LEDGER_*` environment variables, an optional env file, local defaults.

Read once at the edge (the command line, a test fixture) and passed down explicitly; no other
module reads the environment.
"""
from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    broker_start_timeout_s: float = Field(60.0, description="How long `stack up` waits for the broker to answer.")
    maven_repo: Path | None = Field(None, description="Maven local repository (default: Maven's own, ~/.m2).")

    # Topics: the one place their names are defined.
    session_topic: str = Field("session-events", description="Session lifecycle events, keyed by session_id.")
    ops_topic: str = Field("ops-events", description="Incidents, deploys and anomalies.")
    dead_letter_topic: str = Field("ledger-dead-letter", description="Messages that could not be read, with the reason.")
    partitions: int = Field(6, ge=1, description="Partitions of the ledger topics when the ledger creates them.")

    # ClickHouse
    clickhouse_url: SecretStr | None = Field(
        None, description="clickhouse://user:password@host:port/database; unset means embedded chDB.")
    clickhouse_path: Path | None = Field(None, description="chDB data directory (default: <state_dir>/chdb).")

    @model_validator(mode="before")
    @classmethod
    def _default_bootstrap_is_the_local_broker(cls, data):
        if isinstance(data, dict) and not data.get("bootstrap_servers"):
            data = {**data, "bootstrap_servers": f"127.0.0.1:{data.get('broker_port', 9092)}"}
        return data

    @field_validator("bootstrap_servers")
    @classmethod
    def _servers_look_like_host_ports(cls, value: str) -> str:
        for server in value.split(","):
            host, sep, port = server.strip().rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"expected host:port[,host:port], got {value!r}")
        return value

    @property
    def chdb_path(self) -> Path:
        return self.clickhouse_path or self.state_dir / "chdb"

    @property
    def kafka_dir(self) -> Path:
        return self.state_dir / "kafka"


def load_settings(env_file: Path | None = None, **overrides) -> Settings:
    """Settings from the environment, an optional env file, then explicit overrides (tests)."""
    if env_file is not None:
        return Settings(_env_file=env_file, **overrides)
    return Settings(**overrides)
