"""Disconnects per region per minute, and when a minute's count makes a spike.

The worker counts accepted ``disconnected`` events (``Step.accepted``: applied and allowed
by the state machine, so duplicates and anomalies do not count) in one-minute tumbling
windows keyed by region (the window is the minute of the event's ``occurred_at``, not of its arrival, so a
replay counts the same). A window becomes a spike the moment its count reaches the
threshold; ``crossed_threshold`` is true for exactly one increment per window, so the
anomaly is reported once however many disconnects follow.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

from projections.timestamps import require_utc
from schemas.models import SessionEvent, SessionEventType
from schemas.records import SessionRecord

SPIKE_KIND = "disconnect_spike"

SPIKE_EVENT_NAMESPACE = uuid.UUID("0b6a8a5e-3f7d-4d0c-9a41-6c2e9f1d7b35")
"""Namespace of the deterministic event_id of a spike anomaly (uuid5 of region and window)."""


class WindowKey(NamedTuple):
    region: str
    window_start: datetime


def minute_bucket(ts: datetime) -> datetime:
    """The start of the UTC minute containing ``ts``."""
    return require_utc(ts, "timestamp").replace(second=0, microsecond=0)


def window_key(event: SessionEvent | SessionRecord) -> WindowKey | None:
    """The window an applied event (a model or a record) counts in, or None if it is not a
    disconnect."""
    if event.event_type != SessionEventType.disconnected:
        return None
    return WindowKey(event.region, minute_bucket(event.occurred_at))


def crossed_threshold(before: int, after: int, threshold: int) -> bool:
    """Whether moving a window's count from ``before`` to ``after`` reached ``threshold``."""
    return before < threshold <= after


def count_disconnects(accepted: Iterable[SessionEvent]) -> dict[WindowKey, int]:
    """Disconnects per window over events the session fold accepted (not raw deliveries)."""
    counts: dict[WindowKey, int] = {}
    for event in accepted:
        key = window_key(event)
        if key is not None:
            counts[key] = counts.get(key, 0) + 1
    return counts


def spikes(counts: dict[WindowKey, int], threshold: int) -> list[tuple[WindowKey, int]]:
    """Windows whose count reached ``threshold``, oldest first."""
    return sorted(
        ((key, n) for key, n in counts.items() if n >= threshold),
        key=lambda item: (item[0].window_start, item[0].region),
    )


def spike_anomaly_fields(
    key: WindowKey, count: int, threshold: int, now: datetime, producer: str,
) -> dict[str, Any]:
    """The fields of the ``anomaly_detected`` ops event reporting a spike in ``key``'s window.

    The event_id depends only on the window, so reporting the same spike twice (after a
    restart) yields the same event.
    """
    window = minute_bucket(key.window_start)
    return {
        "event_id": str(uuid.uuid5(SPIKE_EVENT_NAMESPACE, f"{key.region}/{window.isoformat()}")),
        "occurred_at": require_utc(now, "now"),
        "producer": producer,
        "event_type": "anomaly_detected",
        "payload": {
            "kind": SPIKE_KIND, "region": key.region, "window_start": window,
            "count": count, "threshold": threshold,
        },
    }
