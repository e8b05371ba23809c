"""What a run of the session fold sends on to the worker's own topics, bundled per partition.

The session fold sends a player update for nearly every event it applies, and a disconnect for
each disconnect. Sent one message each, their cost per message (Faust's send path, the
broker's, the receiving agent's) was most of what the fold spent beyond folding. So a run's
items for one internal topic travel as a few messages per partition: each message a JSON list
of ``{"key": ..., "value": ...}`` items, sent to the partition the item's key hashes to (as
Kafka's default partitioner would place the key alone), in the order they were added. The
receiving agent reads the items of a message in order, so one key's items stay in order.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from streams.kafka.partitioner import partition_of

BUNDLE_MAX = 200
"""Items per message (a player update is about 1 KiB, so a message stays far below 1 MiB)."""


class Bundles:
    """Items for one topic, grouped by partition until ``send``."""

    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self._items: dict[int, list[dict[str, Any]]] = {}
        self._confirm: dict[int, set[int]] = {}

    def add(self, key: str, value: Any, *, confirm: bool = False) -> None:
        """Add an item; ``confirm`` asks for the message carrying it to be confirmed by ``send``."""
        partition = partition_of(key, self.partitions)
        items = self._items.setdefault(partition, [])
        if confirm:
            self._confirm.setdefault(partition, set()).add(len(items) // BUNDLE_MAX)
        items.append({"key": key, "value": value})

    def __len__(self) -> int:
        return sum(len(items) for items in self._items.values())

    def send(self, topic) -> list:
        """Hand every bundle to the producer; the futures of the bundles to be confirmed."""
        confirmations = []
        for partition, items in self._items.items():
            wanted = self._confirm.get(partition, ())
            for n, start in enumerate(range(0, len(items), BUNDLE_MAX)):
                chunk = items[start:start + BUNDLE_MAX]
                delivery = topic.send_soon(key=chunk[0]["key"], value=chunk, partition=partition)
                if n in wanted:
                    confirmations.append(delivery)
        self._items, self._confirm = {}, {}
        return confirmations


def unbundle(message) -> Iterator[tuple[str, Any]]:
    """The ``(key, value)`` items of one received message, in the order they were added.

    A message holding one bare value (as workers before bundling sent them) is one item, keyed
    by the message's key.
    """
    value = orjson.loads(message.value)
    if isinstance(value, list):
        for item in value:
            yield item["key"], item["value"]
    else:
        yield message.key.decode(), value
