"""Events become warehouse rows: one value per column, payload fields in their own columns."""
from __future__ import annotations

from datetime import timedelta

import pytest

from analytics.rows import (
    OPS_EVENT_COLUMNS, SESSION_EVENT_COLUMNS, ops_event_row, session_event_row, split_rows,
)
from schemas.models import SessionEventType
from tests.support.factories import T0, ops_event, session_event


def as_dict(columns, row):
    assert len(row) == len(columns)
    return dict(zip(columns, row))


@pytest.mark.parametrize("event_type", list(SessionEventType))
def test_every_session_event_type_fills_only_its_own_payload_columns(event_type):
    row = as_dict(SESSION_EVENT_COLUMNS, session_event_row(session_event(event_type)))

    filled = {c for c in SESSION_EVENT_COLUMNS[SESSION_EVENT_COLUMNS.index("game_mode"):]
              if row[c] is not None}
    expected = {
        "requested": {"game_mode", "matchmaking_ticket"},
        "started": {"server_id", "game_mode", "queue_ms"},
        "heartbeat": {"latency_ms", "packet_loss_pct"},
        "disconnected": {"disconnect_reason"},
        "reconnected": {"server_id", "downtime_ms"},
        "migrated": {"from_server_id", "to_server_id", "migration_reason"},
        "ended": {"end_reason"},
        "timed_out": {"last_heartbeat_at", "timeout_s"},
    }[event_type.value]
    assert filled == expected
    assert row["event_type"] == event_type.value


def test_envelope_values_are_plain_and_accessibility_is_flattened():
    event = session_event("ended", reason="server_crash", platform="switch", party_id="p-7",
                          accessibility={"subtitles": True, "colorblind_mode": "tritanopia"},
                          occurred_at=T0 + timedelta(milliseconds=5))

    row = as_dict(SESSION_EVENT_COLUMNS, session_event_row(event))

    assert row["platform"] == "switch" and type(row["platform"]) is str
    assert row["end_reason"] == "server_crash" and type(row["end_reason"]) is str
    assert (row["subtitles"], row["colorblind_mode"], row["screen_reader"]) == (True, "tritanopia", False)
    assert row["party_id"] == "p-7"
    assert row["occurred_at"] == T0 + timedelta(milliseconds=5)


def test_incident_deploy_and_anomaly_rows():
    incident = as_dict(OPS_EVENT_COLUMNS, ops_event_row(
        ops_event("incident_opened", incident_id="INC-4", severity="sev1", regions=("eu-west", "us-east"))))
    deploy = as_dict(OPS_EVENT_COLUMNS, ops_event_row(ops_event("deploy_finished", outcome="rolled_back")))
    anomaly = as_dict(OPS_EVENT_COLUMNS, ops_event_row(ops_event("anomaly_detected", count=9)))

    assert (incident["incident_id"], incident["severity"], incident["regions"]) == (
        "INC-4", "sev1", ["eu-west", "us-east"])
    assert incident["deploy_id"] is None
    assert (deploy["deploy_id"], deploy["deploy_outcome"], deploy["services"]) == ("DEP-1", "rolled_back", [])
    assert (anomaly["anomaly_count"], anomaly["regions"], anomaly["incident_id"]) == (9, [], None)


def test_a_mixed_batch_splits_by_kind_in_order():
    first, second = session_event("started"), session_event("heartbeat")
    sessions, ops = split_rows([first, ops_event("deploy_started"), second])

    assert [row[0] for row in sessions] == [first.event_id, second.event_id]
    assert len(ops) == 1
