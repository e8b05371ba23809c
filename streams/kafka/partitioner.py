"""Which partition a key lands on: Kafka's default partitioner (murmur2 of the key bytes).

The emitter keys session events by session_id, so this names the partition a session's events
are on; the worker uses it to find which worker owns a session or a player.
"""
from __future__ import annotations

from functools import lru_cache

from kafka.partitioner.default import murmur2


@lru_cache(maxsize=1 << 16)
def key_hash(key: bytes) -> int:
    """The non-negative murmur2 hash of ``key`` (cached: a session's many events hash once)."""
    return murmur2(key) & 0x7FFFFFFF


def partition_of(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives ``key`` among ``partitions``."""
    return key_hash(key.encode()) % partitions
