"""Each ledger topic gets its own retention from the settings; existing topics are brought to it."""
from __future__ import annotations

from streams.fold.options import worker_topics
from streams.kafka.topics import ConfigChange, TopicSpec, config_changes, ledger_topics
from streams.settings import load_settings

DAY_MS = 24 * 3600 * 1000


def test_by_default_sessions_keep_a_week_ops_for_ever_letters_a_month():
    topics = ledger_topics(load_settings())

    assert topics["session-events"].config["retention.ms"] == str(7 * DAY_MS)
    assert topics["ops-events"].config["retention.ms"] == "-1"
    assert topics["ledger-dead-letter"].config["retention.ms"] == str(30 * DAY_MS)
    for name in ("session-events", "ops-events", "ledger-dead-letter"):
        assert topics[name].config["cleanup.policy"] == "delete", name
        assert topics[name].config["segment.ms"] == str(DAY_MS), name


def test_the_erasure_registry_stays_compacted_with_no_time_limit():
    registry = ledger_topics(load_settings())["ledger-erasures"].config

    assert registry["cleanup.policy"] == "compact"
    assert registry["retention.ms"] == "-1"


def test_retention_and_segments_come_from_the_settings():
    settings = load_settings(session_retention_ms=60_000, dead_letter_retention_ms=120_000,
                             segment_ms=60_000, segment_bytes=1024 * 1024, partitions=4)
    topics = ledger_topics(settings)

    assert topics[settings.session_topic] == TopicSpec(4, {
        "cleanup.policy": "delete", "retention.ms": "60000", "segment.ms": "60000", "segment.bytes": "1048576"})
    assert topics[settings.dead_letter_topic].config["retention.ms"] == "120000"


def test_the_workers_changelogs_are_compacted_and_its_handoffs_bounded():
    settings = load_settings(internal_retention_ms=3_600_000)
    topics = worker_topics(settings, partitions=3)

    changelogs = {name: spec for name, spec in topics.items() if name.endswith("-changelog")}
    handoffs = {name: spec for name, spec in topics.items() if not name.endswith("-changelog")}
    assert sorted(changelogs) == [f"ledger-session-events-{t}-changelog" for t in ("disconnects", "players", "sessions")]
    assert all(spec.config["cleanup.policy"] == "compact" for spec in changelogs.values())
    assert sorted(handoffs) == ["ledger-session-events-disconnects", "ledger-session-events-player-updates"]
    assert all(spec.config["retention.ms"] == "3600000" for spec in handoffs.values())
    assert all(spec.partitions == 3 for spec in topics.values())


def test_only_differing_keys_of_existing_topics_change():
    wanted = {"a": TopicSpec(1, {"retention.ms": "1000", "cleanup.policy": "delete"}),
              "missing": TopicSpec(1, {"retention.ms": "5"})}
    current = {"a": {"retention.ms": "-1", "cleanup.policy": "delete", "min.insync.replicas": "1"}}

    assert config_changes(current, wanted) == [ConfigChange("a", "retention.ms", "-1", "1000")]


def test_a_key_left_to_the_broker_default_is_set_on_the_topic():
    changes = config_changes({"a": {}}, {"a": TopicSpec(1, {"segment.ms": "60000"})})

    assert changes == [ConfigChange("a", "segment.ms", None, "60000")]
    assert config_changes({"a": {"segment.ms": "60000"}}, {"a": TopicSpec(1, {"segment.ms": "60000"})}) == []
