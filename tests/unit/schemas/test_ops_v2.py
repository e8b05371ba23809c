"""Ops events v2: incident kinds and milestones, maintenance windows and SLO burn alerts, and how
v1 and v2 readers and writers read each other."""

from __future__ import annotations

from datetime import timedelta

import pytest

from schemas.codec import decode, decode_record, default_codec, encode
from schemas.errors import InvalidEvent
from schemas.models import IncidentKind, parse_event
from tests.support.factories import T0, ops_event


def test_a_v1_incident_reads_as_unplanned_with_no_milestone_fields():
    event = ops_event("incident_opened")

    read = decode(default_codec().encode(event, writer_version=1))

    assert read == event
    assert read.payload.kind is IncidentKind.unplanned
    assert read.payload.impact_started_at is None


def test_a_v1_reader_reads_an_slo_burn_as_an_anomaly_of_its_kind():
    event = ops_event("slo_burn", slo="session-success", window_start=T0, count=40, threshold=3)

    name, record = decode_record(encode(event), reader_version=1)

    assert name == "ops_event"
    assert record["event_type"] == "anomaly_detected"
    assert record["payload"] == {"kind": "slo_burn", "region": "eu-west", "window_start": T0,
                                 "count": 40, "threshold": 3}


def test_a_v1_reader_reads_a_drill_and_skips_what_it_does_not_know():
    event = ops_event("incident_opened", kind="drill", impact_started_at=T0)

    _, record = decode_record(encode(event), reader_version=1)

    assert record["event_type"] == "incident_opened"
    assert "kind" not in record["payload"] and "impact_started_at" not in record["payload"]


@pytest.mark.parametrize("event_type", ["incident_detected", "incident_corrected",
                                        "maintenance_scheduled", "slo_burn"])
def test_every_new_ops_event_survives_the_round_trip(event_type):
    event = ops_event(event_type)
    assert decode(encode(event)) == event


def test_a_correction_names_the_milestone_and_its_time():
    with pytest.raises(InvalidEvent, match="milestone is required on incident_corrected"):
        parse_event(_incident("incident_corrected", milestone_at=_iso(T0)))


def test_v2_fields_belong_to_their_own_event_type():
    with pytest.raises(InvalidEvent, match="milestone is only for incident_corrected"):
        parse_event(_incident("incident_opened", milestone="opened", milestone_at=_iso(T0)))
    with pytest.raises(InvalidEvent, match="slo is only for slo_burn"):
        parse_event({**_anomaly(), "payload": {**_anomaly()["payload"], "slo": "x"}})


def test_a_maintenance_window_cannot_end_before_it_starts():
    with pytest.raises(InvalidEvent, match="planned_end is before payload.planned_start"):
        parse_event(_incident("maintenance_scheduled", kind="maintenance",
                              planned_start=_iso(T0), planned_end=_iso(T0 - timedelta(minutes=1))))


def test_a_maintenance_window_is_of_kind_maintenance_and_only_it_is():
    with pytest.raises(InvalidEvent, match="kind must be maintenance"):
        parse_event(_incident("maintenance_scheduled", planned_start=_iso(T0),
                              planned_end=_iso(T0)))
    with pytest.raises(InvalidEvent, match="a gameday is a drill"):
        parse_event(_incident("incident_opened", kind="maintenance"))


def test_an_slo_burn_is_keyed_by_its_slo():
    assert ops_event("slo_burn", slo="heartbeat-latency").key == b"heartbeat-latency"
    assert ops_event("anomaly_detected").key == b"eu-west"


def _iso(t) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _incident(event_type: str, **payload) -> dict:
    return {"event_id": "3f2b8c1e-9a4d-4c1b-8f0e-2d6a7b9c1e5f", "occurred_at": _iso(T0),
            "producer": "incident-bot", "event_type": event_type,
            "payload": {"incident_id": "INC-9", "severity": "sev2", "title": "t", **payload}}


def _anomaly() -> dict:
    return {"event_id": "3f2b8c1e-9a4d-4c1b-8f0e-2d6a7b9c1e5f", "occurred_at": _iso(T0),
            "producer": "ledger-worker", "event_type": "anomaly_detected",
            "payload": {"kind": "disconnect_spike", "region": "eu-west",
                        "window_start": _iso(T0), "count": 3, "threshold": 2}}
