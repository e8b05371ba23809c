"""Events to bytes and back, in Avro single-object encoding.

A message is ``C3 01`` + the 8-byte little-endian CRC-64-AVRO fingerprint of the writer
schema's Parsing Canonical Form + the Avro binary body. Writers always use the current
version from the catalogue; readers look the writer version up by fingerprint and resolve it
to the current reader version, so old and new producers can share a topic.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any

from fastavro import schemaless_reader, schemaless_writer
from pydantic import ValidationError

from schemas.catalogue import OPS_EVENT, SESSION_EVENT, Catalogue, SchemaVersion, default_catalogue
from schemas.errors import (
    BadMarker,
    EventTooLarge,
    InvalidEvent,
    MalformedMessage,
    TruncatedMessage,
)
from schemas.models import Event, OpsEvent, SessionEvent, invalid_event_from

MARKER = b"\xc3\x01"
HEADER_BYTES = len(MARKER) + 8
MAX_EVENT_BYTES = 64 * 1024
"""Largest message, header included, that encode writes and decode accepts."""

_MODELS: dict[str, type[SessionEvent] | type[OpsEvent]] = {
    SESSION_EVENT: SessionEvent,
    OPS_EVENT: OpsEvent,
}


_NAMES = {model: name for name, model in _MODELS.items()}
_NAMESPACES = {SessionEvent: "ledger.session", OpsEvent: "ledger.ops"}


def to_record(event: Event) -> dict[str, Any]:
    """The Avro record of an event: a shallow dict the fastavro writer accepts as it is.

    The payload goes in fastavro's ``(record name, dict)`` union notation, so the writer picks
    the branch by name instead of trying each branch in turn.
    """
    record = dict(event.__dict__)
    payload = event.payload
    record["payload"] = (f"{_NAMESPACES[type(event)]}.{type(payload).__name__}", payload.__dict__)
    if type(event) is SessionEvent:
        record["accessibility"] = event.accessibility.__dict__
    return record


class Codec:
    """Encoder/decoder bound to one schema catalogue."""

    def __init__(self, catalogue: Catalogue | None = None) -> None:
        self.catalogue = catalogue or default_catalogue()
        self._writers: dict[type, tuple[bytes, Any]] = {}
        for name, model in _MODELS.items():
            if name in self.catalogue.versions:
                current = self.catalogue.current(name)
                self._writers[model] = (MARKER + current.fingerprint, current.parsed)

    def encode(self, event: Event, *, writer_version: int | None = None) -> bytes:
        """Single-object encoding of ``event`` with the current (or the given) writer version.

        An older ``writer_version`` drops the fields that version lacks, as an older producer
        would; it exists to test and demonstrate schema evolution.
        """
        try:
            header, schema = self._writers[type(event)]
        except KeyError:
            raise TypeError(
                f"encode takes a SessionEvent or OpsEvent, not {type(event).__name__}; "
                "build one with schemas.models.parse_event"
            ) from None
        if writer_version is not None:
            version = self.catalogue.version(_NAMES[type(event)], writer_version)
            header, schema = MARKER + version.fingerprint, version.parsed
        out = BytesIO()
        out.write(header)
        try:
            schemaless_writer(out, schema, to_record(event))
        except (ValueError, TypeError, AttributeError, OverflowError) as exc:
            raise InvalidEvent("(event)", f"does not fit the writer schema: {exc}", event) from exc
        data = out.getvalue()
        if len(data) > MAX_EVENT_BYTES:
            raise EventTooLarge(len(data), MAX_EVENT_BYTES, event.event_type.value)
        return data

    def decode(self, data: bytes) -> Event:
        """The event in ``data``, resolved to the current model. Raises a ``SchemaError``."""
        name, record = self.decode_record(data)
        try:
            return _MODELS[name].model_validate(record)
        except ValidationError as exc:
            raise invalid_event_from(exc) from None

    def decode_record(self, data: bytes, *, reader_version: int | None = None) -> tuple[str, dict]:
        """``(schema name, record dict)`` read with the given (default: current) reader version.

        The record is plain Avro data: UUIDs as strings, timestamps as UTC datetimes,
        enums as strings, and ``payload`` as the dict of the record ``event_type`` names.
        """
        writer = self.writer_of(data)
        if reader_version is None:
            reader = self.catalogue.current(writer.name)
        else:
            reader = self.catalogue.version(writer.name, reader_version)
        body = BytesIO(data)
        body.seek(HEADER_BYTES)
        try:
            record = schemaless_reader(
                body, writer.parsed, None if reader is writer else reader.parsed
            )
        except (EOFError, ValueError, IndexError, KeyError, TypeError, UnicodeDecodeError,
                OverflowError) as exc:  # OverflowError: a timestamp or int out of range
            if isinstance(exc, EOFError) or body.tell() >= len(data):
                raise TruncatedMessage(len(data), f"the end of its {writer.label} body") from None
            raise MalformedMessage(writer.label, f"{type(exc).__name__}: {exc}") from exc
        if body.tell() != len(data):
            raise MalformedMessage(
                writer.label, f"{len(data) - body.tell()} bytes left over after the record"
            )
        return writer.name, record

    def writer_of(self, data: bytes) -> SchemaVersion:
        """The schema version that wrote ``data``, checking size, marker and fingerprint."""
        size = len(data)
        if size > MAX_EVENT_BYTES:
            raise EventTooLarge(size, MAX_EVENT_BYTES)
        if size == 0:
            raise TruncatedMessage(0, "the c3 01 marker")
        if not MARKER.startswith(bytes(data[:2])):
            raise BadMarker(bytes(data[:2]))
        if size < HEADER_BYTES:
            raise TruncatedMessage(size, "the end of its 10-byte header")
        return self.catalogue.by_fingerprint(bytes(data[2:HEADER_BYTES]))


_default: Codec | None = None


def default_codec() -> Codec:
    """The codec over the shipped catalogue, built once per process."""
    global _default
    if _default is None:
        _default = Codec()
    return _default


def encode(event: Event) -> bytes:
    """Single-object encoding of ``event`` with the current writer schema."""
    return default_codec().encode(event)


def decode(data: bytes) -> Event:
    """The ``SessionEvent`` or ``OpsEvent`` in ``data``; raises a ``SchemaError`` subclass."""
    return default_codec().decode(data)


def decode_record(data: bytes, *, reader_version: int | None = None) -> tuple[str, dict]:
    """``(schema name, record dict)`` for callers that want raw Avro records."""
    return default_codec().decode_record(data, reader_version=reader_version)
