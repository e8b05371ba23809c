"""The batch decoder reads every message as `decode()` does: the same records for every valid
event of every writer version, the same error for every bad message, and one bad message
costs only itself. Its row path (``decode_rows``) gives the same, as plain tuples with
timestamps in epoch milliseconds."""

from __future__ import annotations

import math
import uuid
from datetime import timedelta, timezone
from io import BytesIO

import pytest
from fastavro import schemaless_writer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.rows import OPS_EVENT_COLUMNS, SESSION_EVENT_COLUMNS, ops_event_row, session_event_row
from schemas.batch import BatchDecoder, decode_batch, millis_row
from schemas.catalogue import default_catalogue
from schemas.codec import MARKER, MAX_EVENT_BYTES, decode, default_codec, to_record
from schemas.errors import InvalidEvent, SchemaError
from schemas.models import OpsEvent, OpsEventType, SessionEventType
from schemas.readers import FAST_MILLIS, MAX_MILLIS, MIN_MILLIS, EPOCH
from schemas.records import OPS_COLUMNS, SESSION_COLUMNS, OpsRecord, SessionRecord
from tests.support.factories import invalid_avro_heartbeat, ops_event, session_event, session_script
from tests.support.strategies import valid_ops_events, valid_session_events

CATALOGUE = default_catalogue()
CODEC = default_codec()
SESSION_VERSIONS = [v.version for v in CATALOGUE.versions["session_event"]]
DECODER = BatchDecoder()


def expected(values):
    """What `decode()` makes of each value: (session rows, ops rows, [(index, class, code, text)])."""
    sessions, ops, errors = [], [], []
    for index, value in enumerate(values):
        try:
            event = decode(b"" if value is None else value)
        except SchemaError as error:
            errors.append((index, type(error), error.code, str(error)))
            continue
        if isinstance(event, OpsEvent):
            ops.append(ops_event_row(event))
        else:
            sessions.append(session_event_row(event))
    return sessions, ops, errors


def assert_reads_like_decode(values):
    batch = DECODER.decode(values)
    sessions, ops, errors = expected(values)
    assert batch.sessions == sessions
    assert batch.ops == ops
    assert [(i, type(e), e.code, str(e)) for i, e in batch.errors] == errors
    assert all(type(r) is SessionRecord for r in batch.sessions)
    assert all(type(r) is OpsRecord for r in batch.ops)
    rows = DECODER.decode_rows(values)
    assert rows.sessions == [millis_row(r) for r in sessions]
    assert rows.ops == [millis_row(r) for r in ops]
    assert all(type(r) is tuple for r in rows.sessions + rows.ops)
    assert [(i, type(e), e.code, str(e)) for i, e in rows.errors] == errors
    return batch


def raw(version, record) -> bytes:
    """A message written with ``version`` from a hand-made record: what a careless producer sends."""
    out = BytesIO()
    out.write(MARKER + version.fingerprint)
    schemaless_writer(out, version.parsed, record)
    return out.getvalue()


# --- layout ------------------------------------------------------------------------------


def test_records_have_the_warehouse_column_order():
    assert SESSION_COLUMNS == SESSION_EVENT_COLUMNS
    assert OPS_COLUMNS == OPS_EVENT_COLUMNS


def test_every_writer_version_in_the_catalogue_gets_a_compiled_reader():
    assert DECODER.unsupported == {}
    for version in CATALOGUE:
        assert f"def read_{version.name}_v{version.version}(b):" in DECODER.reader_source(version)


# --- valid events ------------------------------------------------------------------------


@pytest.mark.parametrize("writer_version", SESSION_VERSIONS)
def test_a_session_of_every_kind_reads_as_decode_reads_it(writer_version):
    events = session_script(heartbeats=2, disconnect_and_reconnect=True, migrate=True,
                            party_id="party-1", trace_id="trace-1")
    events += session_script(end="timed_out")
    events += [session_event(t) for t in SessionEventType if t is not SessionEventType.timed_out]
    values = [CODEC.encode(e, writer_version=writer_version) for e in events]

    batch = assert_reads_like_decode(values)

    assert len(batch.sessions) == len(events) and not batch.errors
    if writer_version == 1:
        assert {r.party_id for r in batch.sessions} == {None}


def test_every_ops_event_reads_as_decode_reads_it():
    batch = assert_reads_like_decode([CODEC.encode(ops_event(t)) for t in OpsEventType])
    assert len(batch.ops) == len(OpsEventType)
    assert batch.ops[0].regions == ["eu-west"] and batch.ops[0].regions is not batch.ops[1].regions


def test_a_record_reads_by_field_name_and_is_the_row():
    event = session_event("timed_out", seq=0, timeout_s=45)
    (record,) = decode_batch([CODEC.encode(event)]).sessions

    assert record.is_derived and record.timeout_s == 45 and record.seq == 0
    assert record.occurred_at == event.occurred_at
    assert record.occurred_at.tzinfo is timezone.utc
    assert tuple(record) == session_event_row(event)


uuids = st.uuids().map(str) | st.uuids().map(lambda u: str(u).upper()) | st.uuids().map(lambda u: u.hex)
"""UUIDs as producers may write them: the models normalise upper-case and hex forms."""


def session_events():
    return valid_session_events(uuids=uuids)


def ops_events():
    return valid_ops_events(uuids=uuids)


@st.composite
def encoded(draw):
    """An encoded valid event, session events in any writer version of the catalogue."""
    if draw(st.booleans()):
        return CODEC.encode(draw(ops_events()))
    event = draw(session_events())
    try:
        return CODEC.encode(event, writer_version=draw(st.sampled_from(SESSION_VERSIONS)))
    except InvalidEvent:  # an end reason older versions lack
        return CODEC.encode(event)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(encoded(), min_size=1, max_size=8))
def test_any_valid_events_read_as_decode_reads_them(values):
    batch = assert_reads_like_decode(values)
    assert not batch.errors


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=MIN_MILLIS, max_value=MAX_MILLIS)
       | st.integers(min_value=FAST_MILLIS - 10**6, max_value=FAST_MILLIS + 10**6)
       | st.integers(min_value=-10**6, max_value=10**6))
def test_every_timestamp_a_datetime_holds_reads_to_the_exact_millisecond(millis):
    event = session_event("heartbeat")
    record = to_record(event)
    record["occurred_at"] = millis
    (row,) = DECODER.decode([raw(CATALOGUE.current("session_event"), record)]).sessions
    assert row.occurred_at == EPOCH + timedelta(milliseconds=millis)
    assert row.occurred_at.tzinfo is timezone.utc
    (as_row,) = DECODER.decode_rows([raw(CATALOGUE.current("session_event"), record)]).sessions
    assert as_row[SESSION_COLUMNS.index("occurred_at")] == millis


# --- bad messages ------------------------------------------------------------------------


def _mutated(version, event_type="heartbeat", **changes):
    record = to_record(session_event(event_type, seq=0 if event_type == "timed_out" else 1))
    payload = changes.pop("payload", None)
    record.update(changes)
    if payload is not None:
        name, fields = record["payload"]
        record["payload"] = payload if isinstance(payload, tuple) else (name, {**fields, **payload})
    return raw(version, record)


def hostile_messages():
    """(name, bytes) of every kind of bad message the readers have met or could meet."""
    v3, v1 = CATALOGUE.current("session_event"), CATALOGUE.version("session_event", 1)
    ops = CATALOGUE.current("ops_event")
    good = CODEC.encode(session_event("migrated"))
    ops_record = to_record(ops_event("incident_opened"))
    cases = {
        "none": None,
        "empty": b"",
        "json": b'{"event_type": "heartbeat"}',
        "wrong marker": b"\xc3\x02" + good[2:],
        "cut in header": good[:6],
        "unknown fingerprint": good[:2] + b"\x00" * 8 + good[10:],
        "oversized": MARKER + v3.fingerprint + b"\x00" * MAX_EVENT_BYTES,
        "left over": good + b"\x00",
        "seq 0 on a heartbeat": invalid_avro_heartbeat(),
        "seq 0 on a v1 heartbeat": _mutated(v1, seq=0),
        "negative seq": _mutated(v3, seq=-3),
        "seq 0 on a timed_out": _mutated(v3, "timed_out", seq=0),  # valid: a derived event
        "empty player": _mutated(v3, player_id=""),
        "empty producer": _mutated(v3, producer=""),
        "empty region": _mutated(v3, region=""),
        "not a uuid": _mutated(v3, event_id="not-a-uuid"),
        "upper-case uuid": _mutated(v3, session_id=str(uuid.uuid4()).upper()),  # valid
        "uuid without hyphens": _mutated(v3, event_id=uuid.uuid4().hex),  # valid
        "uuid with a bad hyphen": _mutated(v3, event_id=str(uuid.uuid4()).replace("-", "x", 1)),
        "branch mismatch": _mutated(v3, payload=("ledger.session.Ended", {"reason": "normal"})),
        "latency over int32": _mutated(v3, payload={"latency_ms": 2**31}),
        "negative latency": _mutated(v3, payload={"latency_ms": -1}),
        "loss over 100": _mutated(v3, payload={"packet_loss_pct": 150.0}),
        "loss nan": _mutated(v3, payload={"packet_loss_pct": math.nan}),
        "loss inf": _mutated(v3, payload={"packet_loss_pct": math.inf}),
        "timestamp past 9999": _mutated(v3, occurred_at=2**62),
        "timestamp before year 1": _mutated(v3, occurred_at=-2**50),
        "timestamp 1960": _mutated(v3, occurred_at=-315619200000),  # valid
        "timeout 0": _mutated(v3, "timed_out", payload={"timeout_s": 0}),
        "empty game mode": _mutated(v3, "started", payload={"game_mode": ""}),
        "negative queue": _mutated(v3, "started", payload={"queue_ms": -1}),
        "negative downtime": _mutated(v3, "reconnected", payload={"downtime_ms": -5}),
        "empty server": _mutated(v3, "migrated", payload={"to_server_id": ""}),
        "ops empty incident": raw(ops, {**ops_record, "payload": (
            ops_record["payload"][0], {**ops_record["payload"][1], "incident_id": ""})}),
        "ops branch mismatch": raw(ops, {**ops_record, "event_type": "deploy_started"}),
        "ops negative count": raw(ops, {**to_record(ops_event("anomaly_detected")), "payload": (
            "ledger.ops.Anomaly", {**ops_event("anomaly_detected").payload.__dict__, "count": -1})}),
    }
    body = bytearray(good)
    body[12 + 3] = 0xFF  # an invalid UTF-8 byte inside event_id
    cases["bad utf-8"] = bytes(body)
    overlong = bytearray(CODEC.encode(session_event("heartbeat")))
    cases["boolean byte 2"] = _with_byte(overlong, "cross_play", 2)
    for keep in range(10, len(good), 7):
        cases[f"cut at {keep}"] = good[:keep]
    return list(cases.items())


def _with_byte(data: bytearray, field: str, value: int) -> bytes:
    event = session_event("heartbeat")
    record = to_record(event)
    before = raw(CATALOGUE.current("session_event"), record)
    record[field] = not record[field]
    after = raw(CATALOGUE.current("session_event"), record)
    (index,) = [i for i, (a, b) in enumerate(zip(before, after)) if a != b]
    changed = bytearray(before)
    changed[index] = value
    return bytes(changed)


HOSTILE = hostile_messages()


@pytest.mark.parametrize(("name", "value"), HOSTILE, ids=[name for name, _ in HOSTILE])
def test_a_bad_message_gets_the_error_decode_gives_it(name, value):
    assert_reads_like_decode([value])


def test_good_messages_around_bad_ones_all_come_back():
    good = [CODEC.encode(e) for e in session_script(heartbeats=20)]
    values = []
    for index, (_, bad) in enumerate(HOSTILE):
        values += [good[index % len(good)], bad]
    values += [CODEC.encode(ops_event("deploy_finished"))]

    batch = assert_reads_like_decode(values)

    assert len(batch.sessions) >= len(HOSTILE)
    assert {e.code for _, e in batch.errors} >= {
        "bad_marker", "truncated", "unknown_fingerprint", "too_large", "malformed",
        "invalid_event"}


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=120), st.integers(min_value=0), st.sampled_from([None, 0, 1, 3]))
def test_any_bytes_after_a_known_header_read_as_decode_reads_them(body, pick, cut):
    versions = list(CATALOGUE)
    header = MARKER + versions[pick % len(versions)].fingerprint
    good = CODEC.encode(session_event("heartbeat"))
    value = header + body
    if cut is not None:
        value = value[:len(value) - cut]
    assert_reads_like_decode([good, value, good])


@settings(max_examples=300, deadline=None)
@given(encoded(), st.integers(min_value=0), st.integers(min_value=0, max_value=255))
def test_any_byte_flipped_in_a_valid_event_reads_as_decode_reads_it(value, where, byte):
    changed = bytearray(value)
    changed[10 + where % (len(value) - 10)] = byte
    assert_reads_like_decode([bytes(changed)])


def test_the_codec_alone_gives_the_same_batches():
    values = [CODEC.encode(e) for e in session_script(migrate=True)] + [v for _, v in HOSTILE]
    fast, careful = DECODER.decode(values), BatchDecoder(fast=False).decode(values)
    assert fast.sessions == careful.sessions and fast.ops == careful.ops
    assert [(i, str(e)) for i, e in fast.errors] == [(i, str(e)) for i, e in careful.errors]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(encoded(), min_size=1, max_size=8))
def test_canonical_valid_events_never_need_the_codec(values):
    careful = BatchDecoder()
    careful._careful = None  # a message the compiled readers did not vouch for would call it
    careful._careful_row = None
    fast = [v for v in values if _canonical(v)]
    batch = careful.decode(fast)
    assert len(batch.sessions) + len(batch.ops) == len(fast)
    rows = careful.decode_rows(fast)
    assert len(rows.sessions) + len(rows.ops) == len(fast)


def _canonical(value: bytes) -> bool:
    """Whether decode() reads ``value`` unchanged by normalisation (lower-case hyphenated UUIDs),
    and it is not of an ops type whose rules between fields only the codec checks."""
    event = decode(value)
    if event.event_type.value in ("incident_corrected", "maintenance_scheduled", "slo_burn"):
        return False
    ids = [event.event_id] + ([event.session_id] if hasattr(event, "session_id") else [])
    return all(value.find(i.encode()) > 0 for i in ids)
