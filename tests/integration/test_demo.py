"""The demo on the test broker: a short simulated run, and figures that match the history's own answers.

The demo runs the sink and the worker as child processes; the warehouse is opened here only
after run_demo returned, when no other process holds the chDB directory any more.
"""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from analytics.reports import run_report
from ledger.commands.common import open_history
from ledger.demo import default_bad_build, default_incident, run_demo
from ledger.loadgen import generate
from projections.concurrency import Concurrency
from projections.fold import fold_until
from schemas.models import SessionEvent
from streams.kafka.topics import ensure_topics, ledger_topics
from analytics.slo import load_slos, slo_status
from streams.settings import load_settings

pytestmark = pytest.mark.kafka

PLAYERS = 40
DURATION_S = 600.0
SEED = 5


def planned(result, players=PLAYERS, seed=SEED):
    """The events the demo sent, planned again from its seed and start."""
    return generate(players=players, duration_s=DURATION_S, seed=seed, start=result.start,
                    incidents=[default_incident(DURATION_S)],
                    bad_builds=[default_bad_build(DURATION_S)], fleet=True)


def crash_disconnects(plan) -> list[SessionEvent]:
    """Disconnects in the incident's region while it was open."""
    incident = plan.incidents[0]
    return [e for e in plan.events if e.event_type == "disconnected" and e.region == incident.region
            and incident.opened_at <= e.occurred_at <= incident.resolved_at]


def by_region(sessions) -> dict:
    concurrency = Concurrency.from_sessions(sessions)
    return {region: counts for (region,), counts in concurrency.breakdown("region").items()}


@pytest.fixture(scope="module")
def test_settings(kafka_broker, tmp_path_factory):
    """One ledger (topics, state directory) for the stories of this module: the demo runs once."""
    suffix = uuid.uuid4().hex[:8]
    settings = load_settings(
        state_dir=tmp_path_factory.mktemp("demo") / "state",
        bootstrap_servers=kafka_broker.bootstrap,
        session_topic=f"demo-sessions-{suffix}", ops_topic=f"demo-ops-{suffix}",
        dead_letter_topic=f"demo-dead-letter-{suffix}", partitions=3,
    )
    ensure_topics(kafka_broker.bootstrap, ledger_topics(settings))
    return settings


@pytest.fixture(scope="module")
def demo(test_settings):
    return run_demo(test_settings, players=PLAYERS, duration_s=DURATION_S, seed=SEED, time_scale=60)


def test_the_history_holds_every_event_the_demo_sent(demo, test_settings):
    plan = planned(demo)
    sent = [e for e in plan.events if isinstance(e, SessionEvent)]
    assert demo.load.events == len(plan.events)
    assert demo.history_session_events == len(sent) == demo.load.session_events
    assert demo.started == ("sink", "worker")


def test_the_demo_judges_its_bad_builds_deploy(demo):
    plan = planned(demo)
    [deploy] = plan.deploys
    verdict = demo.deploy_verdict
    assert (verdict["deploy_id"], verdict["build"]) == (deploy.deploy_id, deploy.build)
    # 40 players leave far fewer than 50 sessions a side in one region: too few to judge
    assert verdict["canary_sessions"] < 50 and verdict["verdict"] == "NoData"


def test_the_printed_figures_are_what_the_analytics_queries_answer(demo, test_settings):
    incident = demo.incident
    with open_history(test_settings) as warehouse:
        mttr = run_report(warehouse, "mttr", from_=incident["opened_at"],
                          to=incident["opened_at"] + timedelta(seconds=1))[0]
        impact = run_report(warehouse, "incident_impact", incident_id=incident["incident_id"])
        churn = run_report(warehouse, "post_incident_churn", incident_id=incident["incident_id"])
        slos = [slo_status(warehouse, slo, demo.end) for slo in load_slos()]
    assert demo.mttr == mttr and mttr["incidents"] == 1
    assert mttr["mttr_s"] == pytest.approx((incident["resolved_at"] - incident["opened_at"]).total_seconds())
    assert demo.impact == impact and demo.impact_totals["sessions_disrupted"] > 0
    assert demo.churn == churn
    # the SLO budgets printed beside MTTR: the crash spent session success's budget
    assert list(demo.slos) == slos
    success = next(row for row in slos if row["slo"] == "session-success")
    assert success["bad"] > 0 and success["budget_consumed_pct"] > 0


def test_live_concurrency_from_the_worker_equals_the_fold_of_what_was_sent(demo):
    plan = planned(demo)
    expected = by_region(fold_until(plan.events, demo.end).sessions.values())
    assert demo.concurrency_source == "worker", demo.notes
    assert demo.concurrency == expected
    assert demo.concurrency_folded == expected


def test_the_replayed_timeline_counts_the_crash_minute_by_minute(demo):
    plan = planned(demo)
    incident = plan.incidents[0]
    crashes = crash_disconnects(plan)
    assert sum(row["disconnects"] for row in demo.timeline) == len(crashes) > 0
    assert demo.html_report.exists()
    assert incident.incident_id in demo.html_report.read_text()


def test_a_second_run_on_the_same_ledger_reports_its_own_figures(demo, test_settings):
    again = run_demo(test_settings, players=20, duration_s=DURATION_S, seed=SEED + 1, time_scale=60,
                     use_worker=False)
    plan = planned(again, players=20, seed=SEED + 1)
    assert again.incident["incident_id"] != demo.incident["incident_id"]
    assert again.history_session_events == sum(isinstance(e, SessionEvent) for e in plan.events)
    assert again.concurrency_source == "history"
    assert again.concurrency == by_region(fold_until(plan.events, again.end).sessions.values())
    assert again.start >= demo.end, "the second run's hour must not overlap the first"
    assert sum(row["disconnects"] for row in again.timeline) == len(crash_disconnects(plan))


def test_fleet_capacity_and_the_deploys_build_reach_the_history_through_kafka(demo, test_settings):
    plan = planned(demo)
    sent = {e.payload.region: e.payload.player_slots for e in plan.events
            if e.event_type == "fleet_scaled"}
    with open_history(test_settings) as warehouse:
        fleet = warehouse.query(  # this run's fleet: a later run on the same ledger records its own
            "SELECT region, player_slots FROM fleet_capacity WHERE changed_at >= {start:DateTime64(3)} "
            "AND changed_at < {end:DateTime64(3)}", {"start": demo.start, "end": demo.end})
        [deploy] = warehouse.query("SELECT build FROM deploys WHERE deploy_id = {d:String}",
                                   {"d": plan.deploys[0].deploy_id})
    assert {row["region"]: row["player_slots"] for row in fleet} == sent and len(sent) == 5
    assert deploy["build"] == plan.deploys[0].build
