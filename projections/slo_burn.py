"""Live SLO burn: per-minute good/total tallies of the SLIs a single event decides, and the
multi-window, multi-burn-rate alerts of the SRE Workbook over them.

Pure: no clock, no I/O; the worker passes the time in and sends what ``BurnAlerts.evaluate``
returns. Which events count (an event decides its SLI alone, so the fold's accepted events are
enough):

- ``session_success``: an ``ended`` event is good unless its reason is abnormal (error,
  server_crash); a ``timed_out`` is bad;
- ``heartbeat_latency``: a ``heartbeat`` is good when ``latency_ms`` <= the threshold;
- ``matchmaking_time``: a ``started`` event is good when ``queue_ms`` <= the threshold (s).

``reconnect_success`` needs a disconnect and what follows it, so it is judged in the warehouse
only (``ledger slo status``), not live. See docs/metrics.md, "Burn-rate alerts".
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable

from schemas.models import ABNORMAL_END_REASONS

MINUTE_MS = 60_000
DAY = timedelta(days=1)

BURN_WINDOWS: tuple[tuple[str, timedelta], ...] = (
    ("5m", timedelta(minutes=5)), ("30m", timedelta(minutes=30)), ("1h", timedelta(hours=1)),
    ("6h", timedelta(hours=6)), ("3d", timedelta(days=3)),
)
"""The windows burn rates are reported over (the Prometheus ``window`` label values)."""


@dataclass(frozen=True)
class BurnPolicy:
    """One alert: page or ticket when the burn rate over both windows reaches ``factor``."""

    alert: str          # page or ticket
    factor: float
    long: timedelta
    short: timedelta

    @property
    def name(self) -> str:
        return f"{self.alert}-{_span(self.long)}"


WORKBOOK_30D: tuple[tuple[str, float, timedelta, timedelta], ...] = (
    ("page", 14.4, timedelta(hours=1), timedelta(minutes=5)),
    ("page", 6.0, timedelta(hours=6), timedelta(minutes=30)),
    ("ticket", 1.0, timedelta(days=3), timedelta(hours=6)),
)
"""The SRE Workbook's alerts for a 30-day SLO: 2 % of the budget in an hour, 5 % in six hours,
10 % in three days."""


def policies_for(window: timedelta) -> tuple[BurnPolicy, ...]:
    """The workbook's alerts scaled to an SLO ``window``: each keeps its share of the budget
    spent over its long window, so the factor is ``factor_30d x window / 30 days`` (14.4 for 30
    days, 13.44 for 28, 3.36 for 7)."""
    scale = window / (30 * DAY)
    return tuple(BurnPolicy(alert, factor * scale, long, short)
                 for alert, factor, long, short in WORKBOOK_30D)


@dataclass(frozen=True)
class LiveSli:
    """What the worker needs of one SLO: which events count and how they are judged."""

    name: str
    sli: str
    target: float
    window: timedelta
    threshold: float = 0.0
    region: str = ""
    platform: str = ""

    @property
    def budget_share(self) -> float:
        return 1.0 - self.target


LIVE_SLIS = {"session_success": ("ended", "timed_out"), "heartbeat_latency": ("heartbeat",),
             "matchmaking_time": ("started",)}
"""The SLIs judged live, and the event types each one reads."""


def judge(sli: LiveSli, record: Any) -> bool | None:
    """Whether a session record is good for ``sli``; None when it does not count for it."""
    if sli.region and record.region != sli.region:
        return None
    if sli.platform and record.platform != sli.platform:
        return None
    kind = sli.sli
    if kind == "heartbeat_latency":
        return record.latency_ms <= sli.threshold
    if kind == "matchmaking_time":
        return record.queue_ms <= sli.threshold * 1000
    if record.event_type == "timed_out":
        return False
    return record.end_reason not in ABNORMAL_END_REASONS


@dataclass
class SliTally:
    """Per-minute [good, total] of every live SLI, kept for its longest window."""

    slis: tuple[LiveSli, ...]
    minutes: dict[str, dict[int, list[int]]] = field(default_factory=dict)
    by_type: dict[str, tuple[tuple[LiveSli, dict[int, list[int]]], ...]] = field(init=False)
    """Event type -> the SLIs it counts for, each with its minutes: the one lookup per event."""

    def __post_init__(self) -> None:
        by_type: dict[str, list[tuple[LiveSli, dict[int, list[int]]]]] = {}
        for sli in self.slis:
            minutes = self.minutes.setdefault(sli.name, {})
            for event_type in LIVE_SLIS.get(sli.sli, ()):
                by_type.setdefault(event_type, []).append((sli, minutes))
        self.by_type = {k: tuple(v) for k, v in by_type.items()}

    def observe(self, record: Any) -> None:
        """Count one accepted session record in the minute of its ``occurred_at``."""
        rules = self.by_type.get(record.event_type)
        if rules is None:
            return
        minute = int(record.occurred_at.timestamp() // 60) * MINUTE_MS
        for sli, minutes in rules:
            good = judge(sli, record)
            if good is None:
                continue
            bucket = minutes.get(minute)
            if bucket is None:
                bucket = minutes[minute] = [0, 0]
            bucket[0] += good
            bucket[1] += 1

    def counts(self, name: str, end_ms: int, span: timedelta) -> tuple[int, int]:
        """(good, total) over the minutes starting in ``[end - span, end)``."""
        start = end_ms - int(span.total_seconds() * 1000)
        good = total = 0
        for minute, (g, t) in self.minutes[name].items():
            if start <= minute < end_ms:
                good += g
                total += t
        return good, total

    def forget_before(self, name: str, oldest_ms: int) -> None:
        """Drop the minutes of ``name`` that start before ``oldest_ms``."""
        minutes = self.minutes[name]
        for minute in [m for m in minutes if m < oldest_ms]:
            del minutes[minute]


def burn(sli: LiveSli, good: int, total: int) -> float | None:
    """(bad / total) / (1 - target); None with no events; ``inf`` on a bad event at target 1."""
    if total == 0:
        return None
    error_rate = (total - good) / total
    if sli.budget_share <= 0:
        return float("inf") if error_rate else 0.0
    return error_rate / sli.budget_share


@dataclass(frozen=True)
class Transition:
    """An alert opening or resolving: what the ``slo_burn`` ops event says."""

    slo: str
    region: str
    policy: BurnPolicy
    state: str               # opened or resolved
    opened_ms: int           # when the alert opened (both events carry it)
    at_ms: int
    burn_rate: float
    bad: int
    total: int

    @property
    def event_id(self) -> str:
        """Deterministic: the same alert step always has the same id, so a repeat is a duplicate."""
        return str(uuid.uuid5(BURN_EVENT_NAMESPACE,
                              f"{self.slo}|{self.policy.name}|{self.opened_ms}|{self.state}"))


BURN_EVENT_NAMESPACE = uuid.UUID("5d0f6c1a-8e2b-4b7e-9c3d-2a4f6e8b1c07")


@dataclass
class BurnAlerts:
    """Which alerts are open, per SLO and policy, and the rule that opens and resolves them.

    An alert opens when the burn rate over its long window and over its short window both reach
    its factor, and the long window holds at least ``min_events`` events (so a quiet region does
    not page on one bad event); it resolves when either burn rate falls below the factor.
    """

    min_events: int = 100
    open: dict[tuple[str, str], int] = field(default_factory=dict)  # (slo, policy) -> opened_ms

    def evaluate(self, sli: LiveSli, tally: SliTally, now_ms: int) -> list[Transition]:
        found = []
        for policy in policies_for(sli.window):
            good_l, total_l = tally.counts(sli.name, now_ms, policy.long)
            good_s, total_s = tally.counts(sli.name, now_ms, policy.short)
            long_rate, short_rate = burn(sli, good_l, total_l), burn(sli, good_s, total_s)
            firing = (total_l >= self.min_events and long_rate is not None
                      and short_rate is not None and long_rate >= policy.factor
                      and short_rate >= policy.factor)
            key = (sli.name, policy.name)
            opened = self.open.get(key)
            if firing and opened is None:
                self.open[key] = now_ms
                found.append(Transition(sli.name, sli.region or "all", policy, "opened", now_ms,
                                        now_ms, long_rate, total_l - good_l, total_l))
            elif not firing and opened is not None:
                del self.open[key]
                found.append(Transition(sli.name, sli.region or "all", policy, "resolved", opened,
                                        now_ms, long_rate or 0.0, total_l - good_l, total_l))
        return found


def burn_event_fields(t: Transition, producer: str, occurred_at: datetime,
                      opened_at: datetime) -> dict[str, Any]:
    """The fields of the ``slo_burn`` ops event of a transition."""
    return {
        "event_id": t.event_id, "occurred_at": occurred_at, "producer": producer,
        "event_type": "slo_burn",
        "payload": {
            "kind": "slo_burn", "region": t.region, "window_start": opened_at,
            "count": t.bad, "threshold": t.total, "slo": t.slo, "alert": t.policy.alert,
            "state": t.state, "burn_rate": t.burn_rate,
            "long_window_s": int(t.policy.long.total_seconds()),
        },
    }


def _span(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def live_slis(slos: Iterable[Any]) -> tuple[LiveSli, ...]:
    """The SLOs (``analytics.slo.Slo`` or alike) whose SLI can be judged live."""
    return tuple(LiveSli(s.name, s.sli, s.target, s.window, s.threshold, s.region, s.platform)
                 for s in slos if s.sli in LIVE_SLIS)
