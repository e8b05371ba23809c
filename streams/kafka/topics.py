"""Creating the ledger's topics. Their names come from the settings, the one place that defines them."""
from __future__ import annotations

import logging
import time

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from streams.kafka.replication import Replication, cluster_brokers

log = logging.getLogger(__name__)

READY_WAIT_S = 30.0
"""How long ``ensure_topics`` waits for the topics it created to have a leader on every partition."""


def ledger_topics(settings) -> dict[str, int]:
    """Topic name -> partitions for every topic the ledger writes."""
    return {
        settings.session_topic: settings.partitions,
        settings.ops_topic: 1,
        settings.dead_letter_topic: 1,
        settings.erasure_topic: 1,
    }


def replication_options(settings) -> dict[str, int | None]:
    """``ensure_topics`` keyword arguments for the settings' replication (None: from the cluster)."""
    return {"replication_factor": settings.replication_factor,
            "min_insync_replicas": settings.min_insync_replicas}


def ensure_topics(bootstrap: str, topics: dict[str, int], config: dict[str, str] | None = None,
                  client_options: dict | None = None, replication_factor: int | None = None,
                  min_insync_replicas: int | None = None, ready_wait_s: float = READY_WAIT_S) -> list[str]:
    """Create the topics that do not exist yet; return the names created. Existing ones are left alone.

    Returns once every partition of the topics it created has a leader (at most
    ``ready_wait_s``, then with a warning): a client that asks for a topic's metadata the moment
    it was created may be told it has no partitions, and some (Faust's consumer) never ask again.

    Each is created with the replication of streams.kafka.replication: ``replication_factor`` and
    ``min_insync_replicas`` as given (the settings' LEDGER_REPLICATION_FACTOR and
    LEDGER_MIN_INSYNC_REPLICAS), or derived from the cluster's broker count when None, and
    unclean leader election off. `client_options` are kafka-python's security options
    (streams.kafka.config); a broker that cannot be reached raises kafka-python's KafkaError for
    the caller to explain, a factor above the broker count SettingsError.
    """
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000,
                             bootstrap_timeout_ms=10000, **(client_options or {}))
    try:
        existing = set(admin.list_topics())
        missing = {name: partitions for name, partitions in topics.items() if name not in existing}
        if not missing:
            return []
        replication = Replication.resolve(cluster_brokers(admin), replication_factor, min_insync_replicas)
        configs = {**replication.topic_config(), **(config or {})}
        wanted = [
            NewTopic(name=name, num_partitions=partitions, replication_factor=replication.factor,
                     topic_configs=configs)
            for name, partitions in missing.items()
        ]
        if wanted:
            try:
                admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass  # created concurrently by another process: the goal is reached either way
            _wait_for_leaders(admin, missing, ready_wait_s)
        return [topic.name for topic in wanted]
    finally:
        admin.close()


def _wait_for_leaders(admin: KafkaAdminClient, topics: dict[str, int], wait_s: float) -> None:
    """Return once each of ``topics`` shows its partitions, each with a leader, or after ``wait_s``."""
    deadline = time.monotonic() + wait_s
    waiting = sorted(topics)
    while waiting:
        try:
            described = admin.describe_topics(waiting)
        except KafkaError as error:
            described, reason = [], str(error)
        else:
            reason = "no leader yet"
        ready = {name for d in described if (name := d.get("name", d.get("topic"))) in topics
                 and not d.get("error_code") and len(d.get("partitions") or ()) >= topics[name]
                 and all(p.get("leader_id", p.get("leader", -1)) >= 0 for p in d["partitions"])}
        waiting = [name for name in waiting if name not in ready]
        if not waiting:
            return
        if time.monotonic() >= deadline:
            log.warning("topics %s created but not ready after %.0f s (%s); going on",
                        ", ".join(waiting), wait_s, reason)
            return
        time.sleep(0.1)
