"""A run of session-topic messages read at once: each message's record, or why it is not one.

    outcomes = read_run(decoder, [message.value for message in messages])
    # outcomes[i]: the SessionRecord of message i, or the InvalidMessage to dead-letter it with

One ``BatchDecoder.decode`` call reads the whole run (schemas/batch.py: compiled readers, the
contract checked in the same pass, the codec's error classes and codes for what is refused). An
ops event on the session topic is refused as ``NotASessionEvent``, as the per-message path did.
"""
from __future__ import annotations

from collections.abc import Sequence

from schemas.batch import BatchDecoder
from schemas.errors import InvalidMessage
from schemas.records import SessionRecord
from streams.errors import NotASessionEvent

Outcome = SessionRecord | InvalidMessage


def read_run(decoder: BatchDecoder, values: Sequence[bytes | None]) -> list[Outcome]:
    """The outcome of every value, in order (a tombstone, None, is refused as truncated)."""
    batch = decoder.decode(values)
    outcomes: list[Outcome | None] = [None] * len(values)
    for index, error in batch.errors:
        outcomes[index] = error
    if not batch.ops:
        records = iter(batch.sessions)  # every value not refused, in order
        return [next(records) if outcome is None else outcome for outcome in outcomes]
    # Ops events among them (rare): which values they are is read one value at a time.
    for index, outcome in enumerate(outcomes):
        if outcome is None:
            one = decoder.decode([values[index]])
            outcomes[index] = (one.sessions[0] if one.sessions
                               else NotASessionEvent(one.ops[0].event_type))
    return outcomes  # type: ignore[return-value]
