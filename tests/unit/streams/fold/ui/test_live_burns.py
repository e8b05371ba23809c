"""The overview's SLO slot: the SLOs the worker judges live and the burn alerts open now."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from projections.slo_burn import MINUTE_MS, BurnAlerts, LiveSli, SliTally
from streams.fold.ui.live import burn_alerts

NOW = datetime(2026, 11, 24, 18, 0, tzinfo=timezone.utc)


def test_an_open_page_alert_is_shown_with_its_long_window_burn_rate():
    """A 30-day session-success SLO at 99 %: budget share 0.01. The hour before NOW holds 60
    minutes of 10 sessions each, 2 bad per minute: error rate 120/600 = 0.2, burn 0.2 / 0.01 = 20."""
    sli = LiveSli("session-success", "session_success", 0.99, timedelta(days=30))
    tally = SliTally((sli,))
    now_ms = int(NOW.timestamp() * 1000)
    for minute in range(1, 61):
        tally.minutes["session-success"][now_ms - minute * MINUTE_MS] = [8, 10]
    burns = BurnAlerts(open={("session-success", "page-1h"): now_ms - 5 * MINUTE_MS})

    slot = burn_alerts(SimpleNamespace(slis=tally, burns=burns), NOW)

    assert slot["defined"] is True and slot["slos"] == ["session-success"]
    assert slot["alerts"] == [{"slo": "session-success", "window": "page-1h", "burn_rate": 20.0,
                               "opened_at": "2026-11-24T17:55:00Z"}]


def test_without_slos_the_slot_says_none_are_defined():
    slot = burn_alerts(SimpleNamespace(slis=SliTally(()), burns=BurnAlerts()), NOW)

    assert slot == {"defined": False, "slos": [], "alerts": []}
