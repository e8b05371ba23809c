"""A player's state, folded from the changes of their sessions."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from projections.errors import BadStateRecord, WrongPlayer
from projections.player_state import PlayerState, apply_player, apply_step, player_from_sessions
from projections.session_state import step
from tests.support.factories import T0, session_event, session_script


def play(player: PlayerState | None, events) -> PlayerState | None:
    """Deliver ``events`` (of any sessions of one player) and fold each step into the player."""
    sessions = {}
    for event in events:
        result = step(sessions.get(event.session_id), event)
        sessions[event.session_id] = result.after
        player = apply_step(player, result)
    return player


def test_a_finished_session_adds_its_play_time_and_leaves_no_current_session():
    events = session_script(player_id="ada", heartbeats=3, end="normal")

    player = play(None, events)

    assert player.player_id == "ada"
    assert player.session_count == 1
    assert player.finished_session_count == 1
    assert player.current_session_id is None
    assert player.total_play_seconds == 31.0
    assert player.last_seen == events[-1].occurred_at
    assert player.platforms == ("pc",)


def test_an_open_session_is_the_current_one():
    events = session_script(player_id="ada", heartbeats=1, end=None)

    player = play(None, events)

    assert player.current_session_id == events[0].session_id
    assert player.total_play_seconds == 0.0
    assert player.finished_session_count == 0


def test_play_time_accumulates_across_sessions_and_platforms():
    first = session_script(player_id="ada", heartbeats=2, end="quit")  # 2s queue, 21s play
    second = session_script(
        player_id="ada", start=T0 + timedelta(hours=1), heartbeats=5, end="timed_out",
        platform="switch",
    )  # play ends at the last heartbeat: 50s

    player = play(None, first + second)

    assert player.session_count == 2
    assert player.total_play_ms == 21_000 + 50_000
    assert player.platforms == ("pc", "switch")


def test_with_two_open_sessions_the_latest_opened_is_current_whatever_the_arrival_order():
    early = session_script(player_id="ada", end=None, heartbeats=0)
    late = session_script(player_id="ada", end=None, heartbeats=0, start=T0 + timedelta(minutes=1))

    assert play(None, early + late).current_session_id == late[0].session_id
    assert play(None, late + early).current_session_id == late[0].session_id


def test_when_the_current_session_ends_the_other_open_one_becomes_current():
    early = session_script(player_id="ada", end=None, heartbeats=0)
    late = session_script(player_id="ada", heartbeats=0, start=T0 + timedelta(minutes=1))

    player = play(None, early + late)

    assert player.current_session_id == early[0].session_id


def test_duplicates_and_held_events_leave_the_player_unchanged():
    events = session_script(player_id="ada", heartbeats=2, end="normal")
    session = None
    for event in events[:3]:
        session = step(session, event).after
    player = player_from_sessions("ada", [session])

    for redelivered in events[:3]:
        assert apply_step(player, step(session, redelivered)) is player
    held = step(session, events[-1])
    assert held.outcome == "held"
    assert apply_step(player, held) is player


def test_a_session_with_only_anomalies_has_not_begun_for_the_player():
    stray = session_event("heartbeat", player_id="ada", seq=1)

    result = step(None, stray)

    assert apply_step(None, result) is None


def test_folding_a_session_into_another_players_state_is_refused():
    result = step(None, session_event("requested", player_id="bob"))

    with pytest.raises(WrongPlayer, match="bob"):
        apply_player(PlayerState("ada"), result.before, result.after)


def test_the_incremental_fold_agrees_with_the_sessions_it_came_from():
    scripts = [
        session_script(player_id="ada", heartbeats=1, end="normal"),
        session_script(player_id="ada", heartbeats=2, end=None, start=T0 + timedelta(minutes=3)),
        session_script(player_id="ada", heartbeats=0, end="timed_out", platform="ios"),
    ]
    sessions = {}
    player = None
    for event in [e for script in scripts for e in script]:
        result = step(sessions.get(event.session_id), event)
        sessions[event.session_id] = result.after
        player = apply_step(player, result)

    assert player == player_from_sessions("ada", list(sessions.values()))


def test_a_player_survives_a_json_round_trip():
    player = play(None, session_script(player_id="ada", end=None)
                  + session_script(player_id="ada", platform="xbox"))

    record = json.loads(json.dumps(player.to_dict()))

    assert PlayerState.from_dict(record) == player


def test_a_player_record_with_a_bad_field_names_it():
    record = PlayerState("ada").to_dict() | {"open_sessions": [["soon", "s-1"]]}

    with pytest.raises(BadStateRecord, match="'open_sessions'"):
        PlayerState.from_dict(record)
