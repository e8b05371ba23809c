"""Shared fixtures: one real Kafka broker per test run, a unique topic per test, a chDB per test.

The broker is the same `LocalBroker` that `ledger stack up` runs, on free ports, with its data
in a temporary directory. `LEDGER_TEST_BOOTSTRAP` points the tests at a broker that is already
running instead; `LEDGER_TEST_CONTAINERS=1` takes Kafka from testcontainers where a Docker engine
is reachable. A test that needs a part which cannot be had fails; nothing is skipped quietly.
"""
from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from ledger.stack import BrokerConfig, LocalBroker, free_port
from streams.kafka.topics import ensure_topics
from streams.settings import load_settings

# The tests' events are stamped in 2025 (tests/support/factories.py T0): under the default TTLs
# (30 days of heartbeats) the warehouse would delete them in a background merge while a test
# reads them. Tests of retention set their own TTLs.
os.environ.setdefault("LEDGER_HEARTBEAT_TTL_DAYS", "0")
os.environ.setdefault("LEDGER_LIFECYCLE_TTL_DAYS", "0")


@dataclass
class BrokerUnderTest:
    """The broker under test: where it listens, and how a fault test crashes and restarts it."""

    bootstrap: str
    _local: LocalBroker | None = None

    def kill(self) -> None:
        """kill -9 the broker process, as a crash would."""
        self._require_local().kill()

    def start(self) -> None:
        """Start the broker again on the same ports with the same data, and wait until it answers."""
        self._require_local().up()

    def _require_local(self) -> LocalBroker:
        if self._local is None:
            pytest.fail("this test crashes and restarts the broker, so it needs the broker the tests "
                        "start themselves; unset LEDGER_TEST_BOOTSTRAP / LEDGER_TEST_CONTAINERS")
        return self._local


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory):
    external = os.environ.get("LEDGER_TEST_BOOTSTRAP")
    if external:
        yield BrokerUnderTest(bootstrap=external)
        return
    if os.environ.get("LEDGER_TEST_CONTAINERS") == "1":
        yield from _container_broker()
        return
    settings = load_settings()
    config = BrokerConfig(
        home=tmp_path_factory.mktemp("kafka"),
        jars_cache=settings.cache_dir,
        version=settings.kafka_version,
        port=free_port(),
        controller_port=free_port(),
        heap="768m",
        start_timeout_s=90.0,
        maven_repo=settings.maven_repo,
        extra_properties=(("num.network.threads", "2"), ("num.io.threads", "4")),
        retention_check_interval_ms=2000,  # so a test of a short retention sees a segment go
    )
    broker = LocalBroker(config)
    broker.up()
    try:
        yield BrokerUnderTest(bootstrap=config.bootstrap, _local=broker)
    finally:
        broker.down(timeout_s=20.0)


def _container_broker():
    from testcontainers.kafka import KafkaContainer

    with KafkaContainer().with_kraft() as container:
        yield BrokerUnderTest(bootstrap=container.get_bootstrap_server())


@pytest.fixture
def new_topic(kafka_broker, request):
    """Create a topic that belongs to this test alone: `new_topic(partitions=3) -> name`."""
    created: list[str] = []

    def make(partitions: int = 3, prefix: str | None = None) -> str:
        base = prefix or request.node.name.split("[")[0].replace("_", "-")[:40]
        name = f"{base}-{uuid.uuid4().hex[:8]}"
        ensure_topics(kafka_broker.bootstrap, {name: partitions})
        created.append(name)
        return name

    return make


@pytest.fixture
def test_settings(kafka_broker, tmp_path: Path, new_topic):
    """Settings for one test: its own state directory and its own ledger topics on the test broker."""
    return load_settings(
        state_dir=tmp_path / "state",
        bootstrap_servers=kafka_broker.bootstrap,
        session_topic=new_topic(3, prefix="session-events"),
        ops_topic=new_topic(1, prefix="ops-events"),
        dead_letter_topic=new_topic(1, prefix="dead-letter"),
        erasure_topic=f"erasures-{uuid.uuid4().hex[:10]}",
        partitions=3,
    )


@pytest.fixture
def warehouse(tmp_path: Path):
    """A real, migrated chDB warehouse of this test's own, on disk in its temporary directory."""
    from analytics.migrate import migrate
    from analytics.warehouse import ChdbWarehouse

    history = ChdbWarehouse(tmp_path / "chdb")
    migrate(history)
    try:
        yield history
    finally:
        history.close()


def pytest_collection_modifyitems(config, items):
    """Tests of the full schema on a ClickHouse server run when LEDGER_TEST_CLICKHOUSE_URL names one.

    They are deselected (and counted as deselected, not passed) otherwise: no server of a recent
    enough version is available on every machine. Selecting them with `-m clickhouse_server`
    without the URL fails them loudly. Tests marked `quarantine` expose a known, unfixed fault
    (the marker says which); they run with LEDGER_RUN_QUARANTINED=1 or `-m quarantine`.
    """
    wanted = config.option.markexpr or ""
    skip_server = not (os.environ.get("LEDGER_TEST_CLICKHOUSE_URL") or "clickhouse_server" in wanted)
    skip_quarantined = not (os.environ.get("LEDGER_RUN_QUARANTINED") == "1" or "quarantine" in wanted)
    selected, deselected = [], []
    for item in items:
        held = ((skip_server and item.get_closest_marker("clickhouse_server"))
                or (skip_quarantined and item.get_closest_marker("quarantine")))
        (deselected if held else selected).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


from tests.support.clickhouse_server import clickhouse_server_url  # noqa: E402,F401  (a session fixture)
