"""The fast path and the model path fold every history to the same states.

Fast: the log's bytes, decoded a batch at a time by ``schemas.batch.BatchDecoder`` into flat
records, delivered to ``LedgerFold`` (the worker, rebuild and the bench read this way). Model:
the same bytes decoded one at a time by ``schemas.codec.decode`` into ``SessionEvent`` models,
delivered to ``LedgerFold`` (replay, tests and the API's callers). After every delivery the
two folds hold equal sessions, players, concurrency and disconnect windows, and each session
state survives the table's record (``to_bytes``) and the snapshot's (``to_dict``).
"""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from projections.fold import LedgerFold
from projections.session_state import SessionState
from schemas.batch import BatchDecoder
from schemas.codec import decode, encode
from tests.support.strategies import (
    SETTINGS, contested_sessions, deliveries, lawful_sessions, lawless_sessions,
    valid_session_events,
)

DECODER = BatchDecoder()


def both_paths(events) -> tuple[LedgerFold, LedgerFold]:
    """The folds of ``events``' bytes by the fast and the model path, compared delivery by
    delivery, the fast path reading the log in batches of up to 7 messages."""
    log = [encode(event) for event in events]
    fast, model = LedgerFold(), LedgerFold()
    for start in range(0, len(log), 7):
        batch = DECODER.decode(log[start:start + 7])
        assert batch.errors == [] and batch.ops == []
        for record, value in zip(batch.sessions, log[start:start + 7], strict=True):
            fast_step, model_step = fast.deliver(record), model.deliver(decode(value))
            assert fast_step == model_step
    return fast, model


def assert_same_views(fast: LedgerFold, model: LedgerFold) -> None:
    assert fast.view() == model.view()
    assert fast.deliveries == model.deliveries
    for state in fast.sessions.values():
        assert SessionState.from_bytes(state.to_bytes()) == state
        assert SessionState.from_dict(state.to_dict()) == state


def interleaved(sessions):
    """The events of several sessions, one of each in turn."""
    streams = [list(events) for events in sessions]
    out = []
    while any(streams):
        for stream in streams:
            if stream:
                out.append(stream.pop(0))
    return out


@SETTINGS
@given(st.data(), st.lists(st.one_of(lawful_sessions(), lawless_sessions()), min_size=1, max_size=4))
def test_any_delivery_of_lawful_and_lawless_sessions_folds_alike(data, sessions):
    delivered = data.draw(deliveries(interleaved(sessions)))

    assert_same_views(*both_paths(delivered))


@SETTINGS
@given(st.data(), st.lists(contested_sessions(), min_size=1, max_size=3))
def test_contested_sessions_with_verdicts_fold_alike(data, contested):
    delivered = data.draw(deliveries(interleaved(c.events for c in contested)))

    assert_same_views(*both_paths(delivered))


@SETTINGS
@given(st.lists(valid_session_events(), min_size=1, max_size=12))
def test_any_valid_events_fold_alike(events):
    assert_same_views(*both_paths(events))


@SETTINGS
@given(st.data(), valid_session_events(), st.integers(1, 6))
def test_a_held_event_with_every_field_drawn_folds_alike(data, event, count):
    """Events of one session with every field drawn, some held behind gaps."""
    events = [event.model_copy(update={"seq": seq}) for seq in range(1, count + 1)]
    if event.is_derived:
        events = [event]
    delivered = data.draw(deliveries(events))

    assert_same_views(*both_paths(delivered))
