"""How far off is the weekly peak forecast on loadgen traffic?

    python -m bench.forecast --weeks 4 --players 400 --growth 0.08 --json

The same hour (18:00 UTC, Mondays) is generated for ``weeks + 1`` consecutive weeks, each with
``growth`` more players than the week before and its own seed, and written into a fresh chDB.
The forecast for the last week (``analytics.capacity.forecast_peaks``, from the ``weeks``
weeks before it) is compared with that week's actual peak per region. Reported: per region the
forecast, the actual and the error; overall the mean absolute percentage error (MAPE) and the
same for the naive forecast (last week's peak), so the trend's worth is visible.
"""
from __future__ import annotations

import argparse
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bench.common import emit_result

MONDAY = datetime(2026, 2, 2, 18, 0, tzinfo=timezone.utc)
WEEK = timedelta(days=7)


def run(weeks: int, players: int, growth: float, seed: int) -> dict:
    from analytics.capacity import forecast_peaks, hour_peaks, region_concurrency
    from analytics.migrate import migrate
    from analytics.rows import write_events
    from analytics.warehouse import ChdbWarehouse
    from ledger.loadgen import generate

    target = MONDAY + weeks * WEEK
    with tempfile.TemporaryDirectory() as scratch:
        with ChdbWarehouse(Path(scratch) / "chdb") as warehouse:
            migrate(warehouse)
            for k in range(weeks + 1):
                plan = generate(players=round(players * (1 + growth) ** k), duration_s=3600,
                                seed=seed + k, start=MONDAY + k * WEEK)
                write_events(warehouse, plan.events)
            forecast = {r["region"]: r for r in forecast_peaks(warehouse, target, weeks)}
            actual_rows = region_concurrency(warehouse, target, target + timedelta(hours=1))
    actual = {region: peak for (region, _), peak in hour_peaks(actual_rows).items()}
    regions = []
    for region in sorted(actual):
        predicted = forecast[region]["forecast_peak"]
        naive = forecast[region]["weekly_peaks"][-1]
        regions.append({"region": region, "weekly_peaks": forecast[region]["weekly_peaks"],
                        "forecast": round(predicted, 1), "actual": actual[region],
                        "error_pct": round(100 * (predicted - actual[region]) / actual[region], 1),
                        "naive_error_pct": round(100 * (naive - actual[region]) / actual[region], 1)})
    return {
        "weeks": weeks, "players": players, "growth": growth, "seed": seed, "regions": regions,
        "mape_pct": round(sum(abs(r["error_pct"]) for r in regions) / len(regions), 1),
        "naive_mape_pct": round(sum(abs(r["naive_error_pct"]) for r in regions) / len(regions), 1),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=int, default=4)
    parser.add_argument("--players", type=int, default=400)
    parser.add_argument("--growth", type=float, default=0.08)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    emit_result({"bench": "forecast", **run(args.weeks, args.players, args.growth, args.seed)}, as_json=args.json)


if __name__ == "__main__":
    main()
