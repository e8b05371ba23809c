"""The ledger's one error tree, and what can go wrong at the contract boundary.

Every error the ledger raises is a ``LedgerError``. Each package has its own root beneath it
(the class a reader meets first in that package), and every error that is raised is also of
exactly one *kind*, which says what the caller does with it. Callers decide by kind, never by
the package that raised the error and never by ``except Exception``:

=================== ======== ===============================================================
kind                exit     what the caller does
=================== ======== ===============================================================
``InvalidInput``    2        tell the person what to change; retrying the same input is futile
``Unavailable``     3        a part the work needs did not answer: retry while ``retryable``
                             (the sink, the emitter's spool), otherwise report and exit 3
``InvalidMessage``  2        a reader dead-letters the message with ``code`` as its reason and
                             goes on; at the command line it is bad input
``Fatal``           1        nothing to retry or dead-letter: report it and stop (the work
                             found a problem, or a caller broke a contract)
=================== ======== ===============================================================

The tree (package roots in parentheses; a family without a kind is never raised itself)::

    LedgerError
    ├── (SchemaError)                     schemas/errors.py
    │   ├── BadMarker                     InvalidMessage  bad_marker
    │   ├── TruncatedMessage              InvalidMessage  truncated
    │   ├── MalformedMessage              InvalidMessage  malformed
    │   ├── UnknownFingerprint            InvalidMessage  unknown_fingerprint
    │   ├── InvalidEvent                  InvalidMessage  invalid_event
    │   ├── EventTooLarge                 InvalidMessage  too_large
    │   ├── CatalogueError                Fatal
    │   ├── Reject                        Fatal           schemas/readers.py: a signal the batch decoder
    │   │                                                 catches (the codec reads the message again)
    │   └── Unsupported                   Fatal           schemas/readers.py: a signal the batch decoder
    │                                                     catches (the codec reads that version)
    ├── (ProjectionError)                 projections/errors.py
    │   ├── WrongSession                  Fatal
    │   ├── WrongPlayer                   Fatal
    │   ├── BadStateRecord                Fatal
    │   ├── NotTimedOut                   Fatal
    │   ├── NaiveTimestamp                Fatal
    │   ├── MilestoneOutOfOrder           InvalidInput
    │   ├── BadErasure                    InvalidInput    projections/erasure.py
    │   └── UnknownGrouping               InvalidInput (and ValueError)
    ├── (AnalyticsError)                  analytics/errors.py
    │   ├── WarehouseUnavailable          Unavailable
    │   ├── QueryFailed                   Unavailable
    │   ├── MigrationError                Fatal
    │   ├── UnknownReport                 InvalidInput
    │   ├── BadReportParameter            InvalidInput (and ValueError)
    │   ├── BadSloSpec                    InvalidInput
    │   ├── WarehouseBusy                 Unavailable     chDB held by a process that serves no reads
    │   ├── ReadRefused                   InvalidInput    a write, DDL or setting sent to the read-only
    │   │                                                 interface of the warehouse (analytics/serve)
    │   ├── UnknownDeploy                 InvalidInput    no ops event names the deploy
    │   ├── DeployWithoutBuild            InvalidInput    its events name no build to judge
    │   └── (ReplayError)                 analytics/replay/errors.py
    │       ├── NothingToReplay           Fatal
    │       │   ├── SessionNotFound       Fatal
    │       │   ├── IncidentNotFound      Fatal
    │       │   └── EmptyWindow           Fatal
    │       └── BadWindow                 InvalidInput (and ValueError)
    └── (StreamsError)                    streams/errors.py
        ├── SettingsError                 InvalidInput (and ValueError)
        ├── StackError                    Unavailable
        ├── BrokerUnreachable             Unavailable
        ├── TopicMissing                  Unavailable
        ├── KafkaIncomplete               Unavailable
        ├── RegistryUnreadable            Unavailable     the erasure registry (streams/kafka/erasures.py)
        ├── NotASessionEvent              InvalidMessage  not_a_session_event
        ├── BadStreamsOption              InvalidInput (and ValueError)
        ├── SpoolError                    Fatal
        │   ├── SpoolCorrupt              Fatal
        │   └── SpoolClosed               Fatal
        ├── (EmitRejected)
        │   ├── SequenceUnknown           InvalidInput
        │   └── EmitterClosed             Fatal
        ├── (ReaderHalted)
        │   ├── DeadLetterFailed          Unavailable (not retryable: its attempts are spent)
        │   └── DeadLetterLimitExceeded   Fatal
        ├── (WorkerError)                 streams/fold/errors.py
        │   ├── BadWorkerOption           InvalidInput (and ValueError)
        │   ├── BadQuery                  InvalidInput (and ValueError)
        │   ├── RebuildFailed             Unavailable
        │   ├── RunAbandoned              Unavailable (the partition's new owner reads the run again)
        │   ├── FoldRefused               InvalidMessage  fold_error
        │   └── WorkerNotReady            Unavailable     ledger/worker_process.py
        ├── DemoError                     Fatal           ledger/demo.py
        └── (LoadgenError)                ledger/loadgen/errors.py
            └── BadLoadOption             InvalidInput (and ValueError)

An error that is also a ``ValueError`` is one pydantic or click turns into a message about the
field or option that carries it. Errors of client libraries (kafka-python's ``KafkaError``,
the ClickHouse driver's) are translated into a kind where the ledger meets them; the few that
are not yet are caught beside ``Unavailable`` at the edge that can retry them.

The rest of this module is the contract's own errors. Every one carries a short
machine-readable ``code`` (the dead-letter reason) and a message that says what went wrong,
with what input, and what to do about it.
"""

from __future__ import annotations

NO_VALUE = object()
"""Stands for "the field was absent" where an error would otherwise show the bad value."""

EXIT_FATAL = 1
EXIT_INVALID_INPUT = 2
EXIT_UNAVAILABLE = 3


class LedgerError(Exception):
    """Root of every error the ledger raises. Catch a kind below it, not this."""

    exit_code = EXIT_FATAL
    """What the command line exits with when this error ends a command."""
    retryable = False
    """Whether the same call may succeed if made again later."""


class InvalidInput(LedgerError):
    """Kind: what a person or a caller passed in is wrong. Say what to change; exit 2."""

    exit_code = EXIT_INVALID_INPUT


class Unavailable(LedgerError):
    """Kind: a part the work needs (broker, warehouse, Java, a topic) did not answer or refused.

    Retry while ``retryable``; a command line reports it and exits 3.
    """

    exit_code = EXIT_UNAVAILABLE
    retryable = True


class InvalidMessage(LedgerError):
    """Kind: a message cannot be taken as an event. A reader dead-letters it with ``code`` as
    the reason and goes on; at the command line it is bad input (exit 2)."""

    exit_code = EXIT_INVALID_INPUT
    code = "invalid_message"
    """The dead-letter reason: short, stable, machine-readable."""


class Fatal(LedgerError):
    """Kind: nothing to retry or dead-letter; report it and stop (exit 1)."""

    exit_code = EXIT_FATAL


KINDS = (InvalidInput, Unavailable, InvalidMessage, Fatal)
"""The kinds a caller decides by; every error that is raised is of exactly one."""


def kind_of(error: BaseException) -> type[LedgerError] | None:
    """The kind of ``error``, or None for an error that is not the ledger's."""
    return next((kind for kind in KINDS if isinstance(error, kind)), None)


class SchemaError(LedgerError):
    """Root of every error raised by the ``schemas`` package."""


class BadMarker(SchemaError, InvalidMessage):
    """The bytes do not start with the Avro single-object marker ``C3 01``."""

    code = "bad_marker"

    def __init__(self, prefix: bytes) -> None:
        self.prefix = prefix
        super().__init__(
            f"message starts with {prefix.hex(' ') or '(nothing)'} instead of the Avro "
            "single-object marker c3 01; it was not written by a ledger emitter "
            "(or is JSON/plain Avro). Re-emit it with schemas.codec.encode"
        )


class TruncatedMessage(SchemaError, InvalidMessage):
    """The message ends before its header or its Avro body is complete."""

    code = "truncated"

    def __init__(self, length: int, needed: str) -> None:
        self.length = length
        super().__init__(
            f"message of {length} bytes ends before {needed}; it was cut short in transit "
            "or by a size limit. Re-send the original event"
        )


class MalformedMessage(SchemaError, InvalidMessage):
    """The header is fine but the body does not decode with the writer schema it names."""

    code = "malformed"

    def __init__(self, schema: str, detail: str) -> None:
        self.schema = schema
        super().__init__(
            f"body does not decode as {schema}: {detail}. The writer used a schema other "
            "than the one its fingerprint names; fix the producer"
        )


class UnknownFingerprint(SchemaError, InvalidMessage):
    """The fingerprint in the header names no schema version in the catalogue."""

    code = "unknown_fingerprint"

    def __init__(self, fingerprint: bytes, known: list[str]) -> None:
        self.fingerprint = fingerprint
        super().__init__(
            f"writer schema fingerprint {fingerprint.hex()} is not in the catalogue "
            f"(known: {', '.join(known) or 'none'}); the producer uses a schema version this "
            "reader has never seen. Add that version under schemas/avro/ or upgrade the reader"
        )


class InvalidEvent(SchemaError, InvalidMessage):
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


class EventTooLarge(SchemaError, InvalidMessage):
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


class CatalogueError(SchemaError, Fatal):
    """A schema file in the catalogue is missing, unreadable or not valid Avro."""

    code = "catalogue"

    def __init__(self, path: str, detail: str) -> None:
        self.path = path
        super().__init__(f"schema catalogue problem in {path}: {detail}")


def _short(value: object) -> str:
    shown = repr(value)
    return shown if len(shown) <= 80 else shown[:77] + "..."
