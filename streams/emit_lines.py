"""The core of ``ledger emit``: JSON lines in, events out, a report of what was refused and why.

Each non-blank line is one session or ops event as a JSON object, with the field names of the
contract. ``seq`` may be left out (the emitter numbers the session's events), and so may
``event_id`` (a new UUID) and ``producer`` (the emitter's name). A line that is not JSON, breaks
the contract or cannot be numbered is refused with its line number, field and reason; the other
lines are still emitted.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from schemas.errors import InvalidEvent, SchemaError
from streams.emitter import SessionEmitter
from streams.errors import EmitRejected, SequenceUnknown


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


def emit_json_lines(lines: Iterable[str], emitter: SessionEmitter) -> EmitReport:
    """Validate and emit each JSON line in order. ``sent`` counts events the emitter took
    (sent, or spooled to be sent); call ``emitter.flush()`` to wait for the broker."""
    report = EmitReport()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            fields = json.loads(line)
        except json.JSONDecodeError as exc:
            report.rejected.append(Rejection(number, "(line)", f"is not JSON: {exc.msg} at column {exc.colno}"))
            continue
        if not isinstance(fields, dict):
            report.rejected.append(Rejection(number, "(line)", f"must be a JSON object, got {type(fields).__name__}"))
            continue
        try:
            emitter.emit_fields(fields)
        except InvalidEvent as exc:
            report.rejected.append(Rejection(number, exc.field, _reason(exc)))
        except SchemaError as exc:
            report.rejected.append(Rejection(number, "(event)", str(exc)))
        except EmitRejected as exc:
            where = "seq" if isinstance(exc, SequenceUnknown) else "(event)"
            report.rejected.append(Rejection(number, where, str(exc)))
        else:
            report.sent += 1
    return report


def _reason(exc: InvalidEvent) -> str:
    more = "".join(f"; {f} {r}" for f, r in exc.problems[1:])
    return f"{exc.reason}{more}"
