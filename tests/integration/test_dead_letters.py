"""Hostile messages on the real broker: the sink takes each as an event or one letter, and
`ledger dead-letters` lists, shows and replays the letters, each replayed once."""
from __future__ import annotations

import json
import os

import pytest
from kafka import KafkaProducer

from ledger.child import settings_env
from schemas.codec import MARKER, encode
from schemas.errors import UnknownFingerprint
from streams.kafka.deadletters.letter import DeadLetter, read_letter
from streams.sink.consumer import HistorySink
from tests.support.cli import ledger, outside_env
from tests.support.factories import session_event, session_script
from tests.support.history import drain, rows_per_event, unique
from tests.support.kafka import read_all

pytestmark = pytest.mark.kafka

WEIRD_HEADERS = [("reason", b"not mine"), ("", b""), ("h\u00e9", os.urandom(16)), ("source_offset", b"-1")]


def hostile() -> list[tuple[bytes | None, bytes | None, list]]:
    heartbeat = encode(session_event("heartbeat"))
    return [
        (b"tombstone", None, []),
        (None, b"", []),
        (b"", os.urandom(300), WEIRD_HEADERS),
        (b"unknown", MARKER + bytes(8) + heartbeat[10:], []),
        (b"big", os.urandom(900 * 1024), []),
        (os.urandom(40), heartbeat[:20], WEIRD_HEADERS),
    ]




def test_each_hostile_message_is_one_letter_and_every_valid_event_a_row(test_settings, warehouse):
    good = session_script(heartbeats=3)
    bad = hostile()
    producer = KafkaProducer(bootstrap_servers=test_settings.bootstrap_servers, acks="all",
                             max_request_size=2 * 1024 * 1024)
    for index, event in enumerate(good):
        producer.send(test_settings.session_topic, key=event.session_id.encode(), value=encode(event))
        if index < len(bad):
            key, value, headers = bad[index]
            producer.send(test_settings.session_topic, key=key, value=value, headers=headers)
    producer.flush()
    producer.close()
    sink = HistorySink.from_settings(test_settings, warehouse, group_id=unique("sink-hostile"),
                                     batch_max_events=100, batch_max_wait_s=0.3)
    drain(sink, rows=len(good))
    sink.flush()
    sink.close()

    assert rows_per_event(warehouse, "session_events") == (len(good), len(good))
    letters = [read_letter(r.key, r.value, r.headers) for r in read_all(test_settings.bootstrap_servers, test_settings.dead_letter_topic)]
    assert len(letters) == len(bad) == len({letter.letter_id for letter in letters})
    restored = sorted(((lt.key, lt.value, lt.original_headers) for lt in letters if not lt.cut), key=repr)
    assert restored == sorted(((k, v, h) for k, v, h in bad if k != b"big"), key=repr)
    [big] = [lt for lt in letters if lt.cut]
    assert big.key == b"big" and big.original_size == 3 + 900 * 1024
    assert {lt.detected_by for lt in letters} == {"sink"}

    listed = ledger("dead-letters", "list", "--json", env=env_of(test_settings))
    assert listed.returncode == 0, listed.stderr
    counts = json.loads(listed.stdout)
    assert counts["letters"] == counts["messages"] == len(bad)
    assert counts["by_source_topic"] == {test_settings.session_topic: len(bad)}
    assert counts["by_reason"]["truncated"] == 3 and counts["by_reason"]["unknown_fingerprint"] == 1

    shown = ledger("dead-letters", "show", letters[0].letter_id, "--json", env=env_of(test_settings))
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)[0]["letter_id"] == letters[0].letter_id
    assert ledger("dead-letters", "show", "nope/0/0/sink", env=env_of(test_settings)).returncode == 1

    still_bad = ledger("dead-letters", "replay", "--reason", "truncated", "--json", env=env_of(test_settings))
    assert still_bad.returncode == 1  # nothing of it decodes yet: left alone, said so
    assert len(json.loads(still_bad.stdout)["still_unreadable"]) == 3


def test_a_fixed_letter_goes_back_to_its_source_once_however_often_replay_runs(test_settings):
    event = session_event("heartbeat")
    value = encode(event)  # what a reader without this schema version dead-lettered, now readable
    error = UnknownFingerprint(value[2:10], [])
    letters = [DeadLetter("unknown_fingerprint", error, test_settings.session_topic, 1, 7, detected_by=reader)
               for reader in ("worker", "sink")]
    producer = KafkaProducer(bootstrap_servers=test_settings.bootstrap_servers, acks="all")
    for letter in letters:
        key, body, headers = letter.message(event.session_id.encode(), value, [("trace", b"t-1")])
        producer.send(test_settings.dead_letter_topic, key=key, value=body, headers=headers)
    producer.flush()
    producer.close()
    env = env_of(test_settings)

    dry = ledger("dead-letters", "replay", "--reason", "unknown_fingerprint", "--dry-run", "--json", env=env)
    first = ledger("dead-letters", "replay", "--reason", "unknown_fingerprint", "--json", env=env)
    second = ledger("dead-letters", "replay", "--reason", "unknown_fingerprint", "--json", env=env)

    source = f"{test_settings.session_topic}/1/7"
    assert (dry.returncode, first.returncode, second.returncode) == (0, 0, 0), first.stderr + second.stderr
    assert json.loads(dry.stdout)["sent"] == [source]
    assert json.loads(first.stdout)["sent"] == [source]
    assert json.loads(second.stdout) == {"dry_run": False, "sent": [], "already_replayed": [source],
                                         "still_unreadable": [], "not_replayable": []}
    [replayed] = read_all(test_settings.bootstrap_servers, test_settings.session_topic)
    assert (replayed.key, replayed.value) == (event.session_id.encode(), value)
    assert list(replayed.headers) == [("trace", b"t-1")]
    listed = json.loads(ledger("dead-letters", "list", "--json", env=env).stdout)
    assert (listed["letters"], listed["messages"], listed["replayed"]) == (2, 1, 2)


def test_replay_without_a_filter_is_bad_input(test_settings):
    assert ledger("dead-letters", "replay", env=env_of(test_settings)).returncode == 2


def env_of(settings) -> dict[str, str]:
    return {**outside_env(), **settings_env(settings)}
