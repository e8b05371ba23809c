"""The replication policy: defaults from the broker count, explicit settings, and the warning."""
from __future__ import annotations

import pytest

from streams.errors import SettingsError
from streams.kafka.replication import Replication, TopicReplication
from streams.settings import load_settings


@pytest.mark.parametrize(("brokers", "factor", "min_insync"), [(1, 1, 1), (2, 2, 1), (3, 3, 2), (5, 3, 2)])
def test_defaults_follow_the_broker_count(brokers, factor, min_insync):
    assert Replication.resolve(brokers) == Replication(factor=factor, min_insync=min_insync)


def test_explicit_settings_win_and_min_insync_never_exceeds_the_factor():
    assert Replication.resolve(5, factor=5) == Replication(factor=5, min_insync=4)
    assert Replication.resolve(3, factor=2, min_insync=2) == Replication(factor=2, min_insync=2)
    assert Replication.resolve(3, factor=1) == Replication(factor=1, min_insync=1)
    assert Replication.resolve(3, min_insync=5).min_insync == 3


def test_a_factor_above_the_broker_count_is_a_settings_error():
    with pytest.raises(SettingsError, match="LEDGER_REPLICATION_FACTOR asks for 3 replicas.*1 broker"):
        Replication.resolve(1, factor=3)


def test_every_topic_is_created_without_unclean_leader_election():
    assert Replication(3, 2).topic_config() == {"min.insync.replicas": "2", "unclean.leader.election.enable": "false"}


@pytest.mark.parametrize(("brokers", "factor", "warns"), [(3, 1, True), (5, 1, True), (3, 3, False),
                                                         (1, 1, False), (2, 1, False), (3, 0, False)])
def test_a_single_replica_on_a_cluster_of_three_or_more_is_a_warning(brokers, factor, warns):
    warning = TopicReplication("session-events", brokers=brokers, factor=factor, min_insync=1).warning()
    assert (warning is not None) is warns
    if warns:
        assert "session-events" in warning and f"{brokers} brokers" in warning


def test_settings_read_the_replication_and_the_local_cluster_size(monkeypatch):
    monkeypatch.setenv("LEDGER_REPLICATION_FACTOR", "3")
    monkeypatch.setenv("LEDGER_MIN_INSYNC_REPLICAS", "2")
    monkeypatch.setenv("LEDGER_BROKERS", "3")
    monkeypatch.setenv("LEDGER_BROKER_PORT", "19092")
    settings = load_settings()
    assert (settings.replication_factor, settings.min_insync_replicas) == (3, 2)
    assert settings.bootstrap_servers == "127.0.0.1:19092,127.0.0.1:19094,127.0.0.1:19096"


def test_min_insync_above_the_factor_is_refused_naming_the_setting():
    with pytest.raises(SettingsError, match="min_insync_replicas 3 exceeds replication_factor 2"):
        load_settings(replication_factor=2, min_insync_replicas=3)


def test_the_defaults_leave_replication_to_the_cluster():
    settings = load_settings()
    assert settings.replication_factor is None and settings.min_insync_replicas is None
    assert settings.brokers == 1
