"""A rebuild past the hot window says the log it read is trimmed, naming the offsets retention deleted."""
from __future__ import annotations

import json

from kafka import KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient

from schemas.codec import encode
from streams.fold.rebuild import rebuild_projections
from tests.support.cli import ledger, settings_env
from tests.support.factories import session_script


def _send(settings, events) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    for event in events:
        producer.send(settings.session_topic, key=event.session_id.encode(), value=encode(event), partition=0)
    producer.flush()
    producer.close()


def _trim(settings, partition: int, before: int) -> None:
    """What retention does to a partition's first segments, at once: delete its records below ``before``."""
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    try:
        admin.delete_records({TopicPartition(settings.session_topic, partition): before})
    finally:
        admin.close()


def test_a_rebuild_of_a_whole_log_is_complete(test_settings):
    _send(test_settings, session_script(heartbeats=2))

    rebuilt = rebuild_projections(test_settings, timeout_s=60)

    assert rebuilt.complete and rebuilt.trimmed == {}
    assert rebuilt.messages == 5


def test_a_rebuild_of_a_trimmed_log_names_the_gap_and_the_command_exits_1(test_settings):
    events = session_script(heartbeats=3)
    _send(test_settings, events)
    _trim(test_settings, partition=0, before=2)  # requested and started are gone

    rebuilt = rebuild_projections(test_settings, timeout_s=60)
    result = ledger("projections", "rebuild", "--json", env=settings_env(test_settings))
    allowed = ledger("projections", "rebuild", "--json", "--allow-trimmed", env=settings_env(test_settings))

    assert not rebuilt.complete and rebuilt.trimmed == {0: 2}
    assert rebuilt.messages == len(events) - 2
    assert result.returncode == 1, result.stderr
    assert "offsets 0..1" in result.stderr and test_settings.session_topic in result.stderr
    assert json.loads(result.stdout)["trimmed"] == {"0": 2}
    assert allowed.returncode == 0, allowed.stderr
