"""`ledger capacity`: will the fleet hold? A week-ahead peak forecast, and a plan for an event."""
from __future__ import annotations

import sys
from datetime import datetime, timezone

import click
from rich.table import Table

from ledger.commands.common import EXIT_BAD_INPUT, fail, open_history, out, print_json
from ledger.commands.report import parse_instant

EXIT_RUNS_OUT = 1


@click.group()
def capacity() -> None:
    """Fleet capacity from the ledger: forecast peaks, plan for launches and events."""


@capacity.command("plan")
@click.option("--event", default="event", show_default=True, help="A name for the event, e.g. launch.")
@click.option("--at", "at", required=True, metavar="INSTANT",
              help="When the event peaks (ISO 8601, UTC if no offset).")
@click.option("--multiplier", type=click.FloatRange(0, None, min_open=True), default=2.0, show_default=True,
              help="Demand during the event as a multiple of the usual peak of that hour.")
@click.option("--weeks", type=click.IntRange(1, 52), default=4, show_default=True,
              help="Weeks of history the usual peak is forecast from (same hour each week, with a trend).")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.pass_obj
def plan(settings, event, at, multiplier, weeks, as_json) -> None:
    """Say which regions run out of player slots if demand at --at is --multiplier times the
    forecast peak of that hour. Exit code 1 when a region runs out, 0 when all hold.

    \b
    Example:
      ledger capacity plan --event launch --at 2026-12-10T19:00:00Z --multiplier 2
    """
    from analytics.capacity import plan_event

    instant = parse_instant(at, "--at")
    with open_history(settings) as warehouse:
        rows = plan_event(warehouse, instant, multiplier, weeks)
    if not rows:
        fail("no fleet capacity and no sessions in the history: nothing to plan from "
             "(fleet_scaled ops events record the fleet)", EXIT_BAD_INPUT)
    short = [r["region"] for r in rows if r["runs_out"]]
    if as_json:
        print_json({"event": event, "at": instant.isoformat(), "multiplier": multiplier,
                    "weeks": weeks, "regions": rows, "runs_out": short})
    else:
        table = Table(title=f"{event} at {instant:%Y-%m-%d %H:%M} UTC, demand x{multiplier:g} "
                            f"the forecast peak ({weeks} weeks of history)")
        for column in ("region", "forecast peak", "demand", "slots", "headroom", "runs out", "servers to add"):
            table.add_column(column, justify="left" if column == "region" else "right")
        for r in rows:
            table.add_row(r["region"], _n(r["forecast_peak"]), _n(r["demand"]), _n(r["slots"]),
                          _n(r["headroom"]), {True: "[red]yes[/]", False: "no"}.get(r["runs_out"], "unknown"),
                          _n(r["servers_to_add"]))
        out.print(table)
        out.print(f"runs out: {', '.join(short)}" if short else "every region with a forecast holds",
                  highlight=False)
    sys.exit(EXIT_RUNS_OUT if short else 0)


@capacity.command("forecast")
@click.option("--weeks", type=click.IntRange(1, 52), default=4, show_default=True,
              help="Weeks of history each hour is forecast from.")
@click.option("--now", "now", default=None, metavar="INSTANT", help="Forecast the week from here (default: now).")
@click.option("--json", "as_json", is_flag=True, help="Print the forecast as JSON.")
@click.pass_obj
def forecast(settings, weeks, now, as_json) -> None:
    """Next week's peak concurrency per region: each hour of the coming week forecast from the
    same hour in the previous --weeks weeks with a trend, and the highest of them.

    \b
    Example:
      ledger capacity forecast --weeks 6
    """
    from analytics.capacity import week_ahead

    instant = parse_instant(now, "--now") or datetime.now(timezone.utc)
    with open_history(settings) as warehouse:
        rows = week_ahead(warehouse, instant, weeks)
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"peak forecast for the week from {instant:%Y-%m-%d %H:00} UTC")
    for column in ("region", "peak hour", "forecast peak", "same hour, weeks before (oldest first)"):
        table.add_column(column)
    for r in rows:
        table.add_row(r["region"], f"{r['peak_hour']:%a %H:00}", _n(r["forecast_peak"]),
                      ", ".join(_n(v) for v in r["weekly_peaks"]))
    out.print(table)


def _n(value) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if isinstance(value, float) else str(value)
