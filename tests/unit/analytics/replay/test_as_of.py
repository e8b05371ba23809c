"""The pure parts of the ledger as of an instant: ranges of session ids, players merged."""
from __future__ import annotations

from datetime import timedelta

from analytics.replay.as_of import id_ranges
from analytics.replay.settled import merge_players
from projections.player_state import OpenSession, PlayerState
from tests.support.factories import T0


def test_a_small_history_is_one_range_without_bounds():
    assert id_ranges(50_000, per_range=100_000) == [("", "")]


def test_ranges_cover_every_session_id_once_in_order():
    ranges = id_ranges(1_000_000, per_range=100_000)

    assert len(ranges) == 10
    assert ranges[0] == ("", "199") and ranges[-1][1] == ""
    assert all(high == low for (_, high), (low, _) in zip(ranges, ranges[1:]))
    for session_id in ("0f", "1", "9zz", "A-not-hex", "a", "ffff", "~", ""):
        owners = [s for s in ranges if session_id >= s[0] and (s[1] == "" or session_id < s[1])]
        assert len(owners) == 1, session_id


def test_a_huge_history_takes_at_most_one_range_per_three_hex_digits():
    assert len(id_ranges(10**12, per_range=100_000)) == 16 ** 3


def test_players_of_two_disjoint_folds_merge_into_one():
    one = PlayerState("p", (OpenSession(T0, "s1"),), T0, 2, 1, 1000, ("pc",))
    other = PlayerState("p", (OpenSession(T0 - timedelta(minutes=1), "s0"),), T0 + timedelta(seconds=5),
                        1, 0, 0, ("ios",))

    merged = merge_players(one, other)

    assert merged == PlayerState("p", (OpenSession(T0 - timedelta(minutes=1), "s0"), OpenSession(T0, "s1")),
                                 T0 + timedelta(seconds=5), 3, 1, 1000, ("ios", "pc"))
    assert merge_players(None, other) is other
