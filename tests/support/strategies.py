"""Hypothesis strategies for sessions and their deliveries, shared by the property tests.

- ``lawful_sessions``: one session as a game would report it (the factory's script);
- ``lawless_sessions``: event types in any order, anomalies included;
- ``contested_sessions``: a lawful session plus the ledger's timeout verdicts decided on what a
  worker had seen so far (the end rule's cases);
- ``deliveries``: any order of arrival, with redeliveries at any point.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from projections.fold import fold_session
from projections.session_state import is_timed_out, timeout_event
from schemas.models import SessionEvent, SessionEventType
from tests.support.factories import T0, session_event, session_script

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow],
)

ENDS = [None, "normal", "quit", "kicked", "error", "server_crash", "timed_out"]


@st.composite
def lawful_sessions(draw, player_ids=("ada", "bob", "cy")):
    """One session as a game would report it, via the factory's script."""
    return session_script(
        player_id=draw(st.sampled_from(player_ids)),
        start=T0 + timedelta(minutes=draw(st.integers(0, 30))),
        heartbeats=draw(st.integers(0, 4)),
        disconnect_and_reconnect=draw(st.booleans()),
        migrate=draw(st.booleans()),
        end=draw(st.sampled_from(ENDS)),
        region=draw(st.sampled_from(["eu-west", "us-east"])),
        platform=draw(st.sampled_from(["pc", "playstation", "ios"])),
        cross_play=draw(st.booleans()),
    )


@st.composite
def lawless_sessions(draw, platforms=None):
    """One session whose event types are arbitrary: anomalies included. With ``platforms``,
    each event says it came from one of them, so a session's events may disagree."""
    session_id = str(uuid.uuid4())
    kinds = draw(st.lists(st.sampled_from(list(SessionEventType)), min_size=1, max_size=12))
    events, seq = [], 0
    for kind in kinds:
        derived = kind is SessionEventType.timed_out  # the ledger's verdict: seq 0
        seq += 0 if derived else 1
        events.append(session_event(
            kind, session_id=session_id, seq=0 if derived else seq,
            occurred_at=T0 + timedelta(seconds=draw(st.integers(0, 600))),
            region=draw(st.sampled_from(["eu-west", "us-east"])),
            **({} if platforms is None else {"platform": draw(st.sampled_from(platforms))}),
        ))
    return events


@st.composite
def deliveries(draw, events):
    """``events`` in any order, with some delivered more than once at any point."""
    shuffled = draw(st.permutations(events))
    repeats = draw(st.lists(
        st.tuples(st.sampled_from(events), st.integers(0, len(events))), max_size=len(events),
    ))
    delivered = list(shuffled)
    for event, position in repeats:
        delivered.insert(min(position, len(delivered)), event)
    return delivered


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


arrivals = deliveries
"""The same strategy under the name the end-rule tests read best with."""
