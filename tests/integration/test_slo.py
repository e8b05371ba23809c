"""SLO status and per-day budgets on small histories, against numbers worked out by hand."""
from __future__ import annotations

from datetime import timedelta

import pytest

from analytics.rows import write_events
from analytics.slo import Slo, slo_by_day, slo_status
from tests.support.factories import T0, ops_event, session_event

HEARTBEAT = Slo(name="hb", service="game", sli="heartbeat_latency", target=0.9,
                window=timedelta(days=1), threshold=100.0)


def beats(session: str, minute0: float, latencies, region="eu-west"):
    return [session_event("heartbeat", session_id=session, seq=n, region=region,
                          occurred_at=T0 + timedelta(minutes=minute0 + n), latency_ms=ms)
            for n, ms in enumerate(latencies, start=1)]


def test_heartbeat_slo_budget_and_burn_rates(warehouse):
    """20 heartbeats, minutes 1..20 after T0; minutes 17..20 are over 100 ms (4 bad).

    Window [T0+30m-1d, T0+30m): 20 events, 16 good: SLI 0.8. Budget total 20 x 0.1 = 2 events,
    consumed 4 (200 %), remaining -2. Burn 5m [T0+25m, T0+30m): no events -> None.
    Burn 30m: error rate 4/20 = 0.2, / 0.1 = 2.0. Burn 1h, 6h, 3d: the same 2.0.
    """
    sid = "00000000-0000-4000-8000-0000000000b1"
    write_events(warehouse, beats(sid, 0, [50] * 16 + [150] * 4))

    row = slo_status(warehouse, HEARTBEAT, T0 + timedelta(minutes=30))

    assert (row["events"], row["good"], row["bad"]) == (20, 16, 4)
    assert row["sli_value"] == pytest.approx(0.8)
    assert row["budget_total"] == pytest.approx(2.0)
    assert row["budget_remaining"] == pytest.approx(-2.0)
    assert row["budget_consumed_pct"] == pytest.approx(200.0)
    assert row["burn_5m"] is None
    assert row["burn_30m"] == pytest.approx(2.0)
    assert row["burn_3d"] == pytest.approx(2.0)


def test_planned_work_is_left_out_of_the_budget_unless_asked(warehouse):
    """Maintenance MW-1 in eu-west over minutes [16.5, 25): the 4 slow beats (17..20) fall in it.

    A slow us-east beat at minute 18 is outside the window's regions: counted.
    Left out: 16 + 1 = 17 events, 1 bad: budget 1.7, consumed 1 / 1.7 = 58.8 %.
    With planned work: 21 events, 5 bad.
    """
    sid = "00000000-0000-4000-8000-0000000000b2"
    write_events(warehouse, beats(sid, 0, [50] * 16 + [150] * 4)
                 + beats("00000000-0000-4000-8000-0000000000b9", 17, [150], region="us-east") + [
        ops_event("maintenance_scheduled", incident_id="MW-1", regions=("eu-west",),
                  planned_start=T0 + timedelta(minutes=16.5), planned_end=T0 + timedelta(minutes=25)),
    ])
    now = T0 + timedelta(minutes=30)

    left_out = slo_status(warehouse, HEARTBEAT, now)
    included = slo_status(warehouse, HEARTBEAT, now, include_planned=True)

    assert (left_out["events"], left_out["bad"]) == (17, 1)
    assert left_out["budget_consumed_pct"] == pytest.approx(100 / 1.7)
    assert (included["events"], included["bad"]) == (21, 5)


def test_a_drill_is_planned_work_in_its_regions(warehouse):
    """A drill opened at minute 16.5 and resolved at 21 in eu-west covers the 4 slow beats.
    An unplanned incident over minutes [0, 16) is a failure, not planned work: its 15 beats
    count. 16 events, none bad."""
    sid = "00000000-0000-4000-8000-0000000000b3"
    drill = [ops_event(f"incident_{step}", incident_id="GD-1", kind="drill", regions=("eu-west",),
                       occurred_at=T0 + timedelta(minutes=m))
             for step, m in (("opened", 16.5), ("resolved", 21))]
    failure = [ops_event(f"incident_{step}", incident_id="INC-5", regions=("eu-west",),
                         occurred_at=T0 + timedelta(minutes=m))
               for step, m in (("opened", 0), ("resolved", 16))]
    write_events(warehouse, beats(sid, 0, [50] * 16 + [150] * 4) + drill + failure)

    row = slo_status(warehouse, HEARTBEAT, T0 + timedelta(minutes=30))

    assert (row["events"], row["bad"]) == (16, 0)


def test_reconnect_and_matchmaking_slis(warehouse):
    """Reconnect within 30 s: session A drops at 0 s and is back at 20 s (good); session B drops
    at 60 s and is back at 100 s (40 s: bad). SLI 1/2; target 0.9 -> budget 0.2, consumed 500 %.

    Matchmaking within 60 s: A requested at 0 s, started at 30 s (good); B requested at 0 s,
    started at 90 s (bad). SLI 1/2.
    """
    a, b = "00000000-0000-4000-8000-0000000000c1", "00000000-0000-4000-8000-0000000000c2"
    s = lambda n: T0 + timedelta(seconds=n)
    write_events(warehouse, [
        session_event("requested", session_id=a, seq=1, occurred_at=s(0)),
        session_event("started", session_id=a, seq=2, occurred_at=s(30)),
        session_event("disconnected", session_id=a, seq=3, occurred_at=s(40)),
        session_event("reconnected", session_id=a, seq=4, occurred_at=s(60)),
        session_event("requested", session_id=b, seq=1, occurred_at=s(0)),
        session_event("started", session_id=b, seq=2, occurred_at=s(90)),
        session_event("disconnected", session_id=b, seq=3, occurred_at=s(100)),
        session_event("reconnected", session_id=b, seq=4, occurred_at=s(140)),
    ])
    now = T0 + timedelta(hours=1)
    reconnect = Slo(name="rc", service="game", sli="reconnect_success", target=0.9,
                    window=timedelta(days=1), threshold=30.0)
    matchmaking = Slo(name="mm", service="game", sli="matchmaking_time", target=0.9,
                      window=timedelta(days=1), threshold=60.0)

    rc, mm = slo_status(warehouse, reconnect, now), slo_status(warehouse, matchmaking, now)

    assert (rc["events"], rc["good"], rc["budget_consumed_pct"]) == (2, 1, pytest.approx(500.0))
    assert (mm["events"], mm["good"]) == (2, 1)


def test_the_budget_per_day(warehouse):
    """Day 1: 10 beats, 1 slow: SLI 0.9, budget 1 event, consumed 100 %, burn 1.0.
    Day 2: 10 beats, none slow: SLI 1.0, consumed 0 %, burn 0.0."""
    day2 = T0 + timedelta(days=1)
    write_events(warehouse, beats("00000000-0000-4000-8000-0000000000d1", 0, [50] * 9 + [500])
                 + [session_event("heartbeat", session_id="00000000-0000-4000-8000-0000000000d2",
                                  seq=n, occurred_at=day2 + timedelta(minutes=n), latency_ms=10)
                    for n in range(1, 11)])

    rows = slo_by_day(warehouse, HEARTBEAT, T0 - timedelta(hours=1), T0 + timedelta(days=2))

    assert [(r["events"], r["bad"], r["budget_consumed_pct"], r["burn_rate"]) for r in rows] == [
        (10, 1, pytest.approx(100.0), pytest.approx(1.0)), (10, 0, 0.0, 0.0)]
