"""Capacity and cost arithmetic on rows small enough to work by hand."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from analytics.capacity import (
    FleetChange, FleetTimeline, forecast_from, minutes_of, plan_rows, trend_forecast, utilisation,
)
from analytics.cost import ALL, cost_rows

T = datetime(2026, 3, 2, 18, 0, tzinfo=timezone.utc)
WEEK = timedelta(days=7)


def minute(n: int) -> datetime:
    return T + timedelta(minutes=n)


def change(region, at, servers, slots, cost, currency="USD"):
    return FleetChange(region, at, servers, slots, cost, currency)


def test_the_fleet_in_force_is_the_latest_change_at_or_before_the_instant():
    fleet = FleetTimeline([change("eu", minute(10), 2, 20, 3.0), change("eu", minute(0), 1, 10, 1.5)])

    assert fleet.at("eu", minute(-1)) is None
    assert fleet.at("eu", minute(9)).player_slots == 10
    assert fleet.at("eu", minute(10)).player_slots == 20  # at the instant of the change: the new size
    assert fleet.at("us", minute(10)) is None


def test_utilisation_is_concurrent_over_slots_and_headroom_their_difference():
    """Slots 10 from minute 0, 20 from minute 2. Minute 0: 4 live -> 0.4, headroom 6; minute 1:
    nobody live (no row) -> 0, headroom 10; minute 2: 15 live -> 0.75, headroom 5. A region with
    sessions but no fleet has no slots."""
    fleet = FleetTimeline([change("eu", minute(0), 1, 10, 1.5), change("eu", minute(2), 2, 20, 3.0)])
    live = [{"region": "eu", "minute": minute(0), "concurrent": 4},
            {"region": "eu", "minute": minute(2), "concurrent": 15},
            {"region": "ap", "minute": minute(1), "concurrent": 3}]

    rows = utilisation(live, fleet, minutes_of(minute(0), minute(3)))

    eu = [(r["concurrent"], r["slots"], r["utilisation"], r["headroom"]) for r in rows if r["region"] == "eu"]
    assert eu == [(4, 10, 0.4, 6), (0, 10, 0.0, 10), (15, 20, 0.75, 5)]
    ap = [(r["concurrent"], r["slots"], r["utilisation"]) for r in rows if r["region"] == "ap"]
    assert ap == [(0, None, None), (3, None, None), (0, None, None)]


def test_minutes_of_a_period_start_at_its_first_whole_minute():
    assert minutes_of(T + timedelta(seconds=30), minute(3)) == [minute(1), minute(2)]
    assert minutes_of(minute(0), minute(0)) == []


def test_a_trend_through_the_weekly_peaks_gives_the_next_one():
    # 10, 12, 14, 16: slope 2 per week -> 18
    assert trend_forecast([10, 12, 14, 16]) == pytest.approx(18.0)
    # known weeks 1 and 3 (10 and 14): mean x 2, mean y 12, slope 2 -> at week 4: 12 + 2 * 2 = 16
    assert trend_forecast([None, 10, None, 14]) == pytest.approx(16.0)
    assert trend_forecast([None, 5]) == 5.0
    assert trend_forecast([None, None]) is None
    # 10, 5, 0 falls by 5 a week: -5 is clamped to 0
    assert trend_forecast([10, 5, 0]) == 0.0


def test_the_forecast_reads_the_same_hour_of_each_earlier_week():
    """At 18:00 on day D, with weeks=3: the 18:00 hour's peak on D-21, D-14, D-7 is 6, 8, 10
    (the highest minute of each of those hours) -> trend 12. Another hour's higher peak does not
    count. In us the D-14 hour has nobody live but a session 5 hours earlier that day: 0."""
    def live(region, at, n):
        return {"region": region, "minute": at, "concurrent": n}

    rows = [live("eu", T - 3 * WEEK + timedelta(minutes=5), 6), live("eu", T - 3 * WEEK, 4),
            live("eu", T - 2 * WEEK + timedelta(minutes=59), 8),
            live("eu", T - WEEK + timedelta(minutes=30), 10),
            live("eu", T - WEEK + timedelta(hours=1), 50),  # 19:00: another hour
            live("us", T - 2 * WEEK - timedelta(hours=5), 3), live("us", T - WEEK, 2)]

    forecast = {r["region"]: r for r in forecast_from(rows, T + timedelta(minutes=20), weeks=3)}

    assert forecast["eu"]["weekly_peaks"] == [6, 8, 10]
    assert forecast["eu"]["forecast_peak"] == pytest.approx(12.0)
    # us: D-21 unknown, D-14 0, D-7 2: slope 2 over weeks 1..2 -> 4
    assert forecast["us"]["weekly_peaks"] == [None, 0, 2]
    assert forecast["us"]["forecast_peak"] == pytest.approx(4.0)


def test_a_launch_at_twice_the_forecast_overruns_the_regions_without_headroom():
    """eu: forecast 40 x 2 = 80 against 6 servers of 10 slots = 60: runs out by 20, needs 2 more
    servers. us: 12.2 x 2 = 24.4 -> 25 against 100: holds with 75 to spare. ap has a fleet but
    no forecast: unknown."""
    fleet = FleetTimeline([change("eu", T, 6, 60, 9.0), change("us", T, 10, 100, 12.0),
                           change("ap", T, 2, 20, 3.0)])
    forecasts = [{"region": "eu", "forecast_peak": 40.0}, {"region": "us", "forecast_peak": 12.2}]

    rows = {r["region"]: r for r in plan_rows(forecasts, fleet, T + WEEK, 2.0)}

    assert (rows["eu"]["demand"], rows["eu"]["slots"], rows["eu"]["headroom"],
            rows["eu"]["runs_out"], rows["eu"]["servers_to_add"]) == (80, 60, -20, True, 2)
    assert (rows["us"]["demand"], rows["us"]["headroom"], rows["us"]["runs_out"]) == (25, 75, False)
    assert rows["ap"]["runs_out"] is None


def test_cost_per_player_hour_idle_cost_and_the_platform_mix():
    """eu-west, 60 minutes at 6.00 USD an hour with 10 slots: 0.10 a minute, 6.00 in all.
    Minutes 0-29: 2 live, 80% idle -> 30 x 0.08 = 2.40; minutes 30-59: 1 live, 90% idle ->
    30 x 0.09 = 2.70; idle 5.10. Player-hours: pc 1.0, xbox 0.5 -> 1.5; 6.00 / 1.5 = 4.00 per
    player-hour; pc pays 2/3 of 6.00 = 4.00, xbox 2.00."""
    minutes = [{"region": "eu-west", "minute": minute(n), "concurrent": 2 if n < 30 else 1,
                "slots": 10, "utilisation": None, "headroom": None, "hourly_cost": 6.0,
                "currency": "USD"} for n in range(60)]
    hours = [{"region": "eu-west", "platform": "pc", "player_hours": 1.0},
             {"region": "eu-west", "platform": "xbox", "player_hours": 0.5}]

    rows = {(r["region"], r["platform"]): r for r in cost_rows(minutes, hours)}

    region = rows[("eu-west", ALL)]
    assert region["cost"] == pytest.approx(6.0)
    assert region["idle_cost"] == pytest.approx(5.1)
    assert region["cost_per_player_hour"] == pytest.approx(4.0)
    assert rows[("eu-west", "pc")]["cost"] == pytest.approx(4.0)
    assert rows[("eu-west", "xbox")]["share"] == pytest.approx(1 / 3)
    assert rows[(ALL, ALL)]["cost"] == pytest.approx(6.0)


def test_a_region_without_a_fleet_has_no_cost_and_currencies_are_not_added_up():
    minutes = [{"region": "eu", "minute": T, "concurrent": 0, "slots": 0, "hourly_cost": 60.0,
                "currency": "EUR"},
               {"region": "us", "minute": T, "concurrent": 5, "slots": 5, "hourly_cost": 60.0,
                "currency": "USD"}]
    hours = [{"region": "ap", "platform": "pc", "player_hours": 2.0}]

    rows = {(r["region"], r["platform"]): r for r in cost_rows(minutes, hours)}

    assert rows[("ap", ALL)]["cost"] is None and rows[("ap", "pc")]["cost_per_player_hour"] is None
    assert rows[("eu", ALL)]["idle_cost"] == pytest.approx(1.0)  # 0 slots: the whole minute idle
    assert rows[("us", ALL)]["idle_cost"] == pytest.approx(0.0)  # full: nothing idle
    assert (ALL, ALL) not in rows  # EUR and USD
