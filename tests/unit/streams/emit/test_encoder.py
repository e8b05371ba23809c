"""The emitter's compiled Avro writers write exactly the bytes the codec writes, for any event."""
from __future__ import annotations

import pytest
from hypothesis import given, settings

from schemas.codec import default_codec, to_record
from schemas.errors import InvalidEvent
from schemas.models import OpsEvent, SessionEvent
from streams.emit.encoder import EventEncoder, Unsupported, compile_writer, zigzag_varint
from tests.support.strategies import valid_ops_events, valid_session_events

CODEC = default_codec()
ENCODER = EventEncoder(CODEC)


def compiled(event) -> bytes:
    """The compiled writer's bytes alone (no fallback to the codec)."""
    header, write = ENCODER._writers[type(event)]
    return header + write(to_record(event))


@settings(max_examples=300, deadline=None)
@given(valid_session_events())
def test_any_session_event_is_written_as_the_codec_writes_it(event):
    assert compiled(event) == CODEC.encode(event)
    assert ENCODER.encode(event) == CODEC.encode(event)


@settings(max_examples=200, deadline=None)
@given(valid_ops_events())
def test_any_ops_event_is_written_as_the_codec_writes_it(event):
    assert compiled(event) == CODEC.encode(event)


def test_both_event_types_get_a_compiled_writer():
    assert set(ENCODER._writers) == {SessionEvent, OpsEvent}


def test_longs_are_zigzag_varints():
    assert [zigzag_varint(n) for n in (0, -1, 1, 63, 64, -65)] == [
        b"\x00", b"\x01", b"\x02", b"\x7e", b"\x80\x01", b"\x81\x01"]
    with pytest.raises(OverflowError):
        zigzag_varint(2 ** 63)


def test_a_schema_with_a_type_it_does_not_write_is_refused_when_compiled():
    with pytest.raises(Unsupported):
        compile_writer({"type": "record", "name": "M", "fields": [
            {"name": "m", "type": {"type": "map", "values": "long"}}]})


def test_a_datum_the_writer_cannot_write_goes_to_the_codec_for_its_error(monkeypatch):
    event = SessionEvent.model_validate({**to_record_fields(), "seq": 1})
    broken = event.model_copy(update={"seq": 2 ** 70})  # past what a long holds
    with pytest.raises(InvalidEvent):
        ENCODER.encode(broken)


def to_record_fields() -> dict:
    from bench.common import event_template

    return event_template("heartbeat").model_dump()
