"""Errors raised at the streams boundary (Kafka I/O, the local stack, the command line).

Each says what went wrong, with what input, and what to do about it, and is of one kind
(``InvalidInput``, ``Unavailable``, ``InvalidMessage``, ``Fatal``) that tells the caller what to
do; the whole tree and its exit codes are mapped in schemas/errors.py.
"""
from __future__ import annotations

from schemas.errors import Fatal, InvalidInput, InvalidMessage, LedgerError, Unavailable


class StreamsError(LedgerError):
    """Root of every error raised by the streams package and the ledger application."""


class SettingsError(StreamsError, InvalidInput, ValueError):
    """A LEDGER_* setting is missing, malformed or contradicts another. Never quotes a value."""


class BadStreamsOption(StreamsError, InvalidInput, ValueError):
    """An option of a stage (emitter, spool, sink, dead-letter limit) has a value it cannot run with."""

    def __init__(self, name: str, value: object, expected: str) -> None:
        self.name = name
        self.value = value
        super().__init__(f"{name}={value!r} cannot be used: expected {expected}")


class StackError(StreamsError, Unavailable):
    """The local stack (Java, Maven, the broker process, its ports) could not do what was asked."""


class TopicMissing(StreamsError, Unavailable):
    """A topic the work reads does not exist on the broker."""

    def __init__(self, topic: str, what_to_do: str) -> None:
        self.topic = topic
        super().__init__(f"topic {topic!r} does not exist; {what_to_do}")


class KafkaIncomplete(StreamsError, Unavailable):
    """Kafka did not let a read or a write finish: it took too long or was not acknowledged.
    The message says how far the work got and whether running it again is safe."""


class NotASessionEvent(StreamsError, InvalidMessage):
    """An ops event found on the session topic: the worker dead-letters it."""

    code = "not_a_session_event"

    def __init__(self, event_type: str) -> None:
        self.event_type = event_type
        super().__init__(
            f"{event_type} is an ops event, found on the session topic; emit ops events to the "
            "ops topic"
        )


class BrokerUnreachable(StreamsError, Unavailable):
    """Kafka did not answer (or did not acknowledge) in time; spooled events are kept on disk."""

    def __init__(self, bootstrap: str, detail: str, *, pending: int = 0, spool_dir: object = None) -> None:
        self.bootstrap = bootstrap
        self.pending = pending
        kept = f"; {pending} event(s) are kept in the spool at {spool_dir} and will be sent " \
               "when the broker answers" if pending else ""
        super().__init__(
            f"Kafka at {bootstrap} is unreachable: {detail}{kept}. Start the broker "
            "(`ledger stack up`) or point LEDGER_BOOTSTRAP_SERVERS at a running one"
        )


class SpoolError(StreamsError, Fatal):
    """The local spool of unsent events cannot be used as asked."""


class SpoolCorrupt(SpoolError):
    """A spool file is damaged somewhere other than a torn final record."""

    def __init__(self, path: object, detail: str) -> None:
        self.path = path
        super().__init__(
            f"spool file {path} {detail}. The spool stopped rather than skip events; move the "
            "damaged file aside to keep the events before it and start again"
        )


class SpoolClosed(SpoolError):
    """An append to a spool after ``close()``."""

    def __init__(self, directory: object) -> None:
        self.directory = directory
        super().__init__(f"spool at {directory} is closed; open a new Spool on that directory")


class EmitRejected(StreamsError):
    """The emitter refused an event for a reason of its own (the contract's errors are SchemaError).
    A family: each refusal below says its kind."""


class SequenceUnknown(EmitRejected, InvalidInput):
    """The emitter does not know the next ``seq`` of a session, so it cannot number its event."""

    def __init__(self, session_id: str, capacity: int) -> None:
        self.session_id = session_id
        super().__init__(
            f"the emitter knows no seq for session {session_id}: this emitter did not emit its "
            "'requested' event, or the session already ended, or it was the least recently used "
            f"of more than {capacity} open sessions. Pass seq explicitly for this session"
        )


class EmitterClosed(EmitRejected, Fatal):
    """An event emitted after ``close()``."""

    def __init__(self) -> None:
        super().__init__("the emitter is closed; create a new SessionEmitter to emit more events")


class ReaderHalted(StreamsError):
    """A reader (worker or sink) stopped rather than go on: what stopped it needs a person.

    The process exits non-zero; a supervisor may restart it, and the restarted reader goes on
    from its committed offsets (and stops again while the cause lasts). A family: each reason
    to halt below says its kind, and so its exit code.
    """


class DeadLetterFailed(ReaderHalted, Unavailable):
    """A message could not be written to the dead-letter topic after every attempt (exit 3).

    Not ``retryable``: the reader spent its attempts; retrying the batch around it would skip
    nothing but would never end either, so the reader stops.
    """

    retryable = False

    def __init__(self, letter_id: str, topic: str, attempts: int, detail: str) -> None:
        self.letter_id = letter_id
        self.topic = topic
        super().__init__(
            f"cannot dead-letter {letter_id} to {topic} after {attempts} attempt(s): {detail}. The "
            "reader stopped so as not to skip the message; check that the broker is up and the "
            "topic exists and accepts messages this size, then start the reader again"
        )


class DeadLetterLimitExceeded(ReaderHalted, Fatal):
    """A reader dead-lettered more than its limit allows (streams.kafka.deadletters.limit)."""

    def __init__(self, reader: str, rule: str, counts: dict[str, int]) -> None:
        self.reader = reader
        self.counts = dict(counts)
        shown = ", ".join(f"{reason}: {n}" for reason, n in sorted(counts.items(), key=lambda c: -c[1]))
        super().__init__(
            f"the {reader} stopped: {rule} ({shown}). A producer is probably writing what the "
            "ledger cannot read (see `ledger dead-letters list`); fix it, or raise "
            "LEDGER_DEAD_LETTER_MAX_PER_MINUTE / LEDGER_DEAD_LETTER_MAX_FRACTION, then start the "
            "reader again"
        )


class RegistryUnreadable(StreamsError, Unavailable):
    """The erasure registry topic could not be read or written (the broker is unreachable or the
    read did not reach the topic's end in time). Nothing was erased; the message says why."""
