"""Creating the ledger's topics. Their names come from the settings, the one place that defines them."""
from __future__ import annotations

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from streams.kafka.replication import Replication, cluster_brokers


def ledger_topics(settings) -> dict[str, int]:
    """Topic name -> partitions for every topic the ledger writes."""
    return {
        settings.session_topic: settings.partitions,
        settings.ops_topic: 1,
        settings.dead_letter_topic: 1,
    }


def replication_options(settings) -> dict[str, int | None]:
    """``ensure_topics`` keyword arguments for the settings' replication (None: from the cluster)."""
    return {"replication_factor": settings.replication_factor,
            "min_insync_replicas": settings.min_insync_replicas}


def ensure_topics(bootstrap: str, topics: dict[str, int], config: dict[str, str] | None = None,
                  client_options: dict | None = None, replication_factor: int | None = None,
                  min_insync_replicas: int | None = None) -> list[str]:
    """Create the topics that do not exist yet; return the names created. Existing ones are left alone.

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
        return [topic.name for topic in wanted]
    finally:
        admin.close()
