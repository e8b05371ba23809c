"""Events on the wire: single-object encoding, schema resolution between versions, and the
distinct errors a reader gets for each kind of bad message."""

from __future__ import annotations

from datetime import datetime, timezone
from io import BytesIO

import pytest
from fastavro import schemaless_writer
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.catalogue import default_catalogue
from schemas.codec import (
    MARKER,
    MAX_EVENT_BYTES,
    decode,
    decode_record,
    default_codec,
    encode,
    to_record,
)
from schemas.errors import (
    BadMarker,
    EventTooLarge,
    InvalidEvent,
    MalformedMessage,
    SchemaError,
    TruncatedMessage,
    UnknownFingerprint,
)
from schemas.models import SESSION_PAYLOADS, OpsEventType
from tests.support.factories import ops_event, session_event, session_script
from tests.support.strategies import session_payloads, valid_ops_events, valid_session_events

CATALOGUE = default_catalogue()
SESSION_V1 = CATALOGUE.version("session_event", 1)
SESSION_V2 = CATALOGUE.version("session_event", 2)
SESSION_V3 = CATALOGUE.version("session_event", 3)


def test_every_step_of_a_session_survives_the_round_trip():
    events = session_script(heartbeats=2, disconnect_and_reconnect=True, migrate=True)
    events += session_script(end="timed_out", party_id="party-7", trace_id="trace-1")

    assert [decode(encode(event)) for event in events] == events


@pytest.mark.parametrize("event_type", list(OpsEventType))
def test_every_ops_event_survives_the_round_trip(event_type):
    event = ops_event(event_type)
    assert decode(encode(event)) == event


def test_a_message_names_its_writer_schema_in_the_header():
    data = encode(session_event("started"))

    assert data[:2] == MARKER == b"\xc3\x01"
    assert data[2:10] == SESSION_V3.fingerprint
    assert CATALOGUE.by_fingerprint(data[2:10]) is CATALOGUE.current("session_event")


def test_ops_events_are_written_with_their_own_schema():
    data = encode(ops_event("deploy_finished"))
    assert data[2:10] == CATALOGUE.current("ops_event").fingerprint


def test_an_event_from_a_v1_producer_reads_with_no_party():
    event = session_event("heartbeat", party_id="party-3")

    v1_bytes = default_codec().encode(event, writer_version=1)
    read = decode(v1_bytes)

    assert v1_bytes[2:10] == SESSION_V1.fingerprint
    assert read.party_id is None
    assert read == event.model_copy(update={"party_id": None})


def test_a_v1_reader_reads_v2_events_and_ignores_the_party():
    event = session_event("ended", party_id="party-3", reason="quit")

    name, record = decode_record(encode(event), reader_version=1)

    assert name == "session_event"
    assert "party_id" not in record
    assert record["payload"] == {"reason": "quit"}
    assert record["session_id"] == event.session_id
    assert record["occurred_at"] == event.occurred_at


def test_raw_records_come_back_with_the_current_fields():
    event = session_event("heartbeat", party_id="party-3", latency_ms=120)

    name, record = decode_record(encode(event))

    assert name == "session_event"
    assert record["party_id"] == "party-3"
    assert record["event_type"] == "heartbeat"
    assert record["payload"]["latency_ms"] == 120


def test_bytes_without_the_marker_are_rejected_as_bad_marker():
    data = encode(session_event("started"))

    with pytest.raises(BadMarker) as caught:
        decode(b'{"event_type": "started"}')
    assert "7b 22" in str(caught.value)

    with pytest.raises(BadMarker):
        decode(b"\xc3\x02" + data[2:])


def test_an_unknown_fingerprint_is_reported_with_the_known_ones():
    data = encode(session_event("started"))

    with pytest.raises(UnknownFingerprint) as caught:
        decode(data[:2] + b"\x00" * 8 + data[10:])

    assert caught.value.fingerprint == b"\x00" * 8
    assert "session_event v2" in str(caught.value)


@pytest.mark.parametrize("keep", [0, 1, 5, 9])
def test_a_message_cut_inside_its_header_is_truncated(keep):
    data = encode(session_event("started"))
    with pytest.raises(TruncatedMessage):
        decode(data[:keep])


def test_a_message_cut_inside_its_body_is_truncated():
    data = encode(session_event("migrated"))
    for keep in range(10, len(data)):
        with pytest.raises(TruncatedMessage):
            decode(data[:keep])


def test_bytes_left_over_after_the_record_are_malformed():
    data = encode(session_event("heartbeat"))
    with pytest.raises(MalformedMessage) as caught:
        decode(data + b"\x00")
    assert "1 bytes left over" in str(caught.value)


def test_each_bad_message_gets_its_own_error_code():
    data = encode(session_event("started"))
    codes = set()
    for bad in (b"nope" + data, data[:2] + b"\x01" * 8 + data[10:], data[:12]):
        with pytest.raises(SchemaError) as caught:
            decode(bad)
        codes.add(caught.value.code)
    assert codes == {"bad_marker", "unknown_fingerprint", "truncated"}


def test_an_oversized_event_is_refused_before_it_is_sent():
    event = ops_event("incident_opened", title="x" * MAX_EVENT_BYTES)

    with pytest.raises(EventTooLarge) as caught:
        encode(event)

    assert caught.value.size > MAX_EVENT_BYTES
    assert "incident_opened" in str(caught.value)


def test_an_event_just_under_the_limit_is_accepted():
    header_and_rest = len(encode(ops_event("incident_opened", title="")))
    title = "x" * (MAX_EVENT_BYTES - header_and_rest - 3)  # a longer string takes a 3-byte length

    assert len(encode(ops_event("incident_opened", title=title))) <= MAX_EVENT_BYTES


def test_an_oversized_message_is_refused_before_it_is_read():
    with pytest.raises(EventTooLarge):
        decode(MARKER + SESSION_V2.fingerprint + b"\x00" * MAX_EVENT_BYTES)


def test_a_well_formed_message_that_breaks_the_contract_names_the_field():
    record = to_record(session_event("heartbeat"))
    record["seq"] = 0
    body = BytesIO()
    schemaless_writer(body, SESSION_V2.parsed, record)

    with pytest.raises(InvalidEvent) as caught:
        decode(MARKER + SESSION_V2.fingerprint + body.getvalue())

    assert caught.value.field == "seq"


def test_encode_takes_only_events():
    with pytest.raises(TypeError):
        encode({"event_type": "started"})


# --- property: anything valid round-trips ----------------------------------------------------

instants = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(timezone.utc)
)
assert set(session_payloads(instants)) == set(SESSION_PAYLOADS)


def session_events():
    return valid_session_events(instants=instants)


def ops_events():
    return valid_ops_events(instants=instants)


@settings(max_examples=300, deadline=None)
@given(st.one_of(session_events(), ops_events()))
def test_any_valid_event_decodes_to_itself(event):
    assert decode(encode(event)) == event


def test_a_timestamp_out_of_range_is_malformed_not_a_crash():
    current = CATALOGUE.current("session_event")
    record = to_record(session_event("heartbeat"))
    record["occurred_at"] = 2 ** 62  # millis far past the year 9999
    body = BytesIO()
    schemaless_writer(body, current.parsed, record)
    with pytest.raises(MalformedMessage) as caught:
        decode(MARKER + current.fingerprint + body.getvalue())
    assert "OverflowError" in str(caught.value)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=120), st.integers(min_value=0))
def test_any_bytes_after_a_known_header_decode_or_raise_a_schema_error(body, pick):
    versions = list(CATALOGUE)
    header = MARKER + versions[pick % len(versions)].fingerprint
    try:
        decode(header + body)
    except SchemaError:
        pass  # the reader dead-letters it with the error's code
