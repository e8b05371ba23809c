"""The core of ``ledger emit``: JSON lines in, events out, a report of what was refused and why.

Each non-blank line is one session or ops event as a JSON object, with the field names of the
contract. ``seq`` may be left out (the emitter numbers the session's events), and so may
``event_id`` (a new UUID) and ``producer`` (the emitter's name). A line that is not JSON, breaks
the contract or cannot be numbered is refused with its line number, field and reason; so is an
incident milestone out of order with the input's earlier lines for that incident (resolved
before opened: ``projections.incidents``). The other lines are still emitted.
"""
from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TextIO

from projections.incidents import MilestoneGuard
from schemas.errors import InvalidEvent, InvalidInput, InvalidMessage
from streams.emit.emitter import SessionEmitter
from streams.errors import SequenceUnknown


@dataclass(frozen=True)
class Rejection:
    """One refused line: where it is, which field, and what is wrong with it."""

    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.reason}"


@dataclass
class EmitReport:
    """What ``emit_json_lines`` did: how many events were taken, and every line it refused."""

    sent: int = 0
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.rejected

    def as_dict(self) -> dict:
        return {
            "sent": self.sent,
            "rejected": len(self.rejected),
            "rejections": [{"line": r.line, "field": r.field, "reason": r.reason} for r in self.rejected],
        }


MAX_LINE_CHARS = 256 * 1024
"""The longest JSON line read: four times the largest encoded event (JSON is wordier than Avro)."""


def bounded_lines(stream: TextIO, max_chars: int = MAX_LINE_CHARS) -> Iterator[str | None]:
    """The lines of ``stream``, with None in place of each line longer than ``max_chars``.

    A longer line is skipped in chunks, never held in memory whole.
    """
    while True:
        line = stream.readline(max_chars + 1)
        if not line:
            return
        if len(line) > max_chars and not line.endswith("\n"):
            while True:
                rest = stream.readline(64 * 1024)
                if not rest or rest.endswith("\n"):
                    break
            yield None
        else:
            yield line


def emit_json_lines(lines: Iterable[str | None], emitter: SessionEmitter, *,
                    max_rate: float | None = None) -> EmitReport:
    """Validate and emit each JSON line in order. ``sent`` counts events the emitter took
    (sent, or spooled to be sent); call ``emitter.flush()`` to wait for the broker.

    ``None`` stands for a line too long to read (see ``bounded_lines``); ``max_rate`` caps the
    events per second handed to the emitter.
    """
    report = EmitReport()
    guard = MilestoneGuard()
    interval = 1.0 / max_rate if max_rate else 0.0
    next_at = time.monotonic()
    for number, line in enumerate(lines, start=1):
        if line is None:
            report.rejected.append(Rejection(number, "(line)", f"is longer than {MAX_LINE_CHARS:,} characters"))
            continue
        if not line.strip():
            continue
        if interval:
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        try:
            fields = json.loads(line)
        except json.JSONDecodeError as exc:
            report.rejected.append(Rejection(number, "(line)", f"is not JSON: {exc.msg} at column {exc.colno}"))
            continue
        if not isinstance(fields, dict):
            report.rejected.append(Rejection(number, "(line)", f"must be a JSON object, got {type(fields).__name__}"))
            continue
        try:
            emitter.emit_fields(fields, check=guard.check)
        except InvalidEvent as exc:
            report.rejected.append(Rejection(number, exc.field, _reason(exc)))
        except (InvalidMessage, InvalidInput) as exc:  # this line's fault; anything else stops the run
            where = "seq" if isinstance(exc, SequenceUnknown) else getattr(exc, "field", "(event)")
            report.rejected.append(Rejection(number, where, str(exc)))
        else:
            report.sent += 1
    return report


def _reason(exc: InvalidEvent) -> str:
    more = "".join(f"; {f} {r}" for f, r in exc.problems[1:])
    return f"{exc.reason}{more}"
