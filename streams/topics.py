"""Creating the ledger's topics. Their names come from the settings, the one place that defines them."""
from __future__ import annotations

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError


def ledger_topics(settings) -> dict[str, int]:
    """Topic name -> partitions for every topic the ledger writes."""
    return {
        settings.session_topic: settings.partitions,
        settings.ops_topic: 1,
        settings.dead_letter_topic: 1,
    }


def ensure_topics(bootstrap: str, topics: dict[str, int], config: dict[str, str] | None = None,
                  client_options: dict | None = None) -> list[str]:
    """Create the topics that do not exist yet; return the names created. Existing ones are left alone.

    `client_options` are kafka-python's security options (streams.kafka_config); a broker that
    cannot be reached raises kafka-python's KafkaError for the caller to explain.
    """
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000,
                             bootstrap_timeout_ms=10000, **(client_options or {}))
    try:
        existing = set(admin.list_topics())
        wanted = [
            NewTopic(name=name, num_partitions=partitions, replication_factor=1, topic_configs=config or {})
            for name, partitions in topics.items()
            if name not in existing
        ]
        if wanted:
            try:
                admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass  # created concurrently by another process: the goal is reached either way
        return [topic.name for topic in wanted]
    finally:
        admin.close()
