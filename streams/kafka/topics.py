"""Creating the ledger's topics and keeping their retention as the settings say.

Their names come from the settings, the one place that defines them; each topic's configs
(retention, cleanup policy, segments) come from ``ledger_topics`` here.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from streams.kafka.describe import WATCHED as RETENTION_KEYS
from streams.kafka.replication import Replication, cluster_brokers

log = logging.getLogger(__name__)

READY_WAIT_S = 30.0
"""How long ``ensure_topics`` waits for the topics it created to have a leader on every partition."""

COMPACTED = {"cleanup.policy": "compact"}
"""A changelog keeps the latest record of each key, as Faust creates it."""


@dataclass(frozen=True)
class TopicSpec:
    """One topic as the ledger wants it: partitions and its own topic configs (strings, as Kafka
    takes them)."""

    partitions: int
    config: Mapping[str, str] = field(default_factory=dict)


def deleting(retention_ms: int, settings) -> dict[str, str]:
    """Configs of a topic whose records are deleted ``retention_ms`` after they were written
    (-1: never), in segments of the settings' ``segment_ms`` / ``segment_bytes``.

    A segment is deleted whole once its newest record is older than the retention, and only once
    it is closed: a record lives between ``retention_ms`` and ``retention_ms + segment_ms``.
    """
    return {"cleanup.policy": "delete", "retention.ms": str(retention_ms),
            "segment.ms": str(settings.segment_ms), "segment.bytes": str(settings.segment_bytes)}


def compacted(settings) -> dict[str, str]:
    """Configs of a changelog: compacted (the latest record of each key, tombstones removed), with
    no time limit, in segments closed often enough for compaction to reach them."""
    return {**COMPACTED, "retention.ms": "-1", "segment.ms": str(settings.segment_ms)}


def ledger_topics(settings) -> dict[str, TopicSpec]:
    """Name -> spec of every topic the ledger writes, each with its retention from the settings."""
    from streams.kafka.erasures import REGISTRY_CONFIG

    return {
        settings.session_topic: TopicSpec(settings.partitions, deleting(settings.session_retention_ms, settings)),
        settings.ops_topic: TopicSpec(1, deleting(settings.ops_retention_ms, settings)),
        settings.dead_letter_topic: TopicSpec(1, deleting(settings.dead_letter_retention_ms, settings)),
        settings.erasure_topic: TopicSpec(1, dict(REGISTRY_CONFIG)),
    }


def replication_options(settings) -> dict[str, int | None]:
    """``ensure_topics`` keyword arguments for the settings' replication (None: from the cluster)."""
    return {"replication_factor": settings.replication_factor,
            "min_insync_replicas": settings.min_insync_replicas}


def ensure_topics(bootstrap: str, topics: Mapping[str, int | TopicSpec], config: dict[str, str] | None = None,
                  client_options: dict | None = None, replication_factor: int | None = None,
                  min_insync_replicas: int | None = None, ready_wait_s: float = READY_WAIT_S) -> list[str]:
    """Create the topics that do not exist yet; return the names created. Existing ones are left
    alone (``align_topics`` brings their retention to the settings).

    ``topics`` maps a name to its partitions, or to a ``TopicSpec`` whose configs are added to
    ``config`` (shared by every topic created) for that topic.

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
        specs = {name: _spec(value) for name, value in topics.items()}
        missing = {name: spec.partitions for name, spec in specs.items() if name not in existing}
        if not missing:
            return []
        replication = Replication.resolve(cluster_brokers(admin), replication_factor, min_insync_replicas)
        configs = {**replication.topic_config(), **(config or {})}
        wanted = [
            NewTopic(name=name, num_partitions=partitions, replication_factor=replication.factor,
                     topic_configs={**configs, **specs[name].config})
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


def _spec(value: int | TopicSpec) -> TopicSpec:
    return value if isinstance(value, TopicSpec) else TopicSpec(value)


@dataclass(frozen=True)
class ConfigChange:
    """One topic config ``align_topics`` changed: from ``before`` (None: the broker's default) to ``after``."""

    topic: str
    key: str
    before: str | None
    after: str

    def as_dict(self) -> dict[str, str | None]:
        return {"topic": self.topic, "key": self.key, "before": self.before, "after": self.after}


def config_changes(current: Mapping[str, Mapping[str, str | None]],
                   wanted: Mapping[str, TopicSpec]) -> list[ConfigChange]:
    """The changes that bring each existing topic's configs (``current``: topic -> key -> value set on
    the topic, absent or None when it takes the broker's default) to its spec; topics not in
    ``current`` do not exist and are skipped. Pure: ``align_topics`` applies what it returns."""
    changes = []
    for topic, spec in wanted.items():
        if topic not in current:
            continue
        for key, value in spec.config.items():
            before = current[topic].get(key)
            if before != value:
                changes.append(ConfigChange(topic, key, before, value))
    return changes


def align_topics(bootstrap: str, topics: Mapping[str, TopicSpec], client_options: dict | None = None,
                 ) -> list[ConfigChange]:
    """Bring the configs of the ``topics`` that exist to their specs (incremental: other configs of the
    topic stay as they are); return what changed. Topics that do not exist are left to ``ensure_topics``.

    A broker that cannot be reached, or refuses a change (no ALTER_CONFIGS permission, a value out
    of range), raises kafka-python's KafkaError for the caller to explain.
    """
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000,
                             bootstrap_timeout_ms=10000, **(client_options or {}))
    try:
        present = [name for name in set(admin.list_topics()) if name in topics]
        current = _topic_configs(admin, present)
        changes = config_changes(current, topics)
        by_topic: dict[str, dict[str, str]] = {}
        for change in changes:
            by_topic.setdefault(change.topic, {})[change.key] = change.after
        if by_topic:
            result = admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs)
                                          for topic, configs in sorted(by_topic.items())])
            refused = {topic: outcome for topic, outcome in result.get("topic", {}).items()
                       if str(outcome) != "OK"}
            if refused:
                raise KafkaError(f"the broker refused the topic config changes: {refused}")
        for change in changes:
            log.info("topic %s: %s %s -> %s", change.topic, change.key,
                     change.before if change.before is not None else "(broker default)", change.after)
        return changes
    finally:
        admin.close()


def _topic_configs(admin: KafkaAdminClient, topics: list[str]) -> dict[str, dict[str, str]]:
    """Topic -> key -> value of the ``RETENTION_KEYS`` set on the topic itself (absent: it takes the
    broker's default). What is in force, defaults included, is streams.kafka.describe's."""
    if not topics:
        return {}
    described = admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, name, {key: None for key in RETENTION_KEYS}) for name in topics],
        config_filter="all")
    return {topic: {key: entry["value"] for key, entry in entries.items()
                    if key in RETENTION_KEYS and entry.get("config_source") == "DYNAMIC_TOPIC_CONFIG"}
            for topic, entries in described.get("topic", {}).items()}
