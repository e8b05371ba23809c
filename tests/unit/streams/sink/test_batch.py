"""A batch's slices: one partition's run of messages decoded at once into warehouse rows
(plain tuples in column order, timestamps as epoch milliseconds)."""
from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

from kafka import TopicPartition

from analytics.rows import ops_event_row, session_event_row
from schemas.batch import BatchDecoder, millis_row
from schemas.codec import encode
from schemas.errors import BadMarker, TruncatedMessage
from analytics.warehouse import check_dedup_token
from projections.erasure import CLEARED_FIELDS, ErasedPlayers, Erasure
from schemas.records import SessionRecord
from streams.sink.batch import Slice, anonymise_rows, batch_token, decode_into, dedup_token
from tests.support.factories import ops_event, session_script

PARTITION = TopicPartition("session-events", 2)


@dataclass
class ListRun:
    """A partition's run as the consumer hands it over (streams.sink.client.Run), from a list."""

    messages: list

    @property
    def values(self):
        return [m.value for m in self.messages]

    @property
    def first_offset(self):
        return self.messages[0].offset

    @property
    def last_offset(self):
        return self.messages[-1].offset

    def __len__(self):
        return len(self.messages)

    def message(self, index):
        return self.messages[index]


def messages(values, first_offset=10):
    return ListRun([SimpleNamespace(topic=PARTITION.topic, partition=PARTITION.partition,
                                    offset=first_offset + i, value=value) for i, value in enumerate(values)])


def test_a_run_becomes_rows_in_column_order_and_extends_the_range():
    events = session_script(heartbeats=2)
    incident = ops_event("incident_opened")
    piece = Slice(PARTITION, 10, 10)

    bad = decode_into(piece, messages([encode(e) for e in events] + [encode(incident)]),
                      BatchDecoder())

    assert bad == []
    assert piece.sessions == [millis_row(session_event_row(e)) for e in events]
    assert piece.ops == [millis_row(ops_event_row(incident))]
    assert piece.sessions[0][4] == events[0].occurred_at.timestamp() * 1000
    assert (piece.first_offset, piece.last_offset, piece.messages) == (10, 10 + len(events), len(events) + 1)
    assert piece.dedup_token == dedup_token(PARTITION, 10, 10 + len(events))


def test_what_is_no_event_comes_back_to_be_dead_lettered_and_the_rest_is_kept():
    good = session_script(heartbeats=1)
    values = [encode(good[0]), None, b"\x00garbage", encode(good[1]), encode(good[2])]
    piece = Slice(PARTITION, 10, 10)

    bad = decode_into(piece, messages(values), BatchDecoder())

    assert [(m.offset, type(e)) for m, e in bad] == [(11, TruncatedMessage), (12, BadMarker)]
    assert [r[0] for r in piece.sessions] == [e.event_id for e in good[:3]]
    assert piece.last_offset == 14 and piece.messages == 5


def test_a_second_run_of_the_same_partition_carries_on_the_range():
    events = session_script(heartbeats=3)
    piece = Slice(PARTITION, 10, 10)

    decode_into(piece, messages([encode(e) for e in events[:2]]), BatchDecoder())
    decode_into(piece, messages([encode(e) for e in events[2:]], first_offset=12), BatchDecoder())

    assert [r[3] for r in piece.sessions] == [e.seq for e in events]
    assert (piece.first_offset, piece.last_offset) == (10, 10 + len(events) - 1)


def test_a_batch_of_one_slice_keeps_its_range_token_and_several_name_every_range():
    one = Slice(PARTITION, 10, 19)
    other = Slice(TopicPartition("session-events", 0), 5, 7)
    ops = Slice(TopicPartition("ops-events", 1), 0, 3)

    assert batch_token([one]) == one.dedup_token == "session-events/2/10-19"
    assert batch_token([one, other, ops]) == "ops-events/1:0-3+session-events/0:5-7/2:10-19"
    assert batch_token([ops, one, other]) == batch_token([one, other, ops])
    assert batch_token([one, other]) != batch_token([Slice(PARTITION, 10, 20), other])


def test_a_batch_token_too_long_to_spell_out_is_a_digest_that_still_fits_an_insert():
    pieces = [Slice(TopicPartition("session-events", p), 10**12, 10**12 + 49_999) for p in range(12)]

    token = batch_token(pieces)

    assert token.startswith("ranges-sha256-") and len(token) + len("/session") <= 200
    assert token == batch_token(list(reversed(pieces)))
    check_dedup_token(token + "/session")


def _decoded_rows(*players: str) -> list[tuple]:
    events = [e for player in players
              for e in session_script(player_id=player, heartbeats=1, party_id=f"party-{player}",
                                      trace_id=f"trace-{player}")]
    return BatchDecoder().decode_rows([encode(e) for e in events]).sessions


def test_a_batch_with_no_erasure_known_is_kept_as_it_is():
    rows = _decoded_rows("p1", "p2")
    assert anonymise_rows(rows, ErasedPlayers()) == (rows, 0)
    assert anonymise_rows(rows, None)[0] is rows


def test_an_erased_players_rows_get_the_token_and_lose_their_links_and_nothing_else():
    pepper = b"pepper"
    erasure = Erasure.new("p1", pepper)
    rows = _decoded_rows("p1", "p2", "p1")
    fields = SessionRecord._fields

    out, anonymised = anonymise_rows(rows, ErasedPlayers(pepper, [erasure, Erasure.new("p9", pepper)]))

    assert anonymised == sum(row[fields.index("player_id")] == "p1" for row in rows) > 0
    for before, after in zip(rows, out, strict=True):
        was, now = dict(zip(fields, before)), dict(zip(fields, after))
        if was["player_id"] == "p1":
            assert now["player_id"] == erasure.token
            assert all(now[name] is None for name in CLEARED_FIELDS)
            assert {k: v for k, v in now.items() if k not in ("player_id", *CLEARED_FIELDS)} == \
                {k: v for k, v in was.items() if k not in ("player_id", *CLEARED_FIELDS)}
        else:
            assert after is before


def test_a_pepper_other_than_the_registrys_matches_no_one():
    rows = _decoded_rows("p1")
    assert anonymise_rows(rows, ErasedPlayers(b"other", [Erasure.new("p1", b"pepper")]))[1] == 0
