"""Live SLO burn: the tallies, the workbook's alerts scaled to the SLO window, and when they
open and resolve, worked by hand."""
from __future__ import annotations

from datetime import timedelta

import pytest

from projections.slo_burn import (
    BurnAlerts, LiveSli, SliTally, burn_event_fields, live_slis, policies_for,
)
from schemas.models import OpsEvent
from schemas.records import session_record
from tests.support.factories import T0, session_event

MIN = 60_000
NOW = int(T0.timestamp() * 1000)
HB = LiveSli("hb", "heartbeat_latency", target=0.99, window=timedelta(days=30), threshold=100)


def beat(latency_ms: int, minutes_ago: float = 1, **envelope):
    record = session_record(session_event("heartbeat", latency_ms=latency_ms,
                                          occurred_at=T0 - timedelta(minutes=minutes_ago), **envelope))
    return record


def tally_of(sli, beats):
    tally = SliTally((sli,))
    for latency, minutes_ago in beats:
        tally.observe(beat(latency, minutes_ago))
    return tally


def test_the_workbook_alerts_scale_with_the_slo_window():
    """30 d: 14.4 / 6 / 1. 28 d keeps each alert's share of the budget: 14.4 x 28/30 = 13.44,
    6 x 28/30 = 5.6, 1 x 28/30 = 0.9333."""
    assert [(p.name, p.factor) for p in policies_for(timedelta(days=30))] == [
        ("page-1h", 14.4), ("page-6h", 6.0), ("ticket-3d", 1.0)]
    assert [p.factor for p in policies_for(timedelta(days=28))] == [
        pytest.approx(13.44), pytest.approx(5.6), pytest.approx(28 / 30)]
    assert [(p.long, p.short) for p in policies_for(timedelta(days=7))][0] == (
        timedelta(hours=1), timedelta(minutes=5))


def test_tallies_count_per_minute_and_respect_the_cut():
    eu = LiveSli("hb-eu", "heartbeat_latency", 0.99, timedelta(days=30), 100, region="eu-west")
    tally = SliTally((eu,))
    tally.observe(beat(50))
    tally.observe(beat(150))
    tally.observe(beat(150, region="us-east"))       # another region: not counted
    tally.observe(session_record(session_event("disconnected")))  # not an SLI event
    assert tally.counts("hb-eu", NOW, timedelta(minutes=5)) == (1, 2)
    tally.forget_before("hb-eu", NOW)
    assert tally.counts("hb-eu", NOW, timedelta(minutes=5)) == (0, 0)


def test_a_fast_burn_pages_and_resolves_when_the_short_window_recovers():
    """Target 0.99 (budget 1 %). 200 beats in the last hour, 40 of them slow in the last 5 min:
    long (1 h) error rate 40/200 = 20 % -> burn 20 >= 14.4; short (5 m): 40 of the 40 beats
    there are slow (the other 160 are 10 minutes old) -> burn 100. The 6 h window holds the same
    200 -> 20 >= 6: that pages too; 3 d: 20 >= 1 but its short window (6 h) holds the same ->
    the ticket opens as well. Three alerts open.
    Five minutes later, after 100 fast beats at T0 + 4 min: the 1 h page's short window (5 min)
    holds only those: burn 0 -> it resolves. The 6 h page's short window (30 min) holds 140
    beats, 40 slow: 28.6 % -> burn 28.6, and its long window 40/300 -> 13.3: both >= 6, it stays
    open; so does the ticket (13.3 and 13.3 >= 1).
    """
    beats = [(50, 10)] * 160 + [(500, 2)] * 40
    tally = tally_of(HB, beats)
    alerts = BurnAlerts(min_events=100)

    opened = alerts.evaluate(HB, tally, NOW)

    assert [(t.policy.name, t.state, t.bad, t.total) for t in opened] == [
        ("page-1h", "opened", 40, 200), ("page-6h", "opened", 40, 200),
        ("ticket-3d", "opened", 40, 200)]
    assert opened[0].burn_rate == pytest.approx(20.0)
    assert alerts.evaluate(HB, tally, NOW + MIN) == []  # still firing: nothing new
    later = NOW + 5 * MIN
    for _ in range(100):
        tally.observe(beat(50, minutes_ago=-4))           # 4 minutes after T0
    resolved = alerts.evaluate(HB, tally, later)
    assert [(t.policy.name, t.state, t.opened_ms) for t in resolved] == [
        ("page-1h", "resolved", NOW)]
    assert set(alerts.open) == {("hb", "page-6h"), ("hb", "ticket-3d")}


def test_a_quiet_window_does_not_page_on_a_few_bad_events():
    """10 beats, all slow: burn 100 everywhere, but 10 < min_events 100: no alert."""
    tally = tally_of(HB, [(500, 1)] * 10)
    assert BurnAlerts(min_events=100).evaluate(HB, tally, NOW) == []
    assert len(BurnAlerts(min_events=10).evaluate(HB, tally, NOW)) == 3


def test_an_alert_step_has_a_deterministic_id_and_makes_a_valid_ops_event():
    tally = tally_of(HB, [(500, 1)] * 100)
    first = BurnAlerts(min_events=1).evaluate(HB, tally, NOW)[0]
    again = BurnAlerts(min_events=1).evaluate(HB, tally, NOW)[0]
    assert first.event_id == again.event_id

    event = OpsEvent.model_validate(burn_event_fields(first, "ledger-worker", T0, T0))

    assert event.event_id == first.event_id
    assert (event.payload.slo, event.payload.alert, event.payload.state) == ("hb", "page", "opened")
    assert (event.payload.region, event.payload.long_window_s) == ("all", 3600)
    assert event.key == b"hb"


def test_session_success_and_matchmaking_are_judged_live_and_reconnects_are_not():
    class Spec:  # what analytics.slo.Slo offers
        def __init__(self, name, sli, threshold=0.0):
            self.name, self.sli, self.target, self.window = name, sli, 0.9, timedelta(days=7)
            self.threshold, self.region, self.platform = threshold, "", ""

    tally = SliTally(live_slis([Spec("ok", "session_success"), Spec("mm", "matchmaking_time", 60),
                                Spec("rc", "reconnect_success", 30)]))
    for event in [session_event("ended", reason="normal"), session_event("ended", reason="error"),
                  session_event("started", queue_ms=30_000), session_event("started", queue_ms=90_000)]:
        tally.observe(session_record(event))
    assert tally.counts("ok", NOW + MIN, timedelta(minutes=5)) == (1, 2)
    assert tally.counts("mm", NOW + MIN, timedelta(minutes=5)) == (1, 2)
    assert "rc" not in tally.minutes
