"""Errors of the load generator: a bad option says which one, what it got, and what it takes."""
from __future__ import annotations

from schemas.errors import InvalidInput
from streams.errors import StreamsError


class LoadgenError(StreamsError):
    """Base of the load generator's errors (a family; each below says its kind)."""


class BadLoadOption(LoadgenError, InvalidInput, ValueError):
    """An option of the traffic or of a scripted fault cannot be used."""

    def __init__(self, option: str, value: object, expected: str) -> None:
        self.option = option
        self.value = value
        super().__init__(f"{option} {value!r} cannot be used: expected {expected}")
