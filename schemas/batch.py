"""A batch of Kafka values to flat records, with no pydantic on the way: the readers' hot path.

    batch = BatchDecoder().decode(values)      # values: bytes or None, as Kafka gives them
    batch.sessions    # [SessionRecord, ...] in batch order (schemas.records)
    batch.ops         # [OpsRecord, ...] in batch order
    batch.errors      # [(index in values, SchemaError), ...]: dead-letter each with error.code

    rows = BatchDecoder().decode_rows(values)  # the same, as plain tuples for a columnar insert
    rows.sessions     # [tuple, ...] in SESSION_COLUMNS order, timestamps as epoch milliseconds

What it promises, message by message, for the current catalogue (session_event v1-v3,
ops_event v1): a message ``decode()`` reads as an event comes back as the record
``schemas.records.session_record``/``ops_record`` makes of that event, equal value for value;
a message ``decode()`` refuses comes back in ``errors`` with the same ``SchemaError`` class,
code and message. ``decode`` never raises a ``SchemaError``: one bad message costs only itself.

How: each writer version gets a reader compiled once (``schemas.readers``), resolved to the
current reader version and checking in the same pass what Avro cannot check (canonical UUIDs,
non-empty ids, ``seq >= 1`` except on timed_out, ranges, the payload branch against
``event_type``, timestamps a ``datetime`` can hold). Whatever the compiled reader does not
vouch for (a bad header, a failed check, bytes that end early) is read once more by the codec,
whose verdict stands; so the errors, and the rare valid event the fast path is stricter about
(an upper-case UUID, which the models normalise), are exactly the codec's.

``decode_rows`` is the same pass for a writer that wants columns (the history sink): each
event a plain tuple in the record's column order, its timestamps as integer milliseconds
since the epoch instead of ``datetime``, so no ``datetime`` is made and ``zip(*rows)`` gives
the columns. It accepts and refuses exactly the messages ``decode`` does.
"""

from __future__ import annotations

import gc
import struct
from datetime import datetime, timedelta
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Callable

from schemas.catalogue import OPS_EVENT, SESSION_EVENT, SchemaVersion
from schemas.codec import HEADER_BYTES, MARKER, MAX_EVENT_BYTES, Codec, default_codec
from schemas.errors import SchemaError
from schemas.models import OPS_PAYLOADS, SESSION_PAYLOADS, SessionEvent
from schemas.readers import EPOCH, Layout, Reject, Unsupported, compile_reader
from schemas.records import (
    OPS_FIELD_COLUMNS, SESSION_FIELD_COLUMNS, OpsRecord, SessionRecord, ops_record,
    session_record,
)


def _branch_event_types(payloads: dict[Any, type]) -> dict[str, frozenset[str]]:
    branches: dict[str, set[str]] = {}
    for event_type, model in payloads.items():
        branches.setdefault(model.__name__, set()).add(event_type.value)
    return {name: frozenset(types) for name, types in branches.items()}


SESSION_LAYOUT = Layout(
    record_type=SessionRecord,
    field_columns=SESSION_FIELD_COLUMNS,
    checks={
        "event_id": "uuid", "session_id": "uuid", "player_id": "nonempty",
        "producer": "nonempty", "region": "nonempty", "game_mode": "nonempty",
        "server_id": "nonempty", "queue_ms": "nonneg", "latency_ms": "int32_nonneg",
        "packet_loss_pct": "percent", "downtime_ms": "nonneg", "from_server_id": "nonempty",
        "to_server_id": "nonempty", "timeout_s": "int32_positive",
    },
    branch_event_types=_branch_event_types(SESSION_PAYLOADS),
    row_check="c_seq < 1 and (c_seq != 0 or c_event_type != 'timed_out')",
)
"""session_event → SessionRecord, with the checks of schemas.models.SessionEvent."""

OPS_LAYOUT = Layout(
    record_type=OpsRecord,
    field_columns=OPS_FIELD_COLUMNS,
    checks={
        "event_id": "uuid", "producer": "nonempty", "incident_id": "nonempty",
        "deploy_id": "nonempty", "service": "nonempty", "version": "nonempty",
        "anomaly_kind": "nonempty", "anomaly_region": "nonempty", "anomaly_count": "nonneg",
        "threshold": "nonneg", "fleet_region": "nonempty", "servers": "nonneg",
        "player_slots": "nonneg", "hourly_cost": "finite_nonneg", "currency": "nonempty",
    },
    branch_event_types=_branch_event_types(OPS_PAYLOADS),
    list_columns=frozenset({"regions", "services"}),
    branch_checks={
        # Events using the v2 fields take the codec's path, which checks the rules between
        # event type and fields (schemas.models.OpsEvent); they are rare, so it costs nothing.
        "Incident": "c_event_type in ('incident_corrected', 'maintenance_scheduled') or "
                    "c_incident_kind == 'maintenance' or c_milestone is not None or "
                    "c_milestone_at is not None or c_planned_start is not None or "
                    "c_planned_end is not None",
        "Anomaly": "c_event_type == 'slo_burn' or c_slo is not None or c_burn_alert is not None "
                   "or c_burn_state is not None or c_burn_rate is not None or "
                   "c_long_window_s is not None",
    },
)
"""ops_event → OpsRecord, with the checks of schemas.models.OpsEvent."""

_LAYOUTS = {SESSION_EVENT: SESSION_LAYOUT, OPS_EVENT: OPS_LAYOUT}
_DECODE_ERRORS = (Reject, IndexError, KeyError, ValueError, TypeError, OverflowError,
                  struct.error)
"""What a compiled reader raises on bytes it cannot vouch for (UnicodeDecodeError is a ValueError)."""


@dataclass
class DecodedBatch:
    """The records of a batch, and the messages that are not events (see the module doc)."""

    sessions: list[SessionRecord] = field(default_factory=list)
    ops: list[OpsRecord] = field(default_factory=list)
    errors: list[tuple[int, SchemaError]] = field(default_factory=list)


@dataclass
class DecodedRows:
    """``DecodedBatch`` as plain tuples, timestamps in epoch milliseconds (see the module doc)."""

    sessions: list[tuple] = field(default_factory=list)
    ops: list[tuple] = field(default_factory=list)
    errors: list[tuple[int, SchemaError]] = field(default_factory=list)


_MILLISECOND = timedelta(milliseconds=1)


def millis_row(record: tuple) -> tuple:
    """A record as ``decode_rows`` gives it: every ``datetime`` as epoch milliseconds."""
    return tuple((v - EPOCH) // _MILLISECOND if isinstance(v, datetime) else v for v in record)


class BatchDecoder:
    """Decodes batches of single-object messages to flat records; readers compiled once.

    ``fast`` off reads every message with the codec and maps the model to a record: the
    reference the compiled path is tested and benchmarked against.
    """

    def __init__(self, codec: Codec | None = None, *, fast: bool = True) -> None:
        self.codec = codec or default_codec()
        catalogue = self.codec.catalogue
        self._readers: dict[bytes, tuple[str, Callable[[bytes], tuple]]] = {}
        self._row_readers: dict[bytes, tuple[str, Callable[[bytes], tuple]]] = {}
        self.unsupported: dict[str, str] = {}
        """Writer versions read by the codec alone, and why the compiler declined them."""
        if not fast:
            return
        for name, layout in _LAYOUTS.items():
            if name not in catalogue.versions:
                continue
            current = catalogue.current(name)
            for version in catalogue.versions[name]:
                try:
                    reader = compile_reader(version.schema, current.schema, layout,
                                            name=f"read_{name}_v{version.version}")
                except Unsupported as exc:
                    self.unsupported[version.label] = str(exc)
                    continue
                self._readers[MARKER + version.fingerprint] = (name, reader)
                self._row_readers[MARKER + version.fingerprint] = (name, compile_reader(
                    version.schema, current.schema, layout,
                    name=f"read_{name}_v{version.version}_row", rows=True))

    def decode(self, values: Sequence[bytes | None]) -> DecodedBatch:
        """The records and errors of ``values`` (see the module doc); never raises SchemaError."""
        batch = DecodedBatch()
        self._run(values, self._readers, batch, self._careful)
        return batch

    def decode_rows(self, values: Sequence[bytes | None]) -> DecodedRows:
        """The rows and errors of ``values`` (see the module doc); never raises SchemaError."""
        batch = DecodedRows()
        self._run(values, self._row_readers, batch, self._careful_row)
        return batch

    def _run(self, values: Sequence[bytes | None], compiled: dict, batch: Any,
             careful: Callable[[int, bytes | None, Any], None]) -> None:
        adders = {SESSION_EVENT: batch.sessions.append, OPS_EVENT: batch.ops.append}
        readers = {header: (read, adders[name]) for header, (name, read) in compiled.items()}
        get = readers.get
        collecting = gc.isenabled()
        gc.disable()  # the loop makes only tuples of atoms: no cycles for a collection to find
        try:
            for index, data in enumerate(values):
                entry = get(data[:HEADER_BYTES]) if data is not None else None
                if entry is not None and len(data) <= MAX_EVENT_BYTES:
                    try:
                        entry[1](entry[0](data))
                        continue
                    except _DECODE_ERRORS:
                        pass  # read again below by the codec, whose verdict stands
                careful(index, data, batch)
        finally:
            if collecting:
                gc.enable()

    def _careful(self, index: int, data: bytes | None, batch: DecodedBatch) -> None:
        """Read one message with the codec: its record, or its error."""
        try:
            event = self.codec.decode(b"" if data is None else bytes(data))
        except SchemaError as error:
            batch.errors.append((index, error))
            return
        if type(event) is SessionEvent:
            batch.sessions.append(session_record(event))
        else:
            batch.ops.append(ops_record(event))

    def _careful_row(self, index: int, data: bytes | None, batch: DecodedRows) -> None:
        """``_careful`` for ``decode_rows``: the codec's event as a row, or its error."""
        records = DecodedBatch(errors=batch.errors)
        self._careful(index, data, records)
        batch.sessions.extend(map(millis_row, records.sessions))
        batch.ops.extend(map(millis_row, records.ops))

    def reader_source(self, version: SchemaVersion) -> str:
        """The compiled reader's Python source for a writer version (for review and tests)."""
        return self._readers[MARKER + version.fingerprint][1].source


def decode_batch(values: Sequence[bytes | None]) -> DecodedBatch:
    """``BatchDecoder().decode(values)`` with one decoder per process."""
    global _default
    if _default is None:
        _default = BatchDecoder()
    return _default.decode(values)


_default: BatchDecoder | None = None
