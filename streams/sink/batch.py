"""The pure part of the history sink: what a batch is made of, with no Kafka and no warehouse.

A batch holds one ``Slice`` per topic-partition: an offset range and the rows its messages
decoded to (``BatchDecoder.decode_rows``: plain tuples in the warehouse's column order,
timestamps as epoch milliseconds), ready to be zipped into the columns of one insert. ``decode_into`` adds a run of one
partition's messages to its slice in one call of the batch decoder and returns what must be
dead-lettered; the consumer loop (consumer.py) does the reading, writing and committing.
``anonymise_rows`` puts an erased player's token in place of the id in a batch's session rows
before they are written (projections/erasure.py).
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from kafka import TopicPartition

from projections.erasure import CLEARED_FIELDS, ErasedPlayers
from schemas.batch import BatchDecoder
from schemas.errors import InvalidMessage
from schemas.records import SessionRecord

_PLAYER = SessionRecord._fields.index("player_id")
_CLEARED = tuple(SessionRecord._fields.index(name) for name in CLEARED_FIELDS)


@dataclass
class Slice:
    """The messages of one topic-partition in the current batch: an unbroken offset range."""

    partition: TopicPartition
    first_offset: int
    last_offset: int
    sessions: list[tuple] = field(default_factory=list)
    """session_events rows of the range's events, in offset order."""
    ops: list[tuple] = field(default_factory=list)
    """ops_events rows of the range's events, in offset order."""
    messages: int = 0
    written: bool = False

    @property
    def dedup_token(self) -> str:
        return dedup_token(self.partition, self.first_offset, self.last_offset)

    @property
    def next_offset(self) -> int:
        return self.last_offset + 1


def dedup_token(partition: TopicPartition, first_offset: int, last_offset: int) -> str:
    """The token that names an offset range: the same range always gets the same token."""
    return f"{partition.topic}/{partition.partition}/{first_offset}-{last_offset}"


MAX_TOKEN = 190
"""The longest batch token: with a table's suffix (``/session``, ``/ops``) it stays within the
200 characters ``analytics.warehouse.check_dedup_token`` lets into an INSERT."""


def batch_token(pieces: Sequence[Slice]) -> str:
    """The token of one insert of ``pieces``' rows: a single slice's own ``dedup_token``; for
    several, every range named (``<topic>/<partition>:<first>-<last>/...``, topics joined by
    ``+``), or past ``MAX_TOKEN`` characters the SHA-256 of that text. The same ranges always
    give the same token, in whatever order the slices come."""
    if len(pieces) == 1:
        return pieces[0].dedup_token
    by_topic: dict[str, list[Slice]] = {}
    for piece in sorted(pieces, key=lambda p: (p.partition.topic, p.partition.partition)):
        by_topic.setdefault(piece.partition.topic, []).append(piece)
    text = "+".join(topic + "".join(f"/{p.partition.partition}:{p.first_offset}-{p.last_offset}"
                                    for p in group) for topic, group in by_topic.items())
    if len(text) <= MAX_TOKEN:
        return text
    return "ranges-sha256-" + hashlib.sha256(text.encode()).hexdigest()


@dataclass
class SinkStats:
    """What the sink has done since it started; ``lag`` is messages not yet read, per partition."""

    batches: int = 0
    rows: int = 0
    session_rows: int = 0
    ops_rows: int = 0
    dead_letters: int = 0
    retries: int = 0
    commits: int = 0
    dropped_on_rebalance: int = 0
    anonymised_rows: int = 0
    """Session rows written with an erased player's token in place of the id."""
    last_error: str | None = None
    disk_low: bool = False
    """Whether the disk guard holds the sink now."""
    disk_pauses: int = 0
    """How many times the disk guard started holding it."""
    lag: dict[str, int] = field(default_factory=dict)
    first_read_at: float | None = None  # time.monotonic() of the first message read

    @property
    def total_lag(self) -> int:
        return sum(self.lag.values())

    def as_dict(self) -> dict[str, Any]:
        return {"batches": self.batches, "rows": self.rows, "session_rows": self.session_rows,
                "ops_rows": self.ops_rows, "dead_letters": self.dead_letters,
                "retries": self.retries, "commits": self.commits,
                "dropped_on_rebalance": self.dropped_on_rebalance,
                "anonymised_rows": self.anonymised_rows, "lag": self.total_lag,
                "last_error": self.last_error, "disk_low": self.disk_low, "disk_pauses": self.disk_pauses}


class Run(Protocol):
    """The messages of one partition that one poll brought, in offset order
    (``streams.sink.client.Run``)."""

    values: list[bytes | None]

    @property
    def first_offset(self) -> int: ...

    @property
    def last_offset(self) -> int: ...

    def __len__(self) -> int: ...

    def message(self, index: int) -> Any:
        """The whole message ``index`` (topic, partition, offset, key, value, headers)."""


def decode_into(piece: Slice, run: Run, decoder: BatchDecoder) -> list[tuple[Any, InvalidMessage]]:
    """Add ``run`` (of ``piece``'s partition, right after its range) to ``piece``: its rows, and
    the range extended to its last offset. Returns ``(message, error)`` for each message that
    is no event, in order, for the caller to dead-letter; a null value reads as empty bytes (a
    truncated message)."""
    decoded = decoder.decode_rows(run.values)
    piece.sessions.extend(decoded.sessions)
    piece.ops.extend(decoded.ops)
    piece.last_offset = run.last_offset
    piece.messages += len(run)
    return [(run.message(index), error) for index, error in decoded.errors]


def anonymise_rows(rows: list[tuple], erased: ErasedPlayers | None) -> tuple[list[tuple], int]:
    """``rows`` (session rows in ``SessionRecord`` field order) as they must be stored, and how
    many were anonymised: an erased player's rows get the erasure's token for ``player_id`` and
    None in ``CLEARED_FIELDS``; every other row is kept as it is (the same list when none is
    erased).

    Costs nothing with no erasure known; else one verdict per distinct player of the batch
    (``ErasedPlayers.token_for``: a dict lookup, or one SHA-256 for a player not seen before).
    """
    if not erased or not rows:
        return rows, 0
    player = _PLAYER
    tokens = {}
    for player_id in {row[player] for row in rows}:
        token = erased.token_for(player_id)
        if token is not None:
            tokens[player_id] = token
    if not tokens:
        return rows, 0
    out, anonymised = [], 0
    for row in rows:
        token = tokens.get(row[player])
        if token is None:
            out.append(row)
            continue
        values = list(row)
        values[player] = token
        for index in _CLEARED:
            values[index] = None
        out.append(tuple(values))
        anonymised += 1
    return out, anonymised
