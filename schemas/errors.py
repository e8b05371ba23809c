"""What can go wrong at the contract boundary: reading bytes, validating events, loading schemas.

Every error carries a short machine-readable ``code`` (used as the dead-letter reason) and a
message that says what went wrong, with what input, and what to do about it.
"""

from __future__ import annotations

NO_VALUE = object()
"""Stands for "the field was absent" where an error would otherwise show the bad value."""


class SchemaError(Exception):
    """Base class for every error raised by the ``schemas`` package."""

    code = "schema_error"


class BadMarker(SchemaError):
    """The bytes do not start with the Avro single-object marker ``C3 01``."""

    code = "bad_marker"

    def __init__(self, prefix: bytes) -> None:
        self.prefix = prefix
        super().__init__(
            f"message starts with {prefix.hex(' ') or '(nothing)'} instead of the Avro "
            "single-object marker c3 01; it was not written by a ledger emitter "
            "(or is JSON/plain Avro). Re-emit it with schemas.codec.encode"
        )


class TruncatedMessage(SchemaError):
    """The message ends before its header or its Avro body is complete."""

    code = "truncated"

    def __init__(self, length: int, needed: str) -> None:
        self.length = length
        super().__init__(
            f"message of {length} bytes ends before {needed}; it was cut short in transit "
            "or by a size limit. Re-send the original event"
        )


class MalformedMessage(SchemaError):
    """The header is fine but the body does not decode with the writer schema it names."""

    code = "malformed"

    def __init__(self, schema: str, detail: str) -> None:
        self.schema = schema
        super().__init__(
            f"body does not decode as {schema}: {detail}. The writer used a schema other "
            "than the one its fingerprint names; fix the producer"
        )


class UnknownFingerprint(SchemaError):
    """The fingerprint in the header names no schema version in the catalogue."""

    code = "unknown_fingerprint"

    def __init__(self, fingerprint: bytes, known: list[str]) -> None:
        self.fingerprint = fingerprint
        super().__init__(
            f"writer schema fingerprint {fingerprint.hex()} is not in the catalogue "
            f"(known: {', '.join(known) or 'none'}); the producer uses a schema version this "
            "reader has never seen. Add that version under schemas/avro/ or upgrade the reader"
        )


class InvalidEvent(SchemaError):
    """An event breaks the contract; ``field`` is the dotted path of the first bad field."""

    code = "invalid_event"

    def __init__(self, field: str, reason: str, value: object = NO_VALUE, problems=()) -> None:
        self.field = field
        self.reason = reason
        self.value = value
        self.problems: list[tuple[str, str]] = list(problems) or [(field, reason)]
        shown = "" if value is NO_VALUE else f" (got {_short(value)})"
        more = f" (and {len(self.problems) - 1} more problem(s))" if len(self.problems) > 1 else ""
        super().__init__(
            f"invalid event: field '{field}' {reason}{shown}{more}; "
            "fix the field and emit again"
        )


class EventTooLarge(SchemaError):
    """An encoded event exceeds ``schemas.codec.MAX_EVENT_BYTES``."""

    code = "too_large"

    def __init__(self, size: int, limit: int, event_type: str | None = None) -> None:
        self.size = size
        self.limit = limit
        what = f"{event_type} event" if event_type else "message"
        super().__init__(
            f"{what} is {size} bytes, over the {limit}-byte limit; events describe one "
            "lifecycle step and should be small. Shorten free-text fields or split the event"
        )


class CatalogueError(SchemaError):
    """A schema file in the catalogue is missing, unreadable or not valid Avro."""

    code = "catalogue"

    def __init__(self, path: str, detail: str) -> None:
        self.path = path
        super().__init__(f"schema catalogue problem in {path}: {detail}")


def _short(value: object) -> str:
    shown = repr(value)
    return shown if len(shown) <= 80 else shown[:77] + "..."
