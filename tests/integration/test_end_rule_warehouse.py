"""The warehouse's session summary ends every session as the fold does (the end rule in SQL),
for any order of arrival, redeliveries and timeout verdicts, on a real chDB."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pytest

from analytics.migrate import migrate
from analytics.replay.history import session_events_of
from analytics.replay.session_timeline import replay_session
from analytics.rows import write_events
from analytics.warehouse import ChdbWarehouse
from projections.fold import LedgerFold
from tests.support.strategies import arrivals, contested_sessions


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    warehouse = ChdbWarehouse(tmp_path_factory.mktemp("end-rule") / "chdb")
    migrate(warehouse)
    yield warehouse
    warehouse.close()


def _summary(warehouse, session_ids):
    rows = warehouse.query(
        "SELECT session_id, status, end_reason, ended_at, play_ended_at FROM session_summary "
        "WHERE has(splitByChar(',', {ids:String}), session_id)", {"ids": ",".join(session_ids)})
    return {r["session_id"]: (r["status"], r["end_reason"], r["ended_at"], r["play_ended_at"])
            for r in rows}


def _as_summarised(state):
    status = state.status.value if state.is_terminal else "open"
    return (status, state.end_reason, state.ended_at, state.play_ended_at)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data(), histories=st.lists(contested_sessions(), min_size=1, max_size=4))
def test_the_session_summary_and_the_replay_end_every_session_as_the_live_fold(history, data, histories):
    log = data.draw(arrivals([e for h in histories for e in h.events]))
    live = LedgerFold()
    for event in log:
        live.deliver(event)
    cut = data.draw(st.integers(0, len(log)))
    for batch in (log[:cut], log[cut:]):  # a redelivered event may land in another insert
        if batch:
            write_events(history, batch)

    summary = _summary(history, live.sessions)

    for session_id, state in live.sessions.items():
        assert summary[session_id] == _as_summarised(state), session_id
        replayed = replay_session(session_id, session_events_of(history, session_id), "history")
        assert replayed.final == state
