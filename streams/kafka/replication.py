"""How the ledger's topics are replicated, and a check that the session topic really is.

Kafka's durability is replication: an event acknowledged with ``acks=all`` is on every in-sync
replica, and ``min.insync.replicas`` refuses the write (``NOT_ENOUGH_REPLICAS``, which the
emitter retries and then spools) when fewer replicas than that are in sync. Unclean leader
election stays off, so an out-of-sync replica never becomes leader and truncates what was
acknowledged.

``Replication`` is the policy as a value, resolved once from the settings and the cluster's
broker count; every place that creates a topic (``streams.kafka.topics``, the worker's Faust app)
takes it from here.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("ledger.replication")

MAX_DEFAULT_REPLICATION = 3
UNKNOWN_TOPIC = 3
"""Kafka's UNKNOWN_TOPIC_OR_PARTITION error code."""
UNKNOWN_TOPIC_WAIT_S = 3.0
"""How long a topic the cluster does not know is asked for again (it may have just been created)."""
METADATA_WAIT_S = 10.0
"""How long a known topic without partition metadata (e.g. no leader yet) is asked for again."""


@dataclass(frozen=True)
class Replication:
    """Replicas per partition and the in-sync replicas a write needs."""

    factor: int
    min_insync: int

    @classmethod
    def resolve(cls, brokers: int, factor: int | None = None, min_insync: int | None = None) -> Replication:
        """The policy for a cluster of ``brokers``: ``factor`` defaults to min(3, brokers),
        ``min_insync`` to factor - 1 but never below 1 (and never above the factor).

        Raises ``SettingsError`` when an explicit factor exceeds the brokers that could hold it.
        """
        factor = factor or min(MAX_DEFAULT_REPLICATION, max(1, brokers))
        if factor > brokers:
            from streams.errors import SettingsError

            raise SettingsError(f"LEDGER_REPLICATION_FACTOR asks for {factor} replicas, but the cluster has "
                                f"{brokers} broker(s); lower it or add brokers")
        min_insync = min(factor, min_insync or max(1, factor - 1))
        return cls(factor=factor, min_insync=min_insync)

    def topic_config(self) -> dict[str, str]:
        """Topic-level configs every ledger topic is created with."""
        return {
            "min.insync.replicas": str(self.min_insync),
            "unclean.leader.election.enable": "false",
        }


def cluster_brokers(admin: Any) -> int:
    """Brokers the cluster has registered (kafka-python ``KafkaAdminClient``)."""
    return len(admin.describe_cluster()["brokers"])


def replication_for(settings: Any, admin: Any) -> Replication:
    """The settings' policy on the cluster ``admin`` talks to (its broker count fills the defaults)."""
    return Replication.resolve(cluster_brokers(admin), settings.replication_factor, settings.min_insync_replicas)


@dataclass(frozen=True)
class TopicReplication:
    """What the cluster holds for one topic: its smallest replica count and the brokers."""

    topic: str
    brokers: int
    factor: int
    """Replicas of its least replicated partition; 0 when the cluster does not know the topic."""
    min_insync: int | None

    def warning(self) -> str | None:
        """A sentence for the log and /health when the topic is less durable than the cluster allows
        (None too when the topic does not exist, ``factor`` 0)."""
        if self.brokers >= MAX_DEFAULT_REPLICATION and self.factor == 1:
            return (f"topic {self.topic} has replication factor {self.factor} on a cluster of {self.brokers} "
                    "brokers: losing the broker that holds a partition loses acknowledged events. Recreate it "
                    "with LEDGER_REPLICATION_FACTOR (default min(3, brokers)) or raise it with "
                    "kafka-reassign-partitions.sh")
        return None


def describe_topic_replication(bootstrap: str, topic: str, client_options: dict | None = None) -> TopicReplication:
    """Read the replication of ``topic`` from the cluster. Raises kafka-python's ``KafkaError``."""
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000,
                             bootstrap_timeout_ms=10000, **(client_options or {}))
    try:
        brokers = cluster_brokers(admin)
        partitions: list = []
        started = time.monotonic()
        while not partitions:  # a topic just created may not be known to every broker yet
            described = admin.describe_topics([topic])
            error = described[0].get("error_code", 0) if described else UNKNOWN_TOPIC
            partitions = [] if error else described[0]["partitions"]
            patience = UNKNOWN_TOPIC_WAIT_S if error == UNKNOWN_TOPIC else METADATA_WAIT_S
            if not partitions:
                if time.monotonic() - started > patience:
                    break  # no such topic: nothing to judge
                time.sleep(0.5)
        factor = min((len(p["replica_nodes"]) for p in partitions), default=0)
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic,
                                                         configs={"min.insync.replicas": None})],
                                         config_filter="all")
        min_insync = configs.get("topic", {}).get(topic, {}).get("min.insync.replicas", {}).get("value")
    finally:
        admin.close()
    return TopicReplication(topic=topic, brokers=brokers, factor=factor,
                            min_insync=int(min_insync) if min_insync is not None else None)


def session_topic_warnings(settings: Any) -> list[str]:
    """Warnings about the session topic's replication, logged at ERROR; empty when it is sound.

    Meant for start-up of the worker and the sink: a cluster that cannot be asked yields no
    warning (the caller's own connection reports that), only a log line.
    """
    from kafka.errors import KafkaError

    from streams.kafka.config import kafka_python_options

    try:
        described = describe_topic_replication(settings.bootstrap_servers, settings.session_topic,
                                               kafka_python_options(settings))
    except KafkaError as error:
        log.warning("could not check the replication of %s: %s", settings.session_topic, error)
        return []
    warning = described.warning()
    if warning is None:
        log.info("topic %s: replication factor %d, min.insync.replicas %s, %d broker(s)", described.topic,
                 described.factor, described.min_insync, described.brokers)
        return []
    log.error("%s", warning)
    return [warning]

