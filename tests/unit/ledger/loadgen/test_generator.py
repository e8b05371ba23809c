"""The load generator as stories: a seed fixes the traffic, sessions stay legal, the crash hurts."""
from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from functools import lru_cache

import pytest

from ledger.loadgen import TrafficModel, generate, parse_duration, parse_incident
from ledger.loadgen.errors import BadLoadOption
from projections.fold import fold_all
from schemas.models import OpsEvent, SessionEvent

START = datetime(2026, 3, 14, 12, 0, tzinfo=timezone.utc)
CRASH = "region=eu-west,at=20m,for=8m"


@lru_cache(maxsize=None)
def plan(seed: int = 7, players: int = 120, incident: str | None = CRASH, duration_s: float = 3600,
         model: TrafficModel = TrafficModel()):
    incidents = [parse_incident(incident)] if incident else []
    return generate(players=players, duration_s=duration_s, seed=seed, start=START,
                    incidents=incidents, model=model)


SHORT_SESSIONS = TrafficModel(session_median_s=240)
"""Shares are what these stories count, so they play short sessions with few heartbeats."""


def by_session(events) -> dict[str, list[SessionEvent]]:
    sessions: dict[str, list[SessionEvent]] = defaultdict(list)
    for event in events:
        if isinstance(event, SessionEvent):
            sessions[event.session_id].append(event)
    return sessions


def test_the_same_seed_plans_the_same_events_ids_and_all():
    assert plan(seed=11).events == plan(seed=11).events


def test_another_seed_plans_other_traffic():
    first, second = plan(seed=11).events, plan(seed=12).events
    assert {e.event_id for e in first}.isdisjoint({e.event_id for e in second})
    assert [e.event_type for e in first] != [e.event_type for e in second]


def test_events_come_in_time_order_within_the_run():
    generated = plan()
    instants = [event.occurred_at for event in generated.events]
    assert instants == sorted(instants)
    assert instants[0] >= START and instants[-1] < START + timedelta(hours=1)


def test_each_session_counts_seq_from_one_with_time_moving_forward():
    for events in by_session(plan().events).values():
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert all(a.occurred_at < b.occurred_at for a, b in zip(events, events[1:]))
        assert events[0].event_type == "requested"


def test_every_event_is_what_the_contract_would_make_of_it():
    for event in plan(players=40).events:
        assert type(event).model_validate(event.model_dump()) == event


def test_every_session_is_legal_for_the_state_machine():
    view = fold_all(plan().events)
    assert sum(state.anomaly_count for state in view.sessions.values()) == 0


def test_timeouts_are_left_to_the_ledger_but_some_sessions_go_silent():
    generated = plan(players=300, model=SHORT_SESSIONS)
    assert generated.counts()["timed_out"] == 0
    assert generated.silent_sessions > 0
    open_sessions = [events for events in by_session(generated.events).values()
                     if events[-1].event_type not in ("ended",)]
    assert len(open_sessions) >= generated.silent_sessions


def test_heartbeats_arrive_every_ten_to_thirty_seconds():
    gaps = []
    for events in by_session(plan().events).values():
        gaps += [(b.occurred_at - a.occurred_at).total_seconds() for a, b in zip(events, events[1:])
                 if a.event_type == b.event_type == "heartbeat"]
    assert min(gaps) >= 9.0 and max(gaps) <= 33.0
    assert 15 <= sorted(gaps)[len(gaps) // 2] <= 25


def test_players_spread_over_every_region_and_platform_in_plausible_shares():
    starts = [e for e in plan(players=1500, incident=None, duration_s=300).events if e.event_type == "started"]
    regions = Counter(e.region for e in starts)
    platforms = Counter(e.platform for e in starts)
    assert set(regions) == {"us-east", "eu-west", "ap-northeast", "us-west", "sa-east"}
    assert len(platforms) == 7
    assert regions["us-east"] > regions["sa-east"] and platforms["pc"] > platforms["cloud"]
    assert 0.65 < sum(e.cross_play for e in starts) / len(starts) < 0.9


def test_most_sessions_end_normally_or_by_quitting():
    reasons = Counter(e.payload.reason.value for e in plan(players=800, incident=None, model=SHORT_SESSIONS).events
                      if e.event_type == "ended")
    assert (reasons["normal"] + reasons["quit"]) / sum(reasons.values()) > 0.85
    assert reasons["server_crash"] == 0


def test_the_crash_disconnects_the_regions_live_sessions_and_only_those():
    generated = plan(players=250)
    incident = generated.incidents[0]
    crash_window = (incident.opened_at, incident.opened_at + timedelta(seconds=90))
    crashes = [e for e in generated.events
               if e.event_type == "disconnected" and e.payload.reason.value == "server_crash"]
    assert crashes and {e.region for e in crashes} == {"eu-west"}
    assert all(crash_window[0] <= e.occurred_at <= crash_window[1] for e in crashes)
    live_at_crash = fold_all(e for e in generated.events if e.occurred_at < incident.opened_at)
    live_eu = [s for s in live_at_crash.sessions.values() if s.region == "eu-west" and s.status == "active"]
    assert len(crashes) >= 0.8 * len(live_eu)


def test_after_the_crash_many_reconnect_and_some_end_with_server_crash():
    events = plan(players=250).events
    crashed = {e.session_id for e in events
               if e.event_type == "disconnected" and e.payload.reason.value == "server_crash"}
    sessions = by_session(events)
    reconnected = sum(any(e.event_type == "reconnected" for e in sessions[s]) for s in crashed)
    ended_by_crash = sum(any(e.event_type == "ended" and e.payload.reason.value == "server_crash"
                             for e in sessions[s]) for s in crashed)
    assert reconnected > len(crashed) / 2
    assert ended_by_crash > 0


def test_the_incident_follows_a_deploy_and_runs_its_course():
    generated = plan()
    ops = [e for e in generated.events if isinstance(e, OpsEvent)]
    assert [e.event_type.value for e in ops] == [
        "deploy_started", "deploy_finished", "incident_opened", "incident_acknowledged",
        "incident_mitigated", "incident_resolved",
    ]
    incident = generated.incidents[0]
    assert ops[1].payload.outcome.value == incident.deploy_outcome
    assert ops[2].occurred_at == START + timedelta(minutes=20)
    assert ops[4].occurred_at == START + timedelta(minutes=28)
    assert {e.payload.incident_id for e in ops[2:]} == {incident.incident_id}


def test_the_crashed_region_takes_no_new_sessions_until_mitigated():
    generated = plan(players=250)
    incident = generated.incidents[0]
    requested = [e for e in generated.events if e.event_type == "requested" and e.region == "eu-west"]
    assert not [e for e in requested if incident.opened_at <= e.occurred_at < incident.mitigated_at]


@pytest.mark.parametrize("text, seconds", [("90", 90), ("90s", 90), ("10m", 600), ("1h30m", 5400)])
def test_durations_read_as_people_write_them(text, seconds):
    assert parse_duration(text) == seconds


def test_an_incident_spec_names_what_is_wrong_with_it():
    with pytest.raises(BadLoadOption, match="for as well"):
        parse_incident("region=eu-west,at=10m")
    with pytest.raises(BadLoadOption, match="one of"):
        plan(incident="region=mars-north,at=10m,for=5m")
    with pytest.raises(BadLoadOption, match="inside the run"):
        plan(incident="region=eu-west,at=2h,for=5m")


def test_an_incident_still_open_at_the_end_of_the_run_is_not_resolved():
    generated = plan(players=20, incident="region=eu-west,at=50m,for=20m")
    ops = [e.event_type.value for e in generated.events if isinstance(e, OpsEvent)]
    assert "incident_opened" in ops and "incident_resolved" not in ops
    assert generated.incidents[0].resolved_at is None


def bad_build_plan(fleet=True):
    from ledger.loadgen import parse_bad_build

    return generate(players=150, duration_s=3600, seed=7, start=START, model=SHORT_SESSIONS,
                    bad_builds=[parse_bad_build("region=us-east,at=5m,build=9.9-bad")], fleet=fleet)


def test_a_bad_build_is_deployed_and_its_sessions_fare_worse():
    plan = bad_build_plan()
    [deploy] = plan.deploys
    ops = [e for e in plan.events if isinstance(e, OpsEvent) and e.event_type.value.startswith("deploy")]
    assert [(e.event_type.value, e.payload.build, e.payload.regions) for e in ops] == [
        ("deploy_started", "9.9-bad", ("us-east",)), ("deploy_finished", "9.9-bad", ("us-east",))]
    sessions = by_session(plan.events)
    bad = [s for s in sessions.values() if s[0].build == "9.9-bad"]
    assert bad and all(s[0].region == "us-east" and s[0].occurred_at >= deploy.started_at for s in bad)
    others = [s for s in sessions.values() if s[0].build != "9.9-bad" and s[0].region == "us-east"
              and s[0].occurred_at >= deploy.started_at]

    def error_share(group):
        ends = [e for s in group for e in s if e.event_type.value == "ended"]
        return sum(1 for e in ends if e.payload.reason.value == "error") / len(ends)

    assert error_share(bad) > 0.2 > 0.05 > error_share(others)


def test_fleet_events_size_each_region_and_change_nothing_else():
    with_fleet, without = bad_build_plan(), bad_build_plan(fleet=False)
    fleet = [e for e in with_fleet.events if isinstance(e, OpsEvent) and e.event_type.value == "fleet_scaled"]

    assert sorted(e.payload.region for e in fleet) == sorted(name for name, _ in TrafficModel().regions)
    assert all(e.occurred_at == START and e.payload.player_slots == 10 * e.payload.servers for e in fleet)
    assert [e for e in with_fleet.events if e not in fleet] == list(without.events)
