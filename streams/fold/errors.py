"""What can go wrong running the worker, each error saying what to do about it."""
from __future__ import annotations

from streams.errors import StreamsError


class WorkerError(StreamsError):
    """Base of the worker's errors."""


class BadWorkerOption(WorkerError, ValueError):
    """A worker option has a value the worker cannot run with."""

    def __init__(self, name: str, value: object, expected: str) -> None:
        self.name = name
        self.value = value
        super().__init__(f"worker option {name}={value!r} is not usable: expected {expected}")


class BadQuery(WorkerError, ValueError):
    """An HTTP query parameter has a value the API does not accept."""

    def __init__(self, name: str, value: str, expected: str) -> None:
        self.name = name
        self.value = value
        super().__init__(f"query parameter {name}={value!r} is not accepted: expected {expected}")


class RebuildFailed(WorkerError):
    """The session topic could not be read to the end for a rebuild."""

    def __init__(self, topic: str, bootstrap: str, detail: str) -> None:
        self.topic = topic
        super().__init__(
            f"cannot rebuild projections from {topic} at {bootstrap}: {detail}; check the broker "
            "is up (`ledger stack status`) and the topic exists"
        )
