"""The end rule: how a session ended is the same for every order its events arrive in.

A producer's ``ended`` that occurred at or before the ledger's timeout verdict overrules it; a
verdict that came first stands and keeps a later ``ended`` as late (docs/projections.md).
"""
from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections.fold import LedgerFold, fold_all, fold_session, fold_until, timeline_order
from projections.player_state import player_from_sessions
from projections.session_state import (
    RESERVATION_TIMED_OUT,
    SessionStatus,
    resolve_end,
    step,
    timeout_event,
)
from tests.support.factories import T0, session_event, session_script
from tests.support.strategies import FAR_FUTURE, arrivals, contested_sessions

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _end(state):
    return (state.status, state.end_reason, state.ended_at, state.play_ended_at)


def _the_race():
    """requested, started, heartbeat, silence: the worker times the session out; the game
    server's ended (before the timeout) arrives after the verdict."""
    producer = session_script(heartbeats=1, end="normal", heartbeat_every=timedelta(seconds=5))
    ended = producer[-1]
    verdict = timeout_event(fold_session(producer[:-1]), FAR_FUTURE, 5)
    return producer[:-1], ended, verdict


def test_an_ended_that_occurred_before_the_verdict_overrules_it_whatever_arrives_first():
    before_end, ended, verdict = _the_race()
    ended = ended.model_copy(update={"occurred_at": verdict.occurred_at - timedelta(seconds=1)})

    late_end = fold_session([*before_end, verdict, ended])
    late_verdict = fold_session([*before_end, ended, verdict])

    assert late_end == late_verdict
    assert late_end.status is SessionStatus.ended
    assert late_end.end_reason == "normal"
    assert late_end.ended_at == ended.occurred_at
    assert late_end.superseded_verdict and not late_end.late_end
    assert late_end.last_seq == ended.seq  # the ended kept its seq: the verdict took none


def test_an_ended_that_occurred_after_the_verdict_is_kept_as_late_and_the_verdict_stands():
    before_end, ended, verdict = _the_race()
    ended = ended.model_copy(update={"occurred_at": verdict.occurred_at + timedelta(seconds=1)})

    state = fold_session([*before_end, verdict, ended])

    assert state == fold_session([*before_end, ended, verdict])
    assert state.status is SessionStatus.timed_out
    assert state.end_reason == "timed_out"
    assert state.ended_at == verdict.occurred_at
    assert state.play_ended_at == verdict.payload.last_heartbeat_at
    assert state.late_end
    assert state.reported_end_reason == "normal"


def test_a_tie_goes_to_the_producer():
    before_end, ended, verdict = _the_race()
    ended = ended.model_copy(update={"occurred_at": verdict.occurred_at})

    assert fold_session([*before_end, verdict, ended]).status is SessionStatus.ended


def test_the_earliest_of_two_verdicts_counts_whichever_arrives_first():
    events = session_script(heartbeats=2, end=None)
    early = timeout_event(fold_session(events[:2]), FAR_FUTURE, 30)  # decided before heartbeats
    late = timeout_event(fold_session(events), FAR_FUTURE, 30)

    one, other = fold_session([*events, early, late]), fold_session([*events, late, early])

    assert one == other
    assert one.verdict.event_id == early.event_id
    assert one.ended_at == early.occurred_at


def test_a_session_never_started_times_out_on_its_reservation_timeout_as_a_matchmaking_failure():
    requested = session_event("requested", seq=1, occurred_at=T0)
    state = fold_session([requested])
    verdict = timeout_event(state, T0 + timedelta(seconds=60), timeout_s=30, reservation_timeout_s=60)

    ended = step(state, verdict).after

    assert verdict.payload.timeout_s == 60
    assert verdict.occurred_at == T0 + timedelta(seconds=60)
    assert ended.status is SessionStatus.timed_out
    assert ended.end_reason == RESERVATION_TIMED_OUT
    assert ended.play_ms == 0


def test_a_late_started_turns_a_reservation_timeout_into_a_play_timeout_in_any_order():
    requested, started = session_script(heartbeats=0, end=None)
    verdict = timeout_event(fold_session([requested]), FAR_FUTURE, 30, reservation_timeout_s=60)

    for order in ([requested, verdict, started], [started, verdict, requested]):
        assert fold_session(order).end_reason == "timed_out"


def test_resolve_end_without_verdict_or_end_leaves_the_reported_status():
    end = resolve_end(SessionStatus.active, None, None, None, T0)

    assert (end.status, end.ended_at, end.end_reason) == (SessionStatus.active, None, None)


@SETTINGS
@given(st.data(), contested_sessions())
def test_any_arrival_order_gives_the_same_session_and_end(data, history):
    in_order = fold_session(history.events)

    delivered = data.draw(arrivals(history.events))

    assert fold_session(delivered) == in_order
    assert _end(fold_session(timeline_order(history.events))) == _end(in_order)


@SETTINGS
@given(st.data(), st.lists(contested_sessions(), min_size=1, max_size=4))
def test_live_rebuilt_and_replayed_as_of_the_end_agree_on_every_session_and_player(data, histories):
    log = data.draw(arrivals([e for h in histories for e in h.events]))
    live = LedgerFold()
    for event in log:
        live.deliver(event)

    rebuilt = fold_all(sorted(log, key=lambda e: (e.session_id, e.seq)))
    as_of_end = fold_until(log, FAR_FUTURE)

    for view in (rebuilt, as_of_end):
        assert dict(view.sessions) == live.sessions
        assert dict(view.players) == live.players
        assert view.concurrency == live.view().concurrency
    by_player: dict[str, list] = {}
    for state in live.sessions.values():
        by_player.setdefault(state.player_id, []).append(state)
    for player_id, sessions in by_player.items():
        assert live.players.get(player_id) == player_from_sessions(player_id, sessions)
