"""Laws of the folds, over generated sessions and delivery orders.

- delivery order does not matter: any permutation of a session's events, with any
  duplicates, folds to the state of the in-order fold (for lawful and lawless sequences);
- a duplicate changes nothing;
- the same set of events delivered in two orders gives equal states even mid-stream
  (with events still held behind gaps);
- players and concurrency, kept incrementally, equal what the session states say after every
  delivery of an interleaved multi-session stream.
"""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from projections.concurrency import Concurrency
from projections.disconnect_spikes import count_disconnects
from projections.fold import LedgerFold, fold_all, fold_session, session_timeline
from projections.player_state import player_from_sessions
from projections.session_state import SessionState, apply
from tests.support.strategies import SETTINGS, deliveries, lawful_sessions, lawless_sessions

def any_session():
    return st.one_of(lawful_sessions(), lawless_sessions())


@SETTINGS
@given(st.data(), any_session())
def test_any_delivery_order_with_duplicates_folds_to_the_in_order_state(data, events):
    delivered = data.draw(deliveries(events))

    assert fold_session(delivered) == fold_session(events)


@SETTINGS
@given(any_session())
def test_delivering_any_event_again_changes_nothing(events):
    state = fold_session(events)

    for event in events:
        assert apply(state, event) is state


@SETTINGS
@given(st.data(), any_session())
def test_the_same_events_in_two_orders_agree_even_while_some_are_held(data, events):
    subset = data.draw(st.lists(st.sampled_from(events), min_size=1, unique_by=lambda e: e.event_id))
    one_order = data.draw(st.permutations(subset))
    another = data.draw(st.permutations(subset))

    assert fold_session(one_order) == fold_session(another)


@SETTINGS
@given(st.data(), any_session())
def test_any_state_on_the_way_survives_a_json_round_trip(data, events):
    delivered = data.draw(deliveries(events))
    cut = data.draw(st.integers(1, len(delivered)))
    state = fold_session(delivered[:cut])

    assert SessionState.from_dict(json.loads(json.dumps(state.to_dict()))) == state


@SETTINGS
@given(
    st.data(),
    st.lists(lawful_sessions(), min_size=1, max_size=5),
    st.lists(lawless_sessions(), max_size=2),
)
def test_an_interleaved_stream_agrees_with_each_session_folded_alone(data, lawful, lawless):
    scripts = lawful + lawless
    stream = data.draw(deliveries([e for script in scripts for e in script]))

    ledger = LedgerFold()
    for event in stream:
        ledger.deliver(event)
        _assert_aggregates_match_sessions(ledger)

    view = ledger.view()
    assert view.sessions == {s[0].session_id: fold_session(s) for s in scripts}
    in_order = fold_all(e for script in scripts for e in script)
    assert view.players == in_order.players
    assert view.concurrency == in_order.concurrency
    accepted = [e for script in scripts for s in session_timeline(script) for e in s.accepted]
    assert view.disconnects == count_disconnects(accepted)


def _assert_aggregates_match_sessions(ledger: LedgerFold) -> None:
    sessions = list(ledger.sessions.values())
    assert Concurrency.from_counts(ledger.counts) == Concurrency.from_sessions(sessions)
    by_player: dict[str, list[SessionState]] = {}
    for state in sessions:
        by_player.setdefault(state.player_id, []).append(state)
    expected = {
        player_id: player
        for player_id, states in by_player.items()
        if (player := player_from_sessions(player_id, states)) is not None
    }
    assert ledger.players == expected

