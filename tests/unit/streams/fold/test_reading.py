"""A run of the session topic read at once: each message's record, or the error it is
dead-lettered with, in the run's order."""
from __future__ import annotations

from schemas.batch import BatchDecoder
from schemas.codec import encode
from schemas.errors import InvalidMessage
from schemas.records import SessionRecord, session_record
from streams.errors import NotASessionEvent
from streams.fold.reading import read_run
from tests.support.factories import ops_event, session_script

DECODER = BatchDecoder()


def test_every_message_of_a_run_is_its_record_in_order():
    events = session_script(heartbeats=2, end="normal")

    read = read_run(DECODER, [encode(e) for e in events])

    assert read == [session_record(e) for e in events]
    assert all(type(r) is SessionRecord for r in read)


def test_what_cannot_be_read_keeps_its_place_with_the_codecs_reason():
    events = session_script(heartbeats=1, end="normal")
    values = [encode(events[0]), b"\x00garbage", encode(events[1]), None, encode(events[2])[:20],
              encode(events[2])]

    read = read_run(DECODER, values)

    assert [r.code if isinstance(r, InvalidMessage) else r.seq for r in read] == [
        1, "bad_marker", 2, "truncated", "truncated", 3]


def test_an_ops_event_on_the_session_topic_is_refused_as_not_a_session_event():
    events = session_script(heartbeats=1)
    values = [encode(events[0]), encode(ops_event("deploy_finished")), b"", encode(events[1])]

    read = read_run(DECODER, values)

    assert read[0] == session_record(events[0]) and read[3] == session_record(events[1])
    assert isinstance(read[1], NotASessionEvent) and read[1].code == "not_a_session_event"
    assert read[2].code == "truncated"
