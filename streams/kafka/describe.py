"""What the broker says about the ledger's topics: partition counts and the configs in force
(read from the broker, not from the settings, so a topic changed by hand shows as it is)."""
from __future__ import annotations

from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient
from kafka.errors import KafkaError

from streams.errors import BrokerUnreachable

WATCHED = ("cleanup.policy", "retention.ms", "retention.bytes", "segment.ms", "segment.bytes",
           "delete.retention.ms", "min.compaction.lag.ms")
"""The configs that say how long a topic keeps what it holds."""


def _admin(settings) -> KafkaAdminClient:
    from streams.kafka.config import kafka_python_options

    try:
        return KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, request_timeout_ms=15000,
                                **kafka_python_options(settings))
    except KafkaError as error:
        raise BrokerUnreachable(settings.bootstrap_servers, str(error)) from error


def partition_count(settings, topic: str) -> int:
    """Partitions of ``topic`` (0 when it does not exist)."""
    admin = _admin(settings)
    try:
        described = admin.describe_topics([topic])
    except KafkaError:
        return 0
    finally:
        admin.close()
    for entry in described:
        if not entry.get("error_code"):
            return len(entry.get("partitions") or ())
    return 0


def topic_configs(settings, names: list[str] | None = None) -> dict[str, dict[str, str]]:
    """Topic -> its ``WATCHED`` configs, for ``names`` or every topic on the cluster."""
    admin = _admin(settings)
    try:
        topics = sorted(set(admin.list_topics()) if names is None else names)
        topics = [name for name in topics if not name.startswith("__")]
        if not topics:
            return {}
        described = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in topics], config_filter="all")
    except KafkaError as error:
        raise BrokerUnreachable(settings.bootstrap_servers, str(error)) from error
    finally:
        admin.close()
    found: dict[str, dict[str, str]] = {}
    for name, entries in (described.get("topic") or {}).items():
        found[name] = {key: str(entry.get("value")) for key, entry in entries.items()
                       if key in WATCHED and entry.get("value") is not None}
    return found
