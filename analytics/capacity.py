"""Capacity from the ledger: utilisation and headroom per region, a peak forecast, a launch plan.

    capacity_minutes(warehouse, from_, to)          # per region per minute: utilisation, headroom
    forecast_peaks(warehouse, at, weeks=4)          # per region: the peak expected in at's hour
    plan_event(warehouse, at, multiplier=2.0)       # per region: does the fleet hold at x demand?

Concurrency is the ledger's (docs/metrics.md, ``concurrency``), sampled at the start of each
minute; slots are those of the region's latest ``fleet_scaled`` at or before the minute. The
pure parts (``utilisation``, ``trend_forecast``, ``plan_rows``) take plain rows; the rest read
the warehouse through the SQL in analytics/queries/reports. Definitions: docs/metrics.md.
"""
from __future__ import annotations

import bisect
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable, Sequence

from analytics.sql import query_text
from analytics.warehouse import Warehouse

WEEK = timedelta(days=7)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class FleetChange:
    region: str
    changed_at: datetime
    servers: int
    player_slots: int
    hourly_cost: float
    currency: str


class FleetTimeline:
    """Each region's fleet changes in time order: which size was in force at an instant."""

    def __init__(self, changes: Iterable[FleetChange]) -> None:
        self._by_region: dict[str, list[FleetChange]] = defaultdict(list)
        for change in sorted(changes, key=lambda c: (c.region, c.changed_at)):
            self._by_region[change.region].append(change)
        self._instants = {r: [c.changed_at for c in cs] for r, cs in self._by_region.items()}

    @property
    def regions(self) -> list[str]:
        return sorted(self._by_region)

    def at(self, region: str, instant: datetime) -> FleetChange | None:
        """The latest change at or before ``instant`` (None: no fleet known yet)."""
        index = bisect.bisect_right(self._instants.get(region, []), instant)
        return self._by_region[region][index - 1] if index else None


def fleet_changes(warehouse: Warehouse, to: datetime) -> FleetTimeline:
    rows = warehouse.query(query_text("reports", "fleet_changes"), {"to": to}, name="fleet changes")
    return FleetTimeline(FleetChange(**row) for row in rows)


def minutes_of(from_: datetime, to: datetime) -> list[datetime]:
    """The minute starts t with from_ <= t < to."""
    first = from_.replace(second=0, microsecond=0)
    if first < from_:
        first += timedelta(minutes=1)
    return [first + timedelta(minutes=i) for i in range(max(0, math.ceil((to - first) / timedelta(minutes=1))))]


def utilisation(concurrency: Sequence[dict[str, Any]], fleet: FleetTimeline,
                minutes: Sequence[datetime]) -> list[dict[str, Any]]:
    """Per region (every region with a fleet or a live session) and minute: concurrent, slots,
    utilisation = concurrent / slots, headroom = slots - concurrent. Before the region's first
    fleet change slots, utilisation and headroom are None; with 0 slots utilisation is None."""
    live = {(row["region"], row["minute"]): row["concurrent"] for row in concurrency}
    regions = sorted(set(fleet.regions) | {row["region"] for row in concurrency})
    rows = []
    for region in regions:
        for minute in minutes:
            concurrent = live.get((region, minute), 0)
            change = fleet.at(region, minute)
            slots = change.player_slots if change else None
            rows.append({
                "region": region, "minute": minute, "concurrent": concurrent, "slots": slots,
                "utilisation": concurrent / slots if slots else None,
                "headroom": slots - concurrent if slots is not None else None,
                "hourly_cost": change.hourly_cost if change else None,
                "currency": change.currency if change else None,
            })
    return rows


def region_concurrency(warehouse: Warehouse, from_: datetime, to: datetime) -> list[dict[str, Any]]:
    """Concurrent sessions per region at the start of every minute in [from_, to) with someone
    live, ordered by minute and region: the per-segment concurrency (the one query that counts
    it) added up over platforms."""
    segments = warehouse.query(query_text("review", "concurrency_by_segment"),
                               {"from_": from_, "to": to, "region": "", "platform": ""},
                               name="region concurrency")
    totals: dict[tuple[datetime, str], int] = {}
    for row in segments:  # ordered by minute, region, platform: the totals keep that order
        key = (row["minute"], row["region"])
        totals[key] = totals.get(key, 0) + row["concurrent"]
    return [{"minute": minute, "region": region, "concurrent": concurrent}
            for (minute, region), concurrent in totals.items()]


def capacity_minutes(warehouse: Warehouse, from_: datetime, to: datetime,
                     region: str = "") -> list[dict[str, Any]]:
    """``utilisation`` over [from_, to) from the warehouse, optionally one region."""
    concurrency = region_concurrency(warehouse, from_, to)
    rows = utilisation(concurrency, fleet_changes(warehouse, to), minutes_of(from_, to))
    return [r for r in rows if not region or r["region"] == region]


def capacity_summary(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per region over ``utilisation`` rows: peak concurrency and its minute, the slots then,
    the highest utilisation, the least headroom, and the minutes at or over 100%."""
    by_region: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_region[row["region"]].append(row)
    summary = []
    for region, minutes in sorted(by_region.items()):
        peak = max(minutes, key=lambda r: (r["concurrent"], -r["minute"].timestamp()))
        known = [r for r in minutes if r["utilisation"] is not None]
        summary.append({
            "region": region, "peak_concurrent": peak["concurrent"], "peak_minute": peak["minute"],
            "slots_at_peak": peak["slots"],
            "max_utilisation": max((r["utilisation"] for r in known), default=None),
            "min_headroom": min((r["headroom"] for r in known), default=None),
            "minutes_full": sum(1 for r in known if r["utilisation"] >= 1.0),
        })
    return summary


# --- forecast ------------------------------------------------------------------------------


def trend_forecast(peaks: Sequence[float | None]) -> float | None:
    """The next value of a weekly series (oldest first; None where a week has no data) by a
    least-squares line through the known weeks: one known week is its own forecast, none is
    None. Never below 0."""
    known = [(i, float(v)) for i, v in enumerate(peaks) if v is not None]
    if not known:
        return None
    if len(known) == 1:
        return known[0][1]
    n = len(known)
    mean_x = sum(x for x, _ in known) / n
    mean_y = sum(y for _, y in known) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in known)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in known) / sxx
    return max(0.0, mean_y + slope * (len(peaks) - mean_x))


def hour_peaks(concurrency: Sequence[dict[str, Any]]) -> dict[tuple[str, datetime], int]:
    """(region, hour start) -> the highest per-minute concurrency in that hour."""
    peaks: dict[tuple[str, datetime], int] = {}
    for row in concurrency:
        key = (row["region"], row["minute"].replace(minute=0, second=0, microsecond=0))
        peaks[key] = max(peaks.get(key, 0), row["concurrent"])
    return peaks


class _Forecaster:
    """Hour peaks and live minutes per region, read once, for many forecasts."""

    def __init__(self, concurrency: Sequence[dict[str, Any]], regions: Iterable[str] = ()) -> None:
        self.peaks = hour_peaks(concurrency)
        self.minutes: dict[str, list[datetime]] = defaultdict(list)
        for row in concurrency:
            self.minutes[row["region"]].append(row["minute"])
        for values in self.minutes.values():
            values.sort()
        self.regions = sorted(set(regions) | set(self.minutes))

    def at(self, at: datetime, weeks: int) -> list[dict[str, Any]]:
        hour = at.replace(minute=0, second=0, microsecond=0)
        rows = []
        for region in self.regions:
            history = []
            for k in range(weeks, 0, -1):
                target = hour - k * WEEK
                value = self.peaks.get((region, target))
                if value is None:
                    seen = self.minutes[region]
                    i = bisect.bisect_left(seen, target - DAY)
                    value = 0 if i < len(seen) and seen[i] < target + DAY else None
                history.append(value)
            rows.append({"region": region, "hour": hour, "weekly_peaks": history,
                         "forecast_peak": trend_forecast(history)})
        return rows


def forecast_from(concurrency: Sequence[dict[str, Any]], at: datetime, weeks: int,
                  regions: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Per region: the peak of at's hour in each of the ``weeks`` weeks before (oldest first)
    and the trend forecast for at's hour. An hour with nobody live counts 0 when the region has
    a live session within a day of it, else None (no history that week)."""
    return _Forecaster(concurrency, regions).at(at, weeks)


def _weeks_before(warehouse: Warehouse, first_hour: datetime, last_hour: datetime,
                  weeks: int) -> list[dict[str, Any]]:
    """Concurrency rows covering the same hours of the ``weeks`` weeks before, a day either side."""
    return region_concurrency(warehouse, first_hour - weeks * WEEK - DAY, last_hour - WEEK + HOUR + DAY)


def forecast_peaks(warehouse: Warehouse, at: datetime, weeks: int = 4) -> list[dict[str, Any]]:
    """``forecast_from`` over the warehouse's concurrency in the ``weeks`` weeks before at's hour."""
    hour = at.replace(minute=0, second=0, microsecond=0)
    return forecast_from(_weeks_before(warehouse, hour, hour, weeks), at, weeks)


def week_ahead(warehouse: Warehouse, now: datetime, weeks: int = 4) -> list[dict[str, Any]]:
    """Per region: next week's peak, the highest of the 168 hourly forecasts for [now's hour,
    + 7 days), each from the same hour in the ``weeks`` weeks before it, and the hour it falls in."""
    start = now.replace(minute=0, second=0, microsecond=0)
    concurrency = _weeks_before(warehouse, start, start + 167 * HOUR, weeks)
    forecaster = _Forecaster(concurrency)
    best: dict[str, dict[str, Any]] = {}
    for h in range(168):
        at = start + h * HOUR
        for row in forecaster.at(at, weeks):
            value = row["forecast_peak"]
            if value is not None and (row["region"] not in best or value > best[row["region"]]["forecast_peak"]):
                best[row["region"]] = {"region": row["region"], "peak_hour": at, "forecast_peak": value,
                                       "weekly_peaks": row["weekly_peaks"]}
    return [best[r] for r in sorted(best)]


# --- launch plan --------------------------------------------------------------------------


def plan_rows(forecasts: Sequence[dict[str, Any]], fleet: FleetTimeline, at: datetime,
              multiplier: float) -> list[dict[str, Any]]:
    """Per region: demand = forecast_peak x multiplier (rounded up), the slots in force at
    ``at`` (the latest fleet change at or before it), headroom = slots - demand, and whether the
    region runs out (demand > slots). A region with no forecast or no fleet is listed with
    ``runs_out`` None: unknown."""
    regions = sorted({f["region"] for f in forecasts} | set(fleet.regions))
    by_region = {f["region"]: f for f in forecasts}
    rows = []
    for region in regions:
        forecast = by_region.get(region, {}).get("forecast_peak")
        change = fleet.at(region, at)
        demand = math.ceil(forecast * multiplier - 1e-9) if forecast is not None else None
        slots = change.player_slots if change else None
        runs_out = None if demand is None or slots is None else demand > slots
        per_server = (change.player_slots / change.servers) if change and change.servers else None
        extra = (math.ceil((demand - slots) / per_server) if runs_out and per_server else 0) \
            if runs_out is not None else None
        rows.append({"region": region, "forecast_peak": forecast, "demand": demand, "slots": slots,
                     "headroom": slots - demand if runs_out is not None else None,
                     "runs_out": runs_out, "servers_to_add": extra})
    return rows


def plan_event(warehouse: Warehouse, at: datetime, multiplier: float = 2.0,
               weeks: int = 4) -> list[dict[str, Any]]:
    """``plan_rows`` for an event at ``at`` whose demand is ``multiplier`` times the usual."""
    return plan_rows(forecast_peaks(warehouse, at, weeks), fleet_changes(warehouse, at + timedelta(milliseconds=1)),
                     at, multiplier)
