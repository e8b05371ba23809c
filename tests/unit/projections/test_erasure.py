"""The erasure core: keys never reveal the id, tokens replace it, links are cleared."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from projections.erasure import (
    CLEARED_FIELDS, BadErasure, ErasedPlayers, Erasure, erasure_key, is_token,
)
from schemas.records import SessionRecord

T0 = datetime(2026, 12, 1, tzinfo=timezone.utc)


def _record(player_id: str, **fields) -> SessionRecord:
    base = dict(event_id="e1", session_id="s1", player_id=player_id, seq=1, occurred_at=T0,
                producer="p", platform="pc", region="eu-west", build="1.0", cross_play=False,
                input_method="mouse_keyboard", subtitles=True, colorblind_mode="none",
                screen_reader=False, reduced_motion=False, trace_id="t-1", party_id="party-9",
                event_type="session_requested", game_mode="ranked", matchmaking_ticket="mm-1")
    base.update(fields)
    return SessionRecord(**base)


def test_key_depends_on_id_and_pepper_and_does_not_contain_the_id():
    key = erasure_key("player-42")
    assert len(key) == 64 and "player-42" not in key
    assert key == erasure_key("player-42")
    assert key != erasure_key("player-43")
    assert key != erasure_key("player-42", b"pepper")


def test_new_erasure_has_a_random_token_and_round_trips():
    first, second = Erasure.new("p1", now=T0), Erasure.new("p1", now=T0)
    assert first.key == second.key and first.token != second.token
    assert is_token(first.token) and not is_token("p1")
    assert Erasure.from_json(first.to_json()) == first


@pytest.mark.parametrize("player_id", ["", "   ", "erased-0123"])
def test_erasing_nothing_or_a_token_is_refused(player_id):
    with pytest.raises(BadErasure):
        Erasure.new(player_id)


@pytest.mark.parametrize("raw", [b"{}", b"not json", b'{"key": "ab", "token": "erased-1", "requested_at": "2026-12-01T00:00:00+00:00"}'])
def test_unreadable_registry_records_are_refused(raw):
    with pytest.raises(BadErasure):
        Erasure.from_json(raw)


def test_anonymise_replaces_the_id_clears_links_and_keeps_the_facts():
    erasure = Erasure.new("p1", now=T0)
    erased = ErasedPlayers(erasures=[erasure])
    kept = erased.anonymise(_record("p2"))
    assert kept == _record("p2")
    gone = erased.anonymise(_record("p1"))
    assert gone.player_id == erasure.token
    assert all(getattr(gone, name) is None for name in CLEARED_FIELDS)
    assert (gone.session_id, gone.region, gone.platform, gone.game_mode, gone.subtitles) == \
        ("s1", "eu-west", "pc", "ranked", True)


def test_the_first_token_stays_and_the_cache_learns_new_erasures():
    erased = ErasedPlayers()
    assert erased.token_for("p1") is None and not erased
    first = Erasure.new("p1")
    assert erased.add(first) and not erased.add(Erasure.new("p1"))
    assert erased.token_for("p1") == first.token  # the verdict cached before the add is dropped
    assert erased.version == 1 and len(erased) == 1


def test_pepper_must_match_to_recognise_a_player():
    erasure = Erasure.new("p1", b"one")
    assert ErasedPlayers(b"one", [erasure]).token_for("p1") == erasure.token
    assert ErasedPlayers(b"two", [erasure]).token_for("p1") is None


def test_receipts_round_trip_and_are_told_from_erasures():
    from projections.erasure import Receipt, is_receipt

    receipt = Receipt(key="a" * 64, layer="worker", instance="w1", done_at=T0,
                      removed={"players": 1, "sessions": 2}, partitions=(0, 2), last_copy_by=T0)
    assert Receipt.from_json(receipt.to_json()) == receipt
    assert receipt.registry_key == "a" * 64 + "/worker/w1"
    assert is_receipt(receipt.to_json()) and not is_receipt(Erasure.new("p").to_json())
