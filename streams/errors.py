"""Errors raised at the streams boundary (Kafka I/O, the local stack, the command line).

Each says what went wrong, with what input, and what to do about it.
"""
from __future__ import annotations


class StreamsError(Exception):
    """Base of every error raised by the streams package."""

    exit_code = 3
    """What the command line exits with: 3 a required part is unavailable, unless a class says
    otherwise."""


class SettingsError(StreamsError):
    """A LEDGER_* setting is missing, malformed or contradicts another. Never quotes a value."""


class StackError(StreamsError):
    """The local stack (Java, Maven, the broker process, its ports) could not do what was asked."""


class BrokerUnreachable(StreamsError):
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


class SpoolError(StreamsError):
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
    """The emitter refused an event for a reason of its own (the contract's errors are SchemaError)."""


class SequenceUnknown(EmitRejected):
    """The emitter does not know the next ``seq`` of a session, so it cannot number its event."""

    def __init__(self, session_id: str, capacity: int) -> None:
        self.session_id = session_id
        super().__init__(
            f"the emitter knows no seq for session {session_id}: this emitter did not emit its "
            "'requested' event, or the session already ended, or it was the least recently used "
            f"of more than {capacity} open sessions. Pass seq explicitly for this session"
        )


class EmitterClosed(EmitRejected):
    """An event emitted after ``close()``."""

    def __init__(self) -> None:
        super().__init__("the emitter is closed; create a new SessionEmitter to emit more events")


class ReaderHalted(StreamsError):
    """A reader (worker or sink) stopped rather than go on: what stopped it needs a person.

    The process exits non-zero; a supervisor may restart it, and the restarted reader goes on
    from its committed offsets (and stops again while the cause lasts).
    """

    exit_code = 1


class DeadLetterFailed(ReaderHalted):
    """A message could not be written to the dead-letter topic after every attempt."""

    exit_code = 3

    def __init__(self, letter_id: str, topic: str, attempts: int, detail: str) -> None:
        self.letter_id = letter_id
        self.topic = topic
        super().__init__(
            f"cannot dead-letter {letter_id} to {topic} after {attempts} attempt(s): {detail}. The "
            "reader stopped so as not to skip the message; check that the broker is up and the "
            "topic exists and accepts messages this size, then start the reader again"
        )


class DeadLetterLimitExceeded(ReaderHalted):
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
