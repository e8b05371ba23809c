"""Rows back to events, and a session's timeline as a reviewer reads it."""
from __future__ import annotations

from datetime import timedelta

import pytest

from analytics.replay import interleave, replay_session
from analytics.row_events import event_from_row, ops_event_from_row
from analytics.rows import OPS_EVENT_COLUMNS, SESSION_EVENT_COLUMNS, ops_event_row, session_event_row
from tests.support.factories import T0, ops_event, session_event, session_script


def as_stored(row: tuple, columns: tuple[str, ...]) -> dict:
    return dict(zip(columns, row, strict=True))


@pytest.mark.parametrize("event", [
    *session_script(heartbeats=1, disconnect_and_reconnect=True, migrate=True, end="error"),
    *session_script(end="timed_out", party_id="party-9", trace_id="t-1"),
    session_event("requested", matchmaking_ticket=None, accessibility={
        "subtitles": True, "colorblind_mode": "tritanopia", "screen_reader": True, "reduced_motion": True}),
], ids=lambda e: e.event_type.value)
def test_a_session_event_comes_back_from_its_row_unchanged(event):
    assert event_from_row(as_stored(session_event_row(event), SESSION_EVENT_COLUMNS)) == event


@pytest.mark.parametrize("event", [
    ops_event("incident_opened", regions=("eu-west", "us-east"), services=("gateway",)),
    ops_event("deploy_started"), ops_event("deploy_finished", outcome="rolled_back"),
    ops_event("anomaly_detected"), ops_event("deploy_finished", build="2026.11.3"),
    ops_event("fleet_scaled", region="sa-east", servers=3, player_slots=90, hourly_cost=4.8,
              currency="BRL"),
    ops_event("incident_detected", kind="drill", impact_started_at=T0),
    ops_event("incident_corrected", milestone="resolved", milestone_at=T0),
    ops_event("maintenance_scheduled"), ops_event("slo_burn", state="resolved", burn_rate=0.5),
], ids=lambda e: e.event_type.value)
def test_an_ops_event_comes_back_from_its_row_unchanged(event):
    assert ops_event_from_row(as_stored(ops_event_row(event), OPS_EVENT_COLUMNS)) == event


def test_each_line_carries_the_state_after_its_event():
    events = session_script(heartbeats=1, disconnect_and_reconnect=True, end="normal")

    replay = replay_session(events[0].session_id, events, "history")

    assert [(line.event_type, line.status) for line in replay.lines] == [
        ("requested", "requested"), ("started", "active"), ("heartbeat", "active"),
        ("disconnected", "disconnected"), ("reconnected", "active"), ("ended", "ended")]
    assert replay.final.status == "ended"
    assert all(line.outcome == "applied" and not line.anomalies for line in replay.lines)


def test_a_line_names_the_anomaly_its_event_caused_and_duplicates_show_as_such():
    sid = "7d1c6a5e-6f0e-4e2b-9d8a-1b2c3d4e5f60"
    started = session_event("started", session_id=sid, seq=1)
    events = [started, session_event("started", session_id=sid, seq=2), started,
              session_event("heartbeat", session_id=sid, seq=4)]

    lines = replay_session(sid, events, "kafka").lines

    assert lines[1].anomalies == ("started twice",)
    assert lines[1].anomaly_count == 1 and lines[1].status == "active"
    assert lines[2].outcome == "duplicate"
    assert (lines[3].outcome, lines[3].last_seq) == ("held", 2)


def test_replaying_as_of_an_instant_ignores_what_came_after_and_nothing_before_is_none():
    events = session_script(start=T0, heartbeats=3, heartbeat_every=timedelta(seconds=10))

    replay = replay_session(events[0].session_id, events, "history", at=T0 + timedelta(seconds=13))

    assert [line.event_type for line in replay.lines] == ["requested", "started", "heartbeat"]
    assert replay_session(events[0].session_id, events, "history", at=T0 - timedelta(seconds=1)) is None


def test_ops_events_and_minutes_share_one_time_axis_ops_first_on_a_tie():
    opened = ops_event("incident_opened", occurred_at=T0 + timedelta(minutes=1))
    resolved = ops_event("incident_resolved", occurred_at=T0 + timedelta(minutes=3, seconds=5))
    minutes = [{"minute": T0 + timedelta(minutes=m), "region": region, "disconnects": 2,
                "reconnects": 1, "timeouts": 0}
               for m in (1, 2, 3) for region in ("us-east", "eu-west")]

    entries = interleave([resolved, opened], minutes)

    assert [(e.kind, e.region) for e in entries[:3]] == [
        ("ops", "eu-west"), ("minute", "eu-west"), ("minute", "us-east")]
    assert [e.what for e in entries if e.kind == "ops"] == ["incident_opened", "incident_resolved"]
    assert entries[-1].what == "incident_resolved"


def test_an_ops_entry_keeps_its_own_kind_beside_the_payloads():
    anomaly, drill = ops_event("anomaly_detected"), ops_event("incident_opened", kind="drill")

    entries = [entry.as_dict() for entry in interleave([anomaly, drill], [])]

    assert [e["kind"] for e in entries] == ["ops", "ops"]
    assert (entries[0]["anomaly_kind"], entries[1]["incident_kind"]) == ("disconnect_spike", "drill")
    assert "milestone" not in entries[1]  # fields left unset are left out
