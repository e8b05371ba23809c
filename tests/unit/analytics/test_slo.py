"""SLOs as data: the OpenSLO file, and the budget and burn-rate arithmetic, by hand."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from analytics.errors import BadSloSpec
from analytics.slo import Slo, budget, burn_rate, load_slos, window_start

T = datetime(2026, 11, 24, 18, 0, tzinfo=timezone.utc)
SLO = Slo(name="s", service="g", sli="session_success", target=0.99, window=timedelta(days=30))

GOOD_DOC = """\
apiVersion: openslo/v1
kind: SLO
metadata: {name: hb-eu}
spec:
  service: game-sessions
  indicator:
    metadata: {name: heartbeat-latency}
    spec:
      metricSource:
        type: ledger
        spec: {sli: heartbeat_latency, threshold: 150, region: eu-west}
  timeWindow: [{duration: 7d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{displayName: fast, target: 0.99}]
"""


def write(tmp_path, text):
    path = tmp_path / "slos.yaml"
    path.write_text(text)
    return path


def test_the_shipped_file_holds_one_slo_per_sli():
    slos = load_slos()
    assert sorted(s.sli for s in slos) == ["heartbeat_latency", "matchmaking_time",
                                          "reconnect_success", "session_success"]
    assert all(0 < s.target < 1 and s.window == timedelta(days=28) for s in slos)


def test_a_cut_slo_reads_its_region_threshold_and_window(tmp_path):
    (slo,) = load_slos(write(tmp_path, GOOD_DOC))
    assert (slo.name, slo.sli, slo.threshold, slo.region, slo.platform) == (
        "hb-eu", "heartbeat_latency", 150.0, "eu-west", "")
    assert (slo.target, slo.window, slo.rolling) == (0.99, timedelta(days=7), True)


@pytest.mark.parametrize("change, field", [
    (("sli: heartbeat_latency", "sli: fps"), "spec.indicator.spec.metricSource.spec.sli"),
    (("threshold: 150, ", ""), "spec.indicator.spec.metricSource.spec.threshold"),
    (("target: 0.99", "target: 99"), "spec.objectives[0].target"),
    (("duration: 7d", "duration: 7 days"), "spec.timeWindow[0].duration"),
    (("Occurrences", "Timeslices"), "spec.budgetingMethod"),
    (("service: game-sessions", "owner: me"), "spec.service"),
    (("openslo/v1", "openslo/v2"), "apiVersion"),
])
def test_a_bad_field_is_named(tmp_path, change, field):
    with pytest.raises(BadSloSpec) as caught:
        load_slos(write(tmp_path, GOOD_DOC.replace(*change)))
    assert caught.value.field == field
    assert field in str(caught.value)


def test_two_slos_may_not_share_a_name(tmp_path):
    with pytest.raises(BadSloSpec, match="names more than one SLO"):
        load_slos(write(tmp_path, GOOD_DOC + "---\n" + GOOD_DOC))


def test_budget_in_events_and_percent():
    """1000 events, 995 good, target 0.99: allowed 10 bad, consumed 5 (50 %), remaining 5."""
    spent = budget(SLO, [(T, 600, 600), (T, 395, 400)])
    assert (spent.total, spent.bad) == (1000, 5)
    assert spent.allowed == pytest.approx(10.0)
    assert spent.remaining == pytest.approx(5.0)
    assert spent.consumed_pct == pytest.approx(50.0)
    assert spent.remaining_pct == pytest.approx(50.0)
    assert budget(SLO, []).consumed_pct is None


def test_burn_rate_counts_only_its_window():
    """Last 5 minutes: 100 events, 5 bad -> 5 % / 1 % = 5x. An hour before, 100 bad of 100 is
    outside the 5m window; over 2 h: 105 bad / 200 = 52.5 % -> 52.5x."""
    counts = [(T - timedelta(minutes=65), 0, 100), (T - timedelta(minutes=3), 95, 100)]
    assert burn_rate(SLO, counts, T, timedelta(minutes=5)) == pytest.approx(5.0)
    assert burn_rate(SLO, counts, T, timedelta(hours=2)) == pytest.approx(52.5)
    assert burn_rate(SLO, counts, T, timedelta(minutes=1)) is None


def test_a_perfect_target_burns_infinitely_on_any_bad_event():
    strict = Slo(name="x", service="g", sli="session_success", target=1.0, window=timedelta(days=1))
    assert burn_rate(strict, [(T, 9, 10)], T + timedelta(minutes=1), timedelta(hours=1)) == float("inf")
    assert burn_rate(strict, [(T, 10, 10)], T + timedelta(minutes=1), timedelta(hours=1)) == 0.0


def test_calendar_windows_start_on_monday_or_the_first():
    week = Slo(name="w", service="g", sli="session_success", target=0.9,
               window=timedelta(weeks=1), rolling=False)
    month = Slo(name="m", service="g", sli="session_success", target=0.9,
                window=timedelta(days=30), rolling=False)
    assert window_start(week, T) == datetime(2026, 11, 23, tzinfo=timezone.utc)  # a Monday
    assert window_start(month, T) == datetime(2026, 11, 1, tzinfo=timezone.utc)
    assert window_start(SLO, T) == T - timedelta(days=30)
