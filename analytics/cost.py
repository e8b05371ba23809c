"""Cost from the ledger: what the fleet cost per player-hour, how much of it sat idle, by platform.

    cost_report(warehouse, from_, to)

Fleet cost is sampled like concurrency: each minute start t in the period costs 1/60 of the
hourly cost of the fleet in force at t; that minute's idle cost is the same times the share of
slots nobody used, max(0, 1 - concurrent / slots). Player-hours are the hours sessions were
live inside the period. A region's cost is shared among platforms by their player-hours, so
every platform of a region pays the region's cost per player-hour. Definitions and edge cases:
docs/metrics.md, "Cost".
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any, Sequence

from analytics.capacity import capacity_minutes
from analytics.sql import query_text
from analytics.warehouse import Warehouse

ALL = "*"
"""The platform (and region) of a row that sums the others."""


def cost_rows(minutes: Sequence[dict[str, Any]], hours: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of region x platform (``*`` for the region's total, and a ``*`` x ``*`` grand total
    when every region bills in one currency) from ``capacity.utilisation`` rows and
    ``player_hours.sql`` rows: player_hours, share (of the region's player-hours), cost,
    idle_cost (region rows), cost_per_player_hour, currency. A region with no fleet known has
    cost None; one with no player-hours has cost_per_player_hour None."""
    fleet_cost: dict[str, float] = defaultdict(float)
    idle_cost: dict[str, float] = defaultdict(float)
    currency: dict[str, str] = {}
    for row in minutes:
        if row["hourly_cost"] is None:
            continue
        region, per_minute = row["region"], row["hourly_cost"] / 60
        fleet_cost[region] += per_minute
        used = min(1.0, row["concurrent"] / row["slots"]) if row["slots"] else 0.0
        idle_cost[region] += per_minute * (1.0 - used)
        currency[region] = row["currency"]
    played: dict[str, dict[str, float]] = defaultdict(dict)
    for row in hours:
        played[row["region"]][row["platform"]] = float(row["player_hours"])
    rows = []
    for region in sorted(set(fleet_cost) | set(played)):
        total_hours = sum(played[region].values())
        cost = round(fleet_cost[region], 6) if region in fleet_cost else None
        per_hour = cost / total_hours if cost is not None and total_hours > 0 else None
        rows.append({"region": region, "platform": ALL, "player_hours": total_hours, "share": 1.0,
                     "cost": cost, "idle_cost": round(idle_cost[region], 6) if cost is not None else None,
                     "cost_per_player_hour": per_hour, "currency": currency.get(region)})
        for platform, hours_played in sorted(played[region].items()):
            share = hours_played / total_hours if total_hours > 0 else 0.0
            rows.append({"region": region, "platform": platform, "player_hours": hours_played,
                         "share": share, "cost": cost * share if cost is not None else None,
                         "idle_cost": None, "cost_per_player_hour": per_hour,
                         "currency": currency.get(region)})
    billed = {c for c in currency.values()}
    if len(billed) == 1:
        totals = [r for r in rows if r["platform"] == ALL and r["cost"] is not None]
        cost = sum(r["cost"] for r in totals)
        player_hours = sum(r["player_hours"] for r in totals)
        rows.append({"region": ALL, "platform": ALL, "player_hours": player_hours, "share": 1.0,
                     "cost": cost, "idle_cost": sum(r["idle_cost"] for r in totals),
                     "cost_per_player_hour": cost / player_hours if player_hours > 0 else None,
                     "currency": billed.pop()})
    return rows


def cost_report(warehouse: Warehouse, from_: datetime, to: datetime) -> list[dict[str, Any]]:
    """``cost_rows`` over [from_, to) from the warehouse."""
    hours = warehouse.query(query_text("reports", "player_hours"), {"from_": from_, "to": to},
                            name="player hours")
    return cost_rows(capacity_minutes(warehouse, from_, to), hours)
