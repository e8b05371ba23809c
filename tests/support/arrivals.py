"""Sessions whose end is contested: a producer's lifecycle, the ledger's timeout verdicts decided
on what the worker had seen so far, and any order of arrival with redeliveries.

    history = draw(contested_sessions())      # ContestedSession(producer_events, verdicts)
    delivered = draw(arrivals(history.events))
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from hypothesis import strategies as st

from projections.fold import fold_session
from projections.session_state import is_timed_out, timeout_event
from schemas.models import SessionEvent
from tests.factories import T0, session_script

FAR_FUTURE = T0 + timedelta(days=365)
"""A wall clock late enough for any verdict to be due."""

END_REASONS = [None, "normal", "quit", "kicked", "error", "server_crash", "server_shutdown",
               "maintenance"]


@dataclass(frozen=True)
class ContestedSession:
    producer_events: tuple[SessionEvent, ...]
    verdicts: tuple[SessionEvent, ...]

    @property
    def events(self) -> list[SessionEvent]:
        return [*self.producer_events, *self.verdicts]


@st.composite
def contested_sessions(draw, player_ids=("ada", "bob", "cy")) -> ContestedSession:
    """A lawful session (it may end, or not) and zero to two timeout verdicts, each decided by a
    worker that had folded only a prefix of the producer events (a late ``ended`` is the case
    that matters), with the heartbeat or the reservation timeout."""
    producer = session_script(
        player_id=draw(st.sampled_from(player_ids)),
        start=T0 + timedelta(minutes=draw(st.integers(0, 30))),
        heartbeats=draw(st.integers(0, 3)),
        heartbeat_every=timedelta(seconds=draw(st.integers(5, 40))),
        disconnect_and_reconnect=draw(st.booleans()),
        end=draw(st.sampled_from(END_REASONS)),
        region=draw(st.sampled_from(["eu-west", "us-east"])),
        platform=draw(st.sampled_from(["pc", "playstation"])),
    )
    verdicts = []
    for _ in range(draw(st.integers(0, 2))):
        seen = producer[:draw(st.integers(1, len(producer)))]
        state = fold_session(seen)
        timeout_s = draw(st.sampled_from([10, 30, 60]))
        reservation_s = draw(st.sampled_from([None, 20, 60]))
        if is_timed_out(state, FAR_FUTURE, timeout_s, reservation_s):
            verdicts.append(timeout_event(state, FAR_FUTURE, timeout_s, reservation_s))
    return ContestedSession(tuple(producer), tuple(verdicts))


@st.composite
def arrivals(draw, events: list[SessionEvent]) -> list[SessionEvent]:
    """``events`` in any order, some delivered more than once at any point."""
    delivered = list(draw(st.permutations(events)))
    repeats = draw(st.lists(st.tuples(st.sampled_from(events), st.integers(0, len(events))),
                            max_size=len(events)))
    for event, position in repeats:
        delivered.insert(min(position, len(delivered)), event)
    return delivered
