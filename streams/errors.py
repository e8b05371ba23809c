"""Errors raised at the streams boundary (Kafka I/O, the local stack, the command line).

Each says what went wrong, with what input, and what to do about it.
"""
from __future__ import annotations


class StreamsError(Exception):
    """Base of every error raised by the streams package."""


class StackError(StreamsError):
    """The local stack (Java, Maven, the broker process, its ports) could not do what was asked."""
