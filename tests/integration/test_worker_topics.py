"""The worker creates every topic it writes before it starts, each ready to be read."""
from __future__ import annotations

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from streams.fold.options import WorkerOptions
from streams.fold.run import changelog_topics, prepare


def _describe(bootstrap: str, names: list[str]) -> tuple[dict[str, list], dict[str, str]]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        partitions = {d["name"]: d["partitions"] for d in admin.describe_topics(names)}
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name) for name in names])
        policies = {name: entries["cleanup.policy"]["value"] for name, entries in configs["topic"].items()}
        return partitions, policies
    finally:
        admin.close()


def test_the_changelogs_exist_compacted_with_a_leader_per_partition_before_the_worker_starts(
        test_settings):
    """A changelog left to Faust's start-up could be seen with no partitions, and every write to
    its table then failed (PartitionsMismatch) until the worker restarted."""
    ledger = prepare(test_settings, WorkerOptions())
    changelogs = changelog_topics(ledger, test_settings.partitions)

    partitions, policies = _describe(test_settings.bootstrap_servers, sorted(changelogs))

    assert sorted(changelogs) == sorted(f"{ledger.app.conf.id}-{table}-changelog"
                                        for table in ("sessions", "players", "disconnects"))
    for name in changelogs:
        assert len(partitions[name]) == test_settings.partitions, name
        assert all(p["leader_id"] >= 0 for p in partitions[name]), name
        assert policies[name] == "compact", name


def test_the_worker_names_its_topics_as_topics_create_aligns_them_and_bounds_its_handoffs(test_settings):
    """`ledger topics create` brings the worker's topics to the settings by name (worker_topics):
    the names must be those the worker's app uses."""
    from streams.fold.options import repartition_topics, worker_topics
    from streams.kafka.describe import topic_configs

    ledger = prepare(test_settings, WorkerOptions())
    named = worker_topics(test_settings, test_settings.partitions)

    changelogs = changelog_topics(ledger, test_settings.partitions)
    assert sorted(name for name in named if name.endswith("-changelog")) == sorted(changelogs)
    configs = topic_configs(test_settings, [*repartition_topics(test_settings), *changelogs])
    for name in repartition_topics(test_settings):
        assert configs[name]["retention.ms"] == str(test_settings.internal_retention_ms), name
        assert configs[name]["cleanup.policy"] == "delete", name
    for name in changelogs:
        assert configs[name]["retention.ms"] == "-1", name
