"""The worker's player records: updates are applied from what the player already saw."""
from __future__ import annotations

import orjson

from projections.player_records import fold_player_update, player_of, player_update
from projections.player_state import apply_player
from projections.session_state import step
from tests.support.factories import session_script

S1, S2, S3 = (f"00000000-0000-4000-8000-00000000000{n}" for n in (1, 2, 3))


def states_of(events):
    """The session's state after each event, starting from None (before the first)."""
    states = [None]
    for event in events:
        states.append(step(states[-1], event).after)
    return states


def player_after(changes):
    player = None
    for before, after in changes:
        player = apply_player(player, before, after)
    return player


def fold(record, before, after):
    return fold_player_update(record, player_update(before, after))


def test_an_update_from_an_older_state_than_the_player_saw_opens_and_counts_nothing_twice():
    # requested, started, 3 heartbeats, no end yet: the session stays open
    s = states_of(session_script(S1, end=None))
    record, _ = fold(None, s[0], s[3])  # the player applied the session up to seq 3
    # the sender was killed before its session record reached the changelog: restarted, it
    # folds the session from its first event again and sends the change from nothing to seq 5
    record, applied = fold(record, None, s[5])

    assert applied
    player = player_of(record)
    assert player == player_after([(s[0], s[3]), (s[3], s[5])])
    assert [o.session_id for o in player.open_sessions] == [S1]  # not opened twice
    assert player.session_count == 1


def test_a_finish_seen_through_an_older_before_is_counted_once():
    s = states_of(session_script(S2, heartbeats=2, end="normal"))
    last = len(s) - 1
    record, _ = fold(None, s[0], s[last - 1])
    record, _ = fold(record, s[last - 1], s[last])  # finished: counted once
    again, applied = fold(record, s[2], s[last])  # the same finish, from an older before

    assert not applied and again == record
    assert player_of(record).finished_session_count == 1


def test_an_update_from_a_state_older_than_the_one_seen_is_applied_from_the_one_seen():
    s = states_of(session_script(S1, end=None))
    record, _ = fold(None, s[0], s[3])
    record, applied = fold(record, s[1], s[5])  # the sender's record was at seq 1

    assert applied
    assert player_of(record) == player_after([(s[0], s[3]), (s[3], s[5])])


def test_records_that_remember_only_a_seq_are_still_read():
    s = states_of(session_script(S3, end=None))
    record, _ = fold(None, s[0], s[2])
    record = {**record, "seen": {S3: 2}}  # as written before statuses were remembered
    record, applied = fold(record, s[2], s[4])

    assert applied
    assert player_of(record) == player_after([(s[0], s[2]), (s[2], s[4])])


def version_1_update(before, after):
    """A player update as sent before updates carried marks: two whole session records."""
    return {"before": None if before is None else before.to_dict(), "after": after.to_dict()}


def test_an_update_carries_what_the_player_fold_reads_not_the_whole_session():
    s = states_of(session_script(S1, heartbeats=2, disconnect_and_reconnect=True, end="normal"))
    update = player_update(s[2], s[3])

    assert update["before"] == [s[2].revision, s[2].status.value, s[2].play_ms]
    assert set(update["after"]) == {"session_id", "player_id", "status", "revision", "platform",
                                    "opened_at", "last_event_at", "play_ms"}
    assert len(orjson.dumps(update)) < len(orjson.dumps(version_1_update(s[2], s[3]))) / 4


def test_folding_updates_gives_the_player_the_whole_states_would():
    first = states_of(session_script(S1, heartbeats=2, disconnect_and_reconnect=True, end="normal"))
    second = states_of(session_script(S2, heartbeats=1, end="timed_out"))
    one, two = list(zip(first, first[1:])), list(zip(second, second[1:]))
    changes = [change for pair in zip(one, two) for change in pair] + one[len(two):]
    record = None
    for before, after in changes:
        record, _ = fold(record, before, after)

    assert player_of(record) == player_after(changes)
    assert player_of(record).finished_session_count == 2
    assert player_of(record).total_play_ms == first[-1].play_ms + second[-1].play_ms > 0


def test_version_1_updates_still_in_the_topic_are_applied_as_before():
    s = states_of(session_script(S3, heartbeats=2, end="normal"))
    old, new = None, None
    for before, after in zip(s, s[1:]):
        old, _ = fold_player_update(old, version_1_update(before, after))
        new, _ = fold(new, before, after)

    assert old == new
    assert player_of(old) == player_after(list(zip(s, s[1:])))
