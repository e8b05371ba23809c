"""UTC instants as stored in projection records: whole epoch milliseconds, like the wire."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from projections.errors import NaiveTimestamp

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def require_utc(value: datetime, what: str) -> datetime:
    """``value`` converted to UTC; a naive datetime is refused rather than guessed at."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise NaiveTimestamp(what, value)
    return value.astimezone(timezone.utc)


def to_millis(value: datetime | None) -> int | None:
    """Epoch milliseconds of an aware instant (None stays None)."""
    if value is None:
        return None
    return (value - EPOCH) // timedelta(milliseconds=1)


def from_millis(value: int | None) -> datetime | None:
    """The UTC instant of epoch milliseconds (None stays None)."""
    if value is None:
        return None
    return EPOCH + timedelta(milliseconds=value)
