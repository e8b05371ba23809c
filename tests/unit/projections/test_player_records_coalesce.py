"""Coalescing a run's session changes into fewer player updates changes no player.

The worker folds a run of deliveries, then sends each session's changes as the fewest player
updates ``coalesce`` allows. Whatever the runs, the delivery order, the duplicates or the
anomalies, the player must come out as it does when every change is applied one by one.
"""
from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from projections.player_records import PlayerRecord, changes_player, coalesce, player_update
from projections.player_state import apply_player
from projections.session_state import step
from tests.support.factories import session_script
from tests.support.strategies import SETTINGS, deliveries, lawful_sessions, lawless_sessions


def erratic_sessions():
    """One session of arbitrary event types whose events disagree on the platform and come
    with clocks running backwards as well as forwards."""
    return lawless_sessions(platforms=("pc", "xbox"))


def one_player(scripts):
    """The scripts' events, all made to belong to one player."""
    return [e.model_copy(update={"player_id": "ada"}) for script in scripts for e in script]


def player_one_change_at_a_time(stream):
    states, player = {}, None
    for event in stream:
        result = step(states.get(event.session_id), event)
        states[event.session_id] = result.after
        if result.applied and changes_player(result.before, result.after):
            player = apply_player(player, result.before, result.after)
    return player


def player_through_coalesced_updates(stream, cuts):
    """As the worker: per run, each session's changes coalesced, sent as updates (through
    their JSON form) and applied by a player record."""
    states, record = {}, PlayerRecord(None, {})
    bounds = [0, *sorted(cuts), len(stream)]
    for start, end in zip(bounds, bounds[1:]):
        changes: dict[str, list] = {}
        for event in stream[start:end]:
            result = step(states.get(event.session_id), event)
            states[event.session_id] = result.after
            if result.applied and changes_player(result.before, result.after):
                changes.setdefault(event.session_id, []).append((result.before, result.after))
        for session_changes in changes.values():
            for before, after in coalesce(session_changes):
                record.apply(orjson.loads(orjson.dumps(player_update(before, after))))
    return record.player


@SETTINGS
@given(
    st.data(),
    st.lists(lawful_sessions(), min_size=1, max_size=4),
    st.lists(erratic_sessions(), max_size=2),
)
def test_any_runs_of_any_deliveries_give_the_player_of_one_change_at_a_time(data, lawful, erratic):
    stream = data.draw(deliveries(one_player(lawful + erratic)))
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=6))

    assert player_through_coalesced_updates(stream, cuts) == player_one_change_at_a_time(stream)


def test_a_session_begun_and_finished_in_one_run_is_one_update():
    stream = one_player([session_script("00000000-0000-4000-8000-000000000001", end="normal")])
    states, changes = {}, []
    for event in stream:
        result = step(states.get(event.session_id), event)
        states[event.session_id] = result.after
        if result.applied and changes_player(result.before, result.after):
            changes.append((result.before, result.after))

    merged = coalesce(changes)

    assert len(changes) > 2 and len(merged) == 1
    assert merged[0][0] is None and merged[0][1].is_terminal
