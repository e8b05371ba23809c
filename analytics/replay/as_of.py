"""The ledger as of an instant: every projection folded from the history up to it.

The history is streamed in replay order and in bounded chunks into ``LedgerFold``, the fold the
worker and the rebuild use, so the state at T equals the live state a worker had at T.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterable

from analytics.replay.history import DEFAULT_CHUNK, events_until
from analytics.warehouse import Warehouse
from projections import LedgerFold, LedgerView
from schemas.models import SessionEvent


@dataclass(frozen=True)
class LedgerAsOf:
    at: datetime
    view: LedgerView
    events_folded: int

    def summary(self) -> dict[str, Any]:
        """Counts for people and --json: sessions by status, players, concurrency by region/platform."""
        sessions = self.view.sessions.values()
        by_status = Counter(s.status.value for s in sessions)
        players = self.view.players.values()
        concurrency = [
            {"region": region, "platform": platform, **counts}
            for (region, platform), counts in sorted(self.view.concurrency.breakdown("region", "platform").items())
        ]
        return {
            "at": self.at.isoformat(),
            "events_folded": self.events_folded,
            "sessions": {"count": len(self.view.sessions), "by_status": dict(sorted(by_status.items()))},
            "players": {"count": len(self.view.players),
                        "with_open_sessions": sum(1 for p in players if p.open_sessions)},
            "concurrency": concurrency,
            "live": self.view.concurrency.live(),
        }


def fold_events(events: Iterable[SessionEvent], at: datetime,
                on_event: Callable[[int], None] | None = None) -> LedgerAsOf:
    """Fold ``events`` (already cut at ``at``) into every projection."""
    ledger = LedgerFold()
    folded = 0
    for event in events:
        ledger.deliver(event)
        folded += 1
        if on_event is not None and folded % 10_000 == 0:
            on_event(folded)
    return LedgerAsOf(at, ledger.view(), folded)


def ledger_as_of(warehouse: Warehouse, at: datetime, *, region: str = "",
                 chunk: int = DEFAULT_CHUNK,
                 on_event: Callable[[int], None] | None = None) -> LedgerAsOf:
    """Every projection as of ``at`` (events with occurred_at <= at), from the history."""
    return fold_events(events_until(warehouse, at, region, chunk), at, on_event)
