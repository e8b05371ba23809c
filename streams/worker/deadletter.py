"""Messages the ledger cannot read go to the dead-letter topic as they arrived, with why.

One header format for every reader (the worker and the sink both use it).

The value is the original bytes, untouched, so the message can be inspected or re-emitted;
the headers say what was wrong and where the message came from.
"""
from __future__ import annotations

from dataclasses import dataclass

REASON_NOT_SESSION = "not_a_session_event"
REASON_FOLD = "fold_error"

MAX_DETAIL = 1000


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

    def headers(self) -> list[tuple[str, bytes]]:
        detail = str(self.error)[:MAX_DETAIL]
        return [
            ("reason", self.reason.encode()),
            ("detected_by", self.detected_by.encode()),
            ("error_class", type(self.error).__name__.encode()),
            ("error", detail.encode()),
            ("source_topic", self.source_topic.encode()),
            ("source_partition", str(self.partition).encode()),
            ("source_offset", str(self.offset).encode()),
        ]


def reason_of(error: Exception) -> str:
    """The short reason code of an error (schemas errors carry one as ``code``)."""
    return getattr(error, "code", None) or REASON_FOLD


def read_headers(headers) -> dict[str, str]:
    """Dead-letter headers as a dict of strings (for readers and tests)."""
    return {key: value.decode() for key, value in headers or ()}
