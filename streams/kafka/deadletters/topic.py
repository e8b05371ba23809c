"""The dead-letter topic: read its letters, count them, and send chosen ones back to their source.

    found = read_letters(settings)                     # every letter, and the replay markers
    summary(found)                                     # counts by reason and source topic
    replay_letters(settings, found, reasons={"unknown_fingerprint"})

Replay is idempotent through the topic itself: after a message is sent back to its source
topic (and the broker confirmed it), a replay marker is written to the dead-letter topic for
each letter of that message (key and ``replayed_letter_id`` header = the letter id, empty
value). A later replay reads the markers and sends none of those letters again. The markers
live beside the letters, so every operator and machine sees the same record, and they age out
with the letters they name.

One message can have a letter from each reader (worker and sink): it is sent back once, and
every one of its letters is marked.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterable

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from schemas.codec import decode
from schemas.errors import InvalidMessage
from streams.errors import KafkaIncomplete, TopicMissing
from streams.kafka.deadletters.letter import Letter, read_letter, replay_marker, replayed_id

PREVIEW_BYTES = 64


@dataclass(frozen=True)
class Found:
    """One letter where it sits on the dead-letter topic."""

    partition: int
    offset: int
    timestamp_ms: int
    letter: Letter


@dataclass
class Letters:
    """What a read of the dead-letter topic found."""

    letters: list[Found] = field(default_factory=list)
    replayed: set[str] = field(default_factory=set)
    """Letter ids a replay marker names."""
    other: int = 0
    """Records that are neither letters nor markers."""


def read_letters(settings: Any, *, since: datetime | None = None, until: datetime | None = None,
                 timeout_s: float = 120.0) -> Letters:
    """Every letter and replay marker on the dead-letter topic, from ``since`` (or its start) to
    ``until`` (or its end when the read began). Markers are read whatever the time range."""
    from streams.kafka.config import kafka_python_options

    topic = settings.dead_letter_topic
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=None,
                             enable_auto_commit=False, **kafka_python_options(settings))
    found = Letters()
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise TopicMissing(topic, "no reader has dead-lettered anything yet, or "
                                      "LEDGER_DEAD_LETTER_TOPIC names another topic")
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        since_ms = None if since is None else int(since.timestamp() * 1000)
        until_ms = None if until is None else int(until.timestamp() * 1000)
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise KafkaIncomplete(f"reading {topic} took longer than {timeout_s:.0f}s; give --since to read less")
            for tp, records in consumer.poll(timeout_ms=500).items():
                for record in records:
                    if record.offset < ends[tp]:
                        _take(found, record, since_ms, until_ms)
    finally:
        consumer.close()
    return found


def _take(found: Letters, record: Any, since_ms: int | None, until_ms: int | None) -> None:
    marked = replayed_id(record.headers)
    if marked is not None:
        found.replayed.add(marked)
        return
    if (since_ms is not None and record.timestamp < since_ms) or (until_ms is not None and record.timestamp >= until_ms):
        return
    letter = read_letter(record.key, record.value, record.headers)
    if letter is None:
        found.other += 1
    else:
        found.letters.append(Found(record.partition, record.offset, record.timestamp, letter))


def summary(found: Letters) -> dict[str, Any]:
    """Counts by reason, by source topic and by both; messages (one per source offset) and letters."""
    by_reason: dict[str, int] = {}
    by_source: dict[str, int] = {}
    by_both: dict[tuple[str, str], int] = {}
    messages: set[tuple[str, int, int]] = set()
    ids: set[str] = set()
    for item in found.letters:
        letter = item.letter
        if letter.letter_id in ids:
            continue  # the same reader wrote it again after a crash
        ids.add(letter.letter_id)
        messages.add(letter.source)
        by_reason[letter.reason] = by_reason.get(letter.reason, 0) + 1
        by_source[letter.source_topic] = by_source.get(letter.source_topic, 0) + 1
        key = (letter.reason, letter.source_topic)
        by_both[key] = by_both.get(key, 0) + 1
    return {
        "letters": len(ids), "messages": len(messages), "records": len(found.letters),
        "replayed": len(found.replayed & ids), "other_records": found.other,
        "by_reason": dict(sorted(by_reason.items(), key=lambda c: -c[1])),
        "by_source_topic": dict(sorted(by_source.items(), key=lambda c: -c[1])),
        "by_reason_and_source": [{"reason": r, "source_topic": t, "letters": n}
                                 for (r, t), n in sorted(by_both.items(), key=lambda c: -c[1])],
    }


def describe(item: Found, replayed: set[str]) -> dict[str, Any]:
    """One letter for ``show``: headers, sizes and a safe preview of the original bytes."""
    letter = item.letter
    return {
        "letter_id": letter.letter_id, "reason": letter.reason, "detected_by": letter.detected_by,
        "error": letter.error, "source": {"topic": letter.source_topic, "partition": letter.source_partition,
                                          "offset": letter.source_offset},
        "at": {"partition": item.partition, "offset": item.offset, "timestamp_ms": item.timestamp_ms},
        "key": preview(letter.key), "value": preview(letter.value),
        "original_headers": [{"name": name, "value": preview(data)} for name, data in letter.original_headers],
        "original_bytes": letter.original_size, "cut": letter.cut,
        "replayed": letter.letter_id in replayed,
    }


def preview(data: bytes | None) -> dict[str, Any] | None:
    """Bytes shown safely: the size, the first ``PREVIEW_BYTES`` as hex, and as text if printable."""
    if data is None:
        return None
    head = data[:PREVIEW_BYTES]
    text = head.decode("utf-8", "replace")
    printable = text.isprintable() and "\ufffd" not in text
    return {"bytes": len(data), "hex": head.hex(" "), "text": text if printable else None,
            "more": len(data) > PREVIEW_BYTES}


def find(found: Letters, ref: str) -> list[Found]:
    """Letters named by ``ref``: a letter id, a source ``topic/partition/offset``, or the
    dead-letter topic's own ``partition:offset``."""
    if ":" in ref and "/" not in ref:
        partition, _, offset = ref.partition(":")
        return [f for f in found.letters if f"{f.partition}:{f.offset}" == f"{partition}:{offset}"]
    return [f for f in found.letters if ref in (f.letter.letter_id, "/".join(map(str, f.letter.source)))]


@dataclass
class Replay:
    """What a replay did (or, dry, would do), one entry per source message."""

    sent: list[str] = field(default_factory=list)
    """Source messages (``topic/partition/offset``) sent back (or to be sent, dry)."""
    already_replayed: list[str] = field(default_factory=list)
    still_unreadable: list[dict[str, str]] = field(default_factory=list)
    """Messages the reader still cannot decode, with the reason now: left alone."""
    not_replayable: list[dict[str, str]] = field(default_factory=list)
    """Letters that carry only the start of the message, or a null key and value."""

    def as_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "already_replayed": self.already_replayed,
                "still_unreadable": self.still_unreadable, "not_replayable": self.not_replayable}


def choose(found: Letters, *, reasons: Iterable[str] = (), source_topics: Iterable[str] = (),
           refs: Iterable[str] = ()) -> dict[tuple[str, int, int], list[Letter]]:
    """The letters a replay takes, grouped by source message; every filter given must match."""
    reasons, source_topics, refs = set(reasons), set(source_topics), set(refs)
    chosen: dict[tuple[str, int, int], list[Letter]] = {}
    for item in found.letters:
        letter = item.letter
        if reasons and letter.reason not in reasons:
            continue
        if source_topics and letter.source_topic not in source_topics:
            continue
        if refs and not refs & {letter.letter_id, "/".join(map(str, letter.source)), f"{item.partition}:{item.offset}"}:
            continue
        group = chosen.setdefault(letter.source, [])
        if all(other.letter_id != letter.letter_id for other in group):
            group.append(letter)
    return chosen


def replay_letters(settings: Any, found: Letters, chosen: dict[tuple[str, int, int], list[Letter]], *,
                   dry_run: bool = False, check: Callable[[bytes], Any] = decode) -> Replay:
    """Send each chosen message back to its source topic, once, with its original key, value
    and headers, if it now decodes; then mark its letters replayed (the module doc)."""
    from streams.kafka.config import kafka_python_options

    result = Replay()
    todo: list[tuple[str, Letter, list[Letter]]] = []
    for source, letters in sorted(chosen.items()):
        name = "/".join(map(str, source))
        letter = next((lt for lt in letters if not lt.cut), letters[0])
        if any(lt.letter_id in found.replayed for lt in letters):
            result.already_replayed.append(name)
        elif letter.cut or (letter.key is None and letter.value is None):
            why = "only the start of the message was kept" if letter.cut else "a null key and value cannot be sent"
            result.not_replayable.append({"message": name, "why": why})
        elif (problem := _unreadable(letter.value, check)) is not None:
            result.still_unreadable.append({"message": name, "reason": problem})
        else:
            todo.append((name, letter, letters))
    if dry_run or not todo:
        result.sent = [name for name, _, _ in todo]
        return result
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all",
                             max_request_size=2 * 1024 * 1024, **kafka_python_options(settings))
    try:
        for name, letter, letters in todo:
            try:
                producer.send(letter.source_topic, key=letter.key, value=letter.value,
                              headers=list(letter.original_headers)).get(timeout=30)
                for each in letters:
                    key, value, headers = replay_marker(each)
                    producer.send(settings.dead_letter_topic, key=key, value=value, headers=headers).get(timeout=30)
            except KafkaError as error:
                raise KafkaIncomplete(f"replay stopped at {name} after sending {len(result.sent)} message(s): "
                                      f"{type(error).__name__}: {error}. Run it again: what was sent is "
                                      "marked and is not sent twice") from error
            result.sent.append(name)
    finally:
        producer.close(timeout=10)
    return result


def _unreadable(value: bytes | None, check: Callable[[bytes], Any]) -> str | None:
    try:
        check(value if value is not None else b"")
    except InvalidMessage as error:
        return error.code
    return None
