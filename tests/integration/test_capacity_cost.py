"""Capacity, forecast, launch plan and cost over small hand-built histories in a real chDB."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta

import pytest

from analytics.capacity import capacity_minutes, forecast_peaks, plan_event
from analytics.cost import ALL, cost_report
from analytics.migrate import migrate
from analytics.rows import write_events
from analytics.warehouse import ChdbWarehouse
from tests.support.factories import T0, ops_event, session_script
from tests.support.cli import outside_env

WEEK = timedelta(days=7)
QUEUE = timedelta(seconds=2)


def fleet(region, at, servers, slots, cost):
    return ops_event("fleet_scaled", occurred_at=at, region=region, servers=servers,
                     player_slots=slots, hourly_cost=cost, currency="USD")


def played(start, minutes, **envelope):
    """A session started at ``start`` exactly, live for ``minutes`` (ended normally then)."""
    return session_script(start=start - QUEUE, queue=QUEUE, heartbeats=1,
                          heartbeat_every=timedelta(minutes=minutes) / 2, **envelope)


def fix_end(events, end):
    """Move the session's `ended` to ``end`` (session_script ends it after its last heartbeat)."""
    last = events[-1]
    return events[:-1] + [last.model_copy(update={"occurred_at": end})]


def session(start, minutes, **envelope):
    return fix_end(played(start, minutes, **envelope), start + timedelta(minutes=minutes))


def test_cost_per_player_hour_and_idle_cost_of_an_hour(warehouse):
    """eu-west: 1 server of 10 slots at 6.00 USD/h from T0. Two pc sessions T0 to T0+30m and
    one xbox session T0+30m to T0+60m. Sampled at minute starts: minutes 0-29 two live (80%
    idle), 30-59 one live (90% idle): cost 6.00, idle 30 x 0.08 + 30 x 0.09 = 5.10.
    Player-hours 0.5 + 0.5 + 0.5 = 1.5: 4.00 per player-hour; pc 2/3 -> 4.00, xbox 2.00."""
    write_events(warehouse, [
        fleet("eu-west", T0, 1, 10, 6.0),
        *session(T0, 30, player_id="p1"), *session(T0, 30, player_id="p2"),
        *session(T0 + timedelta(minutes=30), 30, player_id="p3", platform="xbox"),
    ])
    period = (T0, T0 + timedelta(hours=1))

    minutes = capacity_minutes(warehouse, *period)
    assert [(m["concurrent"], m["utilisation"]) for m in minutes][29:31] == [(2, 0.2), (1, 0.1)]
    assert len(minutes) == 60 and {m["headroom"] for m in minutes} == {8, 9}

    rows = {(r["region"], r["platform"]): r for r in cost_report(warehouse, *period)}
    region = rows[("eu-west", ALL)]
    assert region["player_hours"] == pytest.approx(1.5)
    assert (region["cost"], region["idle_cost"]) == (pytest.approx(6.0), pytest.approx(5.1))
    assert region["cost_per_player_hour"] == pytest.approx(4.0)
    assert rows[("eu-west", "pc")]["cost"] == pytest.approx(4.0)
    assert rows[("eu-west", "xbox")]["cost"] == pytest.approx(2.0)


def weekly_history():
    """18:00-19:00 on three Mondays: eu-west has 2, 3 then 4 sessions live at 18:01; us-east one
    each week. eu-west has 4 slots, us-east 100 (fleets scaled the first week)."""
    monday = T0.replace(hour=18, minute=0, second=0, microsecond=0)
    events = [fleet("eu-west", monday - 3 * WEEK, 1, 4, 2.0), fleet("us-east", monday - 3 * WEEK, 10, 100, 12.0)]
    for k, count in ((3, 2), (2, 3), (1, 4)):
        for i in range(count):
            events += session(monday - k * WEEK + timedelta(seconds=10), 5, player_id=f"e{k}{i}")
        events += session(monday - k * WEEK + timedelta(seconds=10), 5, player_id=f"u{k}", region="us-east")
    return monday, events


def test_a_launch_at_twice_the_usual_peak_overruns_eu_west_only(warehouse):
    """eu-west's 18:00 peaks 2, 3, 4 trend to 5; x2 = 10 > 4 slots: runs out by 6 and needs
    ceil(6 / 4) = 2 more servers of 4 slots. us-east: 1, 1, 1 -> 1; x2 = 2 against 100: holds."""
    monday, events = weekly_history()
    write_events(warehouse, events)
    at = monday + timedelta(minutes=30)

    forecast = {r["region"]: r for r in forecast_peaks(warehouse, at, weeks=3)}
    assert forecast["eu-west"]["weekly_peaks"] == [2, 3, 4]
    assert forecast["eu-west"]["forecast_peak"] == pytest.approx(5.0)

    plan = {r["region"]: r for r in plan_event(warehouse, at, 2.0, weeks=3)}
    assert (plan["eu-west"]["demand"], plan["eu-west"]["slots"], plan["eu-west"]["runs_out"],
            plan["eu-west"]["servers_to_add"]) == (10, 4, True, 2)
    assert (plan["us-east"]["demand"], plan["us-east"]["runs_out"]) == (2, False)


def test_capacity_plan_exits_1_naming_the_regions_that_run_out(tmp_path):
    monday, events = weekly_history()
    state = tmp_path / "state"
    with ChdbWarehouse(state / "chdb") as history:
        migrate(history)
        write_events(history, events)
    env = outside_env()
    env["LEDGER_STATE_DIR"] = str(state)

    def ledger(*args):
        return subprocess.run([sys.executable, "-m", "ledger.cli", *args], env=env,
                              capture_output=True, text=True, timeout=120)

    at = (monday + timedelta(minutes=30)).isoformat()
    result = ledger("capacity", "plan", "--event", "launch", "--at", at, "--multiplier", "2",
                    "--weeks", "3", "--json")
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["runs_out"] == ["eu-west"]
    assert ledger("capacity", "plan", "--at", at, "--multiplier", "0.5", "--weeks", "3").returncode == 0
    cost = ledger("report", "cost", "--json")
    assert cost.returncode == 0, cost.stderr
    assert {r["region"] for r in json.loads(cost.stdout)} == {"eu-west", "us-east", ALL}


def test_next_weeks_peak_is_the_highest_hourly_forecast_of_the_week(warehouse):
    """From Monday 12:00 the coming week's hours are each forecast from the same hour of the three
    weeks before; only the 18:00 hour ever had anyone live (hours within a day of it count 0),
    so eu-west's peak is Monday 18:00's trend, 2, 3, 4 -> 5, and us-east's 1."""
    from analytics.capacity import week_ahead

    monday, events = weekly_history()
    write_events(warehouse, events)

    rows = {r["region"]: r for r in week_ahead(warehouse, monday - timedelta(hours=6), weeks=3)}

    assert (rows["eu-west"]["peak_hour"], rows["eu-west"]["forecast_peak"]) == (monday, pytest.approx(5.0))
    assert rows["us-east"]["forecast_peak"] == pytest.approx(1.0)
