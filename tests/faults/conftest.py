"""The three-node cluster of the replication fault stories: started only when they run."""
from __future__ import annotations

import uuid

import pytest

from ledger.stack import LocalCluster, _cluster_id, cluster_node_configs, free_port
from streams.kafka.topics import ensure_topics
from streams.settings import load_settings


def _spaced_ports() -> tuple[int, int]:
    """A client and a controller base port with room for three nodes each (+0, +2, +4), all free."""
    from ledger.stack import ensure_port_free
    from streams.errors import StackError

    for _ in range(50):
        base = free_port()
        if base > 60000:
            continue
        try:
            for offset in range(6):
                ensure_port_free(base + offset)
        except StackError:
            continue
        return base, base + 1
    raise RuntimeError("no run of six free ports found on 127.0.0.1")


@pytest.fixture(scope="module")
def kafka_cluster(tmp_path_factory):
    """Three combined KRaft nodes on 127.0.0.1, the same ``LocalCluster`` as `ledger stack up --brokers 3`.

    Per module (one module uses it), so its JVMs do not outlive the stories and load the rest
    of the run."""
    settings = load_settings()
    port, controller_port = _spaced_ports()
    home = tmp_path_factory.mktemp("kafka-cluster")
    cluster = LocalCluster(home, cluster_node_configs(
        home, brokers=3, jars_cache=settings.cache_dir, version=settings.kafka_version, port=port,
        controller_port=controller_port, heap="512m", start_timeout_s=120.0, maven_repo=settings.maven_repo,
        cluster_id=_cluster_id(),
    ))
    cluster.up()
    try:
        yield cluster
    finally:
        cluster.down()


@pytest.fixture
def cluster_settings(kafka_cluster, tmp_path):
    """Settings for one story on the cluster: its own state directory and its own ledger topics,
    replicated as the ledger's defaults say (3 replicas, min.insync.replicas 2)."""
    tag = uuid.uuid4().hex[:8]
    settings = load_settings(
        state_dir=tmp_path / "state", bootstrap_servers=kafka_cluster.bootstrap,
        session_topic=f"session-events-{tag}", ops_topic=f"ops-events-{tag}",
        dead_letter_topic=f"dead-letter-{tag}", partitions=3,
    )
    ensure_topics(settings.bootstrap_servers, {settings.session_topic: 3, settings.ops_topic: 1,
                                               settings.dead_letter_topic: 1})
    return settings


@pytest.fixture
def cluster_ports():
    """``() -> (client port, controller port)``: bases with room for a three-node cluster."""
    return _spaced_ports
