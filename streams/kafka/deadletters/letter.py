"""A dead letter: a message a reader could not take, as it arrived, with why and from where.

One format for every reader (worker, sink). Pure: no I/O.

The letter's key and value are the original ones. Kafka clients refuse a message whose key
and value are both null, so where the original value is null the letter carries an empty
value and the header ``value_null``; where the original key is null it stays null (the value
is then never null). A payload too large to fit a message of its own beside the headers is
cut to ``MAX_PAYLOAD_BYTES`` and says so (``value_cut_from``, ``key_cut_from``); such a letter
can be inspected, not replayed. The original headers travel with the letter, each name
prefixed ``ORIGINAL_PREFIX``, so they can never be taken for the letter's own.

Headers of the letter itself:

=================== ===========================================================================
``letter_id``       ``<source topic>/<partition>/<offset>/<detected_by>``: one per message and reader
``reason``          the ``code`` of the ``InvalidMessage`` that refused it (schemas/errors.py)
``detected_by``     ``worker`` or ``sink``
``error_class``     the exception's class name
``error``           its message, at most ``MAX_DETAIL`` characters
``source_topic``    where the message was read ...
``source_partition``
``source_offset``
``key_null``        ``1`` when the original key was null (absent otherwise)
``value_null``      ``1`` when the original value was null (the letter's value is empty)
``key_cut_from``    the original key's size in bytes, when the letter carries only its start
``value_cut_from``  the same for the value
=================== ===========================================================================
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from schemas.errors import InvalidMessage

MAX_DETAIL = 1000
"""Characters of the error message a letter keeps."""
MAX_PAYLOAD_BYTES = 900 * 1024
"""Key plus value bytes a letter carries at most: with its headers it stays under the 1 MB a
Kafka producer sends by default, whatever size the broker accepted the original at."""
ORIGINAL_PREFIX = "original:"
"""Prefix of the original message's headers inside a letter."""

REPLAYED_HEADER = "replayed_letter_id"
"""Header of a replay marker on the dead-letter topic: the letter it says was replayed."""

Headers = list[tuple[str, "bytes | None"]]


@dataclass(frozen=True)
class DeadLetter:
    """One unreadable message and its provenance."""

    reason: str
    error: Exception
    source_topic: str
    partition: int
    offset: int
    detected_by: str = "worker"
    """Which reader gave up on the message: the worker or the sink (both read the session topic)."""

    @property
    def letter_id(self) -> str:
        return letter_id(self.source_topic, self.partition, self.offset, self.detected_by)

    def headers(self) -> Headers:
        """The letter's own headers (the table in the module doc), without the null/cut marks."""
        detail = str(self.error)[:MAX_DETAIL]
        return [
            ("letter_id", self.letter_id.encode()),
            ("reason", self.reason.encode()),
            ("detected_by", self.detected_by.encode()),
            ("error_class", type(self.error).__name__.encode()),
            ("error", detail.encode()),
            ("source_topic", self.source_topic.encode()),
            ("source_partition", str(self.partition).encode()),
            ("source_offset", str(self.offset).encode()),
        ]

    def message(self, key: bytes | None, value: bytes | None,
                headers: Iterable[tuple[str, bytes | None]] | None = ()) -> tuple[bytes | None, bytes, Headers]:
        """``(key, value, headers)`` of the letter for an original message; always writable."""
        return envelope(key, value, headers, self.headers())


def letter_id(topic: str, partition: int, offset: int, detected_by: str) -> str:
    """The id of the letter one reader writes for the message at ``topic[partition]@offset``."""
    return f"{topic}/{partition}/{offset}/{detected_by}"


def envelope(key: bytes | None, value: bytes | None, original_headers: Iterable[tuple[str, bytes | None]] | None,
             own: Headers) -> tuple[bytes | None, bytes, Headers]:
    """The letter's key, value and headers for an original message (see the module doc)."""
    marks: Headers = []
    if key is None:
        marks.append(("key_null", b"1"))
    if value is None:
        marks.append(("value_null", b"1"))
        value = b""
    room = MAX_PAYLOAD_BYTES
    if key is not None and len(key) + len(value) > room:
        key_room = max(room - len(value), room // 2)  # a long key keeps at least half the room
        if len(key) > key_room:
            marks.append(("key_cut_from", str(len(key)).encode()))
            key = key[:key_room]
    if len(key or b"") + len(value) > room:
        marks.append(("value_cut_from", str(len(value)).encode()))
        value = value[:room - len(key or b"")]
    carried = [(ORIGINAL_PREFIX + name, data) for name, data in original_headers or ()]
    return key, value, own + marks + carried


@dataclass(frozen=True)
class Letter:
    """A letter as read back from the dead-letter topic: its headers parsed, the original restored."""

    letter_id: str
    reason: str
    detected_by: str
    error: str
    source_topic: str
    source_partition: int
    source_offset: int
    key: bytes | None
    """The original key (None where it was null), or its start when cut."""
    value: bytes | None
    """The original value (None where it was null), or its start when cut."""
    original_headers: Headers
    cut: bool
    """Whether the letter carries only the start of the key or value (it cannot be replayed)."""
    original_size: int
    """Bytes of the original key plus value."""

    @property
    def source(self) -> tuple[str, int, int]:
        return self.source_topic, self.source_partition, self.source_offset


def read_letter(key: bytes | None, value: bytes | None, headers: Iterable[tuple[str, bytes | None]] | None) -> Letter | None:
    """The letter in a dead-letter record, or None for a record that is not one (a replay
    marker, or a message someone else wrote there)."""
    own: dict[str, str] = {}
    original: Headers = []
    for name, data in headers or ():
        if name.startswith(ORIGINAL_PREFIX):
            original.append((name[len(ORIGINAL_PREFIX):], data))
        elif name not in own:
            own[name] = (data or b"").decode("utf-8", "replace")
    try:
        source = (own["source_topic"], int(own["source_partition"]), int(own["source_offset"]))
    except (KeyError, ValueError):
        return None
    detected_by = own.get("detected_by", "?")
    key_size = int(own.get("key_cut_from") or len(key or b""))
    value_size = int(own.get("value_cut_from") or len(value or b""))
    return Letter(
        letter_id=own.get("letter_id") or letter_id(*source, detected_by),
        reason=own.get("reason", "?"), detected_by=detected_by, error=own.get("error", ""),
        source_topic=source[0], source_partition=source[1], source_offset=source[2],
        key=None if own.get("key_null") == "1" else key,
        value=None if own.get("value_null") == "1" else value,
        original_headers=original,
        cut="key_cut_from" in own or "value_cut_from" in own,
        original_size=key_size + value_size,
    )


def replay_marker(letter: Letter) -> tuple[bytes, bytes, Headers]:
    """``(key, value, headers)`` of the record that says ``letter`` was sent back to its source."""
    return letter.letter_id.encode(), b"", [(REPLAYED_HEADER, letter.letter_id.encode())]


def replayed_id(headers: Iterable[tuple[str, bytes | None]] | None) -> str | None:
    """The letter id a replay marker names, or None for any other record."""
    for name, data in headers or ():
        if name == REPLAYED_HEADER and data is not None:
            return data.decode("utf-8", "replace")
    return None


def reason_of(error: InvalidMessage) -> str:
    """The short reason code of a message's refusal: its ``code``."""
    return error.code


def read_headers(headers: Any) -> dict[str, str]:
    """Headers as a dict of strings (a null header value reads as the empty string)."""
    return {key: (value or b"").decode("utf-8", "replace") for key, value in headers or ()}


class WrittenLetters:
    """Ids of the letters a reader wrote lately (the last ``capacity``), so a run or batch read
    again in the same process (a retry) does not write its letters twice."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._ids: dict[str, None] = {}
        self._capacity = capacity

    def __contains__(self, letter_id: str) -> bool:
        return letter_id in self._ids

    def add(self, letter_id: str) -> None:
        self._ids[letter_id] = None
        if len(self._ids) > self._capacity:
            del self._ids[next(iter(self._ids))]
