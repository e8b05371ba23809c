"""Bundles: a run's items for an internal topic, grouped per partition, read back in order."""
from __future__ import annotations

from dataclasses import dataclass

import orjson
from hypothesis import given
from hypothesis import strategies as st

from streams.fold.bundles import BUNDLE_MAX, Bundles, unbundle
from streams.kafka.partitioner import partition_of


@dataclass
class Sent:
    key: str
    value: list
    partition: int
    future: object


class RecordingTopic:
    """Stands in for the producer side only: what ``send_soon`` was asked to send."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []

    def send_soon(self, *, key, value, partition):
        future = object()
        self.sent.append(Sent(key, value, partition, future))
        return future


@dataclass
class Received:
    key: bytes
    value: bytes


def received(sent: Sent) -> Received:
    return Received(sent.key.encode(), orjson.dumps(sent.value))


@given(st.lists(st.tuples(st.sampled_from([f"player-{n}" for n in range(40)]), st.integers(0, 2**40)), max_size=700),
       st.integers(min_value=1, max_value=8))
def test_every_item_reaches_its_keys_partition_once_and_in_order(items, partitions):
    bundles, topic = Bundles(partitions), RecordingTopic()
    for key, value in items:
        bundles.add(key, value)
    bundles.send(topic)

    read = [(message.partition, key, value) for message in topic.sent
            for key, value in unbundle(received(message))]
    assert sorted(read, key=repr) == sorted(((partition_of(k, partitions), k, v) for k, v in items), key=repr)
    for key in {k for k, _ in items}:
        assert [v for _, k, v in read if k == key] == [v for k, v in items if k == key]
    assert all(len(message.value) <= BUNDLE_MAX for message in topic.sent)


def test_only_the_messages_carrying_an_item_to_confirm_are_returned():
    bundles, topic = Bundles(1), RecordingTopic()
    for n in range(BUNDLE_MAX * 2 + 5):
        bundles.add(f"p{n}", n, confirm=(n == BUNDLE_MAX + 3))
    confirmations = bundles.send(topic)

    assert len(topic.sent) == 3
    assert confirmations == [topic.sent[1].future]
    assert bundles.send(topic) == [] and len(topic.sent) == 3  # sending empties the bundles


def test_a_message_of_one_bare_value_is_one_item_keyed_by_the_message():
    assert list(unbundle(Received(b"player-7", b'{"after": 1}'))) == [("player-7", {"after": 1})]
