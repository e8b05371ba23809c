"""Topic retention on the real broker: `ledger topics create` creates each topic with its own
retention, brings existing topics to the settings, and a short retention does delete old segments."""
from __future__ import annotations

import json
import time
import uuid

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from streams.kafka.describe import topic_configs
from streams.kafka.topics import TopicSpec, align_topics, ensure_topics
from streams.settings import load_settings
from tests.support.cli import ledger, settings_env


def own_settings(bootstrap: str, tmp_path, **retention):
    run = uuid.uuid4().hex[:8]
    return load_settings(state_dir=tmp_path / "state", bootstrap_servers=bootstrap, partitions=2,
                         session_topic=f"retention-sessions-{run}", ops_topic=f"retention-ops-{run}",
                         dead_letter_topic=f"retention-letters-{run}", erasure_topic=f"retention-erasures-{run}",
                         **retention)


def retention_env(settings) -> dict[str, str]:
    env = settings_env(settings)
    env.update(LEDGER_DEAD_LETTER_TOPIC=settings.dead_letter_topic, LEDGER_ERASURE_TOPIC=settings.erasure_topic,
               LEDGER_PARTITIONS=str(settings.partitions),
               LEDGER_SESSION_RETENTION_MS=str(settings.session_retention_ms))
    return env


def test_topics_create_gives_each_topic_its_configured_retention(kafka_broker, tmp_path):
    settings = own_settings(kafka_broker.bootstrap, tmp_path, session_retention_ms=3_600_000)

    result = ledger("topics", "create", "--json", env=retention_env(settings))

    assert result.returncode == 0, result.stderr
    assert sorted(json.loads(result.stdout)["created"]) == sorted(
        [settings.session_topic, settings.ops_topic, settings.dead_letter_topic, settings.erasure_topic])
    configs = topic_configs(settings, [settings.session_topic, settings.ops_topic,
                                       settings.dead_letter_topic, settings.erasure_topic])
    assert configs[settings.session_topic]["retention.ms"] == "3600000"
    assert configs[settings.session_topic]["cleanup.policy"] == "delete"
    assert configs[settings.ops_topic]["retention.ms"] == "-1"
    assert configs[settings.dead_letter_topic]["retention.ms"] == str(30 * 24 * 3600 * 1000)
    assert configs[settings.erasure_topic]["cleanup.policy"] == "compact"
    assert configs[settings.erasure_topic]["retention.ms"] == "-1"


def test_topics_create_brings_an_existing_topics_retention_to_the_settings_and_says_so(kafka_broker, tmp_path):
    settings = own_settings(kafka_broker.bootstrap, tmp_path, session_retention_ms=7_200_000)
    ensure_topics(kafka_broker.bootstrap, {settings.session_topic: 2}, min_insync_replicas=1)  # broker defaults

    result = ledger("topics", "create", "--json", env=retention_env(settings))
    again = ledger("topics", "create", "--json", env=retention_env(settings))

    assert result.returncode == 0, result.stderr
    changed = {(c["topic"], c["key"]): c["after"] for c in json.loads(result.stdout)["changed"]}
    assert changed[(settings.session_topic, "retention.ms")] == "7200000"
    assert json.loads(again.stdout)["changed"] == []
    configs = topic_configs(settings, [settings.session_topic])[settings.session_topic]
    assert configs["retention.ms"] == "7200000"


def test_aligning_changes_only_the_retention_keys_and_keeps_the_topics_other_configs(kafka_broker):
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

    name = f"retention-align-{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka_broker.bootstrap, {name: 1}, min_insync_replicas=1)

    changes = align_topics(kafka_broker.bootstrap, {name: TopicSpec(1, {"retention.ms": "60000"})})

    assert [(c.key, c.after) for c in changes] == [("retention.ms", "60000")]
    admin = KafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap)
    try:
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])["topic"][name]
    finally:
        admin.close()
    assert configs["unclean.leader.election.enable"]["value"] == "false"  # set at creation, kept
    assert configs["retention.ms"]["value"] == "60000"


def test_a_short_retention_deletes_old_segments(kafka_broker):
    """The test broker looks for expired segments every 2 s (tests/conftest.py)."""
    name = f"retention-short-{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka_broker.bootstrap, {name: TopicSpec(1, {
        "cleanup.policy": "delete", "retention.ms": "1000", "segment.bytes": str(1024 * 1024),
        "segment.ms": "1000"})})
    producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap, acks="all")
    for _ in range(200):
        producer.send(name, b"x" * 1000)
    producer.flush()
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=kafka_broker.bootstrap)
    tp = TopicPartition(name, 0)
    try:
        end = consumer.end_offsets([tp])[tp]
        deadline = time.monotonic() + 120
        start = consumer.beginning_offsets([tp])[tp]
        while start == 0 and time.monotonic() < deadline:
            time.sleep(1)
            start = consumer.beginning_offsets([tp])[tp]
    finally:
        consumer.close()
    assert end == 200
    assert start > 0, "no segment was deleted within 120 s under a 1 s retention"
