"""What can go wrong running the worker, each error saying what to do about it."""
from __future__ import annotations

from schemas.errors import InvalidInput, InvalidMessage, Unavailable
from streams.errors import StreamsError


class WorkerError(StreamsError):
    """Base of the worker's errors (a family; each below says its kind)."""


class BadWorkerOption(WorkerError, InvalidInput, ValueError):
    """A worker option has a value the worker cannot run with."""

    def __init__(self, name: str, value: object, expected: str) -> None:
        self.name = name
        self.value = value
        super().__init__(f"worker option {name}={value!r} is not usable: expected {expected}")


class BadQuery(WorkerError, InvalidInput, ValueError):
    """An HTTP query parameter has a value the API does not accept."""

    def __init__(self, name: str, value: str, expected: str) -> None:
        self.name = name
        self.value = value
        super().__init__(f"query parameter {name}={value!r} is not accepted: expected {expected}")


class RebuildFailed(WorkerError, Unavailable):
    """The session topic could not be read to the end for a rebuild."""

    def __init__(self, topic: str, bootstrap: str, detail: str) -> None:
        self.topic = topic
        super().__init__(
            f"cannot rebuild projections from {topic} at {bootstrap}: {detail}; check the broker "
            "is up (`ledger stack status`) and the topic exists"
        )


class RunAbandoned(WorkerError, Unavailable):
    """Raised by a batch agent that finds, after waiting, that a rebalance went on without its
    run (``streams.fold.intake.check_still_ours``): it writes nothing more, nothing of the run is
    acknowledged, and the partition's owner reads the run again from the committed offset."""


class FoldRefused(WorkerError, InvalidMessage):
    """The session fold refused an event (a stored state it cannot read back, an event for
    another session): the worker dead-letters the message with reason ``fold_error``."""

    code = "fold_error"

    def __init__(self, cause: Exception) -> None:
        self.cause = cause
        super().__init__(f"the session fold refused this event: {cause}")
