"""Dead letters: any message makes a writable letter, and reading it back restores the original."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.errors import TruncatedMessage
from streams.kafka.deadletters.letter import (
    MAX_DETAIL,
    MAX_PAYLOAD_BYTES,
    DeadLetter,
    letter_id,
    read_letter,
    replay_marker,
    replayed_id,
)


def letter(detected_by="worker", error=None) -> DeadLetter:
    return DeadLetter("truncated", error or TruncatedMessage(0, "the c3 01 marker"), "session-events", 3, 41,
                      detected_by=detected_by)


def test_a_letter_id_names_the_message_and_the_reader():
    assert letter().letter_id == "session-events/3/41/worker"
    assert letter("sink").letter_id == letter_id("session-events", 3, 41, "sink")
    assert letter().letter_id != letter("sink").letter_id


def test_a_null_key_and_null_value_make_a_letter_a_client_can_send():
    key, value, headers = letter().message(None, None, None)
    assert value == b"" and key is None  # aiokafka and kafka-python need one of the two non-null
    back = read_letter(key, value, headers)
    assert back.key is None and back.value is None
    assert (back.source, back.reason, back.detected_by) == (("session-events", 3, 41), "truncated", "worker")


def test_an_empty_value_stays_empty_not_null():
    key, value, headers = letter().message(b"", b"", [])
    back = read_letter(key, value, headers)
    assert back.key == b"" and back.value == b""


def test_original_headers_come_back_even_those_named_like_the_letters_own():
    original = [("reason", b"mine"), ("source_offset", None), ("original:x", b"\xff"), ("", b"")]
    key, value, headers = letter().message(b"k", b"v", original)
    back = read_letter(key, value, headers)
    assert back.original_headers == original
    assert back.reason == "truncated" and back.source_offset == 41


def test_the_error_text_is_bounded():
    long = TruncatedMessage(10 ** 6, "x" * 5000)
    headers = dict(letter(error=long).headers())
    assert len(headers["error"]) == MAX_DETAIL


def test_a_payload_over_the_bound_is_cut_and_says_so():
    key, value, headers = letter().message(b"k" * 10, b"v" * (MAX_PAYLOAD_BYTES + 5000), [])
    assert len(key) + len(value) == MAX_PAYLOAD_BYTES and key == b"k" * 10
    back = read_letter(key, value, headers)
    assert back.cut and back.original_size == 10 + MAX_PAYLOAD_BYTES + 5000


@settings(max_examples=200, deadline=None)
@given(key=st.none() | st.binary(max_size=MAX_PAYLOAD_BYTES), value=st.none() | st.binary(max_size=64),
       long_value=st.booleans(),
       headers=st.lists(st.tuples(st.text(max_size=20), st.none() | st.binary(max_size=20)), max_size=5))
def test_any_message_round_trips_or_is_cut_within_the_bound(key, value, long_value, headers):
    if long_value and value is not None:
        value = value * (MAX_PAYLOAD_BYTES // max(1, len(value)))
    sent_key, sent_value, sent_headers = letter().message(key, value, headers)
    assert sent_value is not None  # a client can always send it
    assert len(sent_key or b"") + len(sent_value) <= MAX_PAYLOAD_BYTES
    back = read_letter(sent_key, sent_value, sent_headers)
    assert back.original_headers == headers
    assert back.original_size == len(key or b"") + len(value or b"")
    if not back.cut:
        assert (back.key, back.value) == (key, value)


def test_a_replay_marker_is_not_a_letter_and_names_the_letter():
    back = read_letter(*letter().message(b"k", b"v", []))
    key, value, headers = replay_marker(back)
    assert read_letter(key, value, headers) is None
    assert replayed_id(headers) == back.letter_id
    assert replayed_id(letter().headers()) is None
