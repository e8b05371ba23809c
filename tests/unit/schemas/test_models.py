"""The Python side of the contract: what a valid event is, and how a bad one is reported."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from schemas.errors import InvalidEvent
from schemas.models import (
    Ended,
    Heartbeat,
    OpsEvent,
    OpsEventType,
    SessionEvent,
    SessionEventType,
    parse_event,
)
from tests.support.factories import T0, ops_event, session_event, session_script


def as_dict(event) -> dict:
    return event.model_dump(mode="json")


def test_event_types_compare_equal_to_their_names():
    event = session_event("heartbeat")
    assert event.event_type == "heartbeat"
    assert event.event_type is SessionEventType.heartbeat
    assert f"{event.platform}" == "pc"


def test_a_json_line_becomes_a_typed_event():
    line = as_dict(session_event("heartbeat", latency_ms=85))

    event = parse_event(line)

    assert isinstance(event, SessionEvent)
    assert isinstance(event.payload, Heartbeat)
    assert event.payload.latency_ms == 85


def test_ops_events_are_recognised_by_their_event_type():
    line = as_dict(ops_event("incident_opened", severity="sev1"))

    event = parse_event(line)

    assert isinstance(event, OpsEvent)
    assert event.event_type is OpsEventType.incident_opened
    assert event.payload.severity == "sev1"


def test_events_are_frozen():
    event = session_event("started")
    with pytest.raises(ValidationError):
        event.seq = 2


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"seq": 0}, "seq"),
        ({"event_id": "not-a-uuid"}, "event_id"),
        ({"session_id": "1234"}, "session_id"),
        ({"player_id": ""}, "player_id"),
        ({"region": ""}, "region"),
        ({"platform": "dreamcast"}, "platform"),
        ({"occurred_at": "2025-03-14T12:00:00"}, "occurred_at"),
        ({"colour": "blue"}, "colour"),
        ({"payload": {"latency_ms": -1, "packet_loss_pct": 0}}, "payload.latency_ms"),
        ({"payload": {"latency_ms": 10, "packet_loss_pct": 100.5}}, "payload.packet_loss_pct"),
        ({"payload": {"latency_ms": 10}}, "payload.packet_loss_pct"),
        ({"accessibility": {"colorblind_mode": "sepia"}}, "accessibility.colorblind_mode"),
    ],
)
def test_a_bad_field_is_named(change, field):
    line = {**as_dict(session_event("heartbeat")), **change}

    with pytest.raises(InvalidEvent) as caught:
        parse_event(line)

    assert caught.value.field == field
    assert f"'{field}'" in str(caught.value)


def test_a_naive_timestamp_is_rejected_naming_the_field():
    with pytest.raises(ValidationError) as caught:
        session_event("heartbeat", occurred_at=datetime(2025, 3, 14, 12, 0))

    assert caught.value.errors()[0]["loc"] == ("occurred_at",)
    assert "timezone-aware" in str(caught.value)


def test_a_payload_must_match_the_event_type():
    line = {**as_dict(session_event("heartbeat")), "payload": Ended(reason="quit")}

    with pytest.raises(InvalidEvent) as caught:
        parse_event(line)

    assert caught.value.field == "payload"
    assert "needs Heartbeat" in str(caught.value)


def test_the_same_payload_dict_means_different_things_for_different_types():
    disconnected = session_event("disconnected", reason="kicked")
    ended = session_event("ended", reason="kicked")

    assert type(disconnected.payload).__name__ == "Disconnected"
    assert type(ended.payload).__name__ == "Ended"


def test_an_unknown_event_type_is_named():
    with pytest.raises(InvalidEvent) as caught:
        parse_event({**as_dict(session_event("started")), "event_type": "paused"})
    assert caught.value.field == "event_type"


def test_timestamps_are_normalised_to_utc_milliseconds():
    tokyo = timezone(timedelta(hours=9))
    event = session_event("heartbeat", occurred_at=datetime(2025, 3, 14, 21, 0, 0, 123456, tokyo))

    assert event.occurred_at == datetime(2025, 3, 14, 12, 0, 0, 123000, timezone.utc)
    assert event.occurred_at.tzinfo is timezone.utc


def test_uuids_are_kept_in_canonical_form():
    event = session_event("started", session_id="3F2B8C1E9A4D4C1B8F0E2D6A7B9C1E5F")
    assert event.session_id == "3f2b8c1e-9a4d-4c1b-8f0e-2d6a7b9c1e5f"
    assert event.key == b"3f2b8c1e-9a4d-4c1b-8f0e-2d6a7b9c1e5f"


def test_ops_events_are_keyed_by_what_they_are_about():
    assert ops_event("incident_resolved", incident_id="INC-7").key == b"INC-7"
    assert ops_event("deploy_started", deploy_id="DEP-3").key == b"DEP-3"
    assert ops_event("anomaly_detected", region="us-east").key == b"us-east"
    assert ops_event("fleet_scaled", region="sa-east", servers=3, player_slots=90,
                     hourly_cost=4.8).key == b"sa-east"


def test_a_script_numbers_and_orders_one_session():
    events = session_script(heartbeats=2, disconnect_and_reconnect=True, migrate=True)

    assert [e.event_type.value for e in events] == [
        "requested", "started", "heartbeat", "heartbeat", "disconnected", "reconnected",
        "migrated", "heartbeat", "ended",
    ]
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert len({e.session_id for e in events}) == 1
    assert all(a.occurred_at < b.occurred_at for a, b in zip(events, events[1:]))
    assert events[0].occurred_at == T0


def test_a_timed_out_script_ends_after_the_timeout_since_the_last_heartbeat():
    events = session_script(heartbeats=1, end="timed_out", timeout_s=45)

    last_heartbeat, timed_out = events[-2], events[-1]
    assert timed_out.event_type is SessionEventType.timed_out
    assert timed_out.payload.last_heartbeat_at == last_heartbeat.occurred_at
    assert timed_out.occurred_at - last_heartbeat.occurred_at == timedelta(seconds=45)
    assert timed_out.seq == 0


def test_a_live_script_has_no_ending():
    events = session_script(heartbeats=0, end=None, platform="switch", party_id="party-9")
    assert [e.event_type.value for e in events] == ["requested", "started"]
    assert {e.platform.value for e in events} == {"switch"}
    assert {e.party_id for e in events} == {"party-9"}
