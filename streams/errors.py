"""Errors raised at the streams boundary (Kafka I/O, the local stack, the command line).

Each says what went wrong, with what input, and what to do about it.
"""
from __future__ import annotations


class StreamsError(Exception):
    """Base of every error raised by the streams package."""


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
