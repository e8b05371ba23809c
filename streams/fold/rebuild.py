"""Rebuild every projection from the session topic, from its first offset to its current end.

A bare consumer reads each partition, decodes each poll's messages at once (schemas/batch.py)
and hands the records to ``projections.fold.LedgerFold``:
the same pure functions the worker's agents call, so the result equals the live state once the
worker has caught up. Any message is taken: what cannot be read (any bytes, a null value) is
counted by reason, not dead-lettered: a rebuild is read-only and may run any number of times,
and the worker has dead-lettered each such message once.

The topic keeps a hot window (LEDGER_SESSION_RETENTION_MS): once retention has deleted a
partition's first segments, the rebuild starts at the first offset still held and the sessions
and players whose early events are gone come back incomplete. ``Rebuilt.trimmed`` names each
such partition and its first offset, and the rebuild logs it: a rebuild past the window is not
the live state (docs/operations.md, "Retention and disk", says how to rebuild then).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from projections.fold import LedgerFold, LedgerView
from schemas.batch import BatchDecoder
from streams.fold.errors import RebuildFailed
from streams.fold.render import concurrency_document, player_document, session_document
from streams.kafka.config import kafka_python_options
from streams.kafka.erasures import read_erasures
from streams.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rebuilt:
    view: LedgerView
    messages: int
    unreadable: int
    unreadable_by_reason: dict[str, int] = field(default_factory=dict)
    """Messages not folded, by dead-letter reason (the worker dead-letters each of them)."""
    trimmed: dict[int, int] = field(default_factory=dict)
    """Partition -> its first offset still held, for each partition whose first records retention
    has deleted (empty: the rebuild read every partition from offset 0, the whole log)."""

    @property
    def complete(self) -> bool:
        """Whether the rebuild read the whole log (no partition was trimmed by retention)."""
        return not self.trimmed

    def to_dict(self) -> dict[str, Any]:
        """Every projection as the HTTP API renders it."""
        return {
            "messages": self.messages,
            "complete": self.complete,
            "trimmed": {str(partition): first for partition, first in sorted(self.trimmed.items())},
            "unreadable": self.unreadable,
            "unreadable_by_reason": dict(sorted(self.unreadable_by_reason.items())),
            "sessions": {sid: session_document(s) for sid, s in sorted(self.view.sessions.items())},
            "players": {pid: player_document(p) for pid, p in sorted(self.view.players.items())},
            "concurrency": concurrency_document(
                self.view.concurrency, region=None, platform=None, cross_play=None),
        }


def rebuild_projections(settings: Settings, *, timeout_s: float = 300.0, progress=None) -> Rebuilt:
    """Fold the session topic from the beginning; ``progress(read, total)`` is called as it goes.

    From the first offset each partition still holds: where retention has deleted the start of a
    partition, the result says so (``Rebuilt.trimmed``, and a warning is logged)."""
    topic = settings.session_topic
    try:
        consumer = KafkaConsumer(
            bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False, group_id=None,
            max_poll_records=5000, fetch_max_bytes=64 * 1024 * 1024, **kafka_python_options(settings),
        )
    except KafkaError as error:
        raise RebuildFailed(topic, settings.bootstrap_servers, str(error)) from error
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise RebuildFailed(topic, settings.bootstrap_servers, "the topic has no partitions")
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        starts = consumer.beginning_offsets(tps)
        trimmed = {tp.partition: first for tp, first in sorted(starts.items()) if first > 0}
        if trimmed:
            log.warning("the rebuild of %s starts past its beginning: retention deleted offsets 0..%s; "
                        "sessions that began before are incomplete", topic,
                        ", ".join(f"{first - 1} of partition {p}" for p, first in trimmed.items()))
        ends = {tp: end for tp, end in consumer.end_offsets(tps).items() if end > starts.get(tp, 0)}
        total = sum(end - starts.get(tp, 0) for tp, end in ends.items())
        fold, decoder, messages, unreadable = LedgerFold(), BatchDecoder(), 0, 0
        erased = read_erasures(settings)  # an erased player's events fold under their token
        reasons: dict[str, int] = {}
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            if time.monotonic() > deadline:
                raise RebuildFailed(topic, settings.bootstrap_servers,
                                    f"read {messages} of {total} messages in {timeout_s:.0f}s")
            for tp, records in consumer.poll(timeout_ms=500).items():
                end = ends.get(tp, 0)
                batch = decoder.decode([r.value for r in records if r.offset < end])
                messages += len(batch.sessions) + len(batch.ops) + len(batch.errors)
                for event in erased.anonymise_all(batch.sessions):
                    fold.deliver(event)
                fold.deliveries.ignored += len(batch.ops)
                for _index, error in batch.errors:
                    unreadable += 1
                    reasons[error.code] = reasons.get(error.code, 0) + 1
            if progress is not None:
                progress(messages, total)
        return Rebuilt(fold.view(), messages, unreadable, reasons, trimmed)
    finally:
        consumer.close()
