"""The ledger as of an instant, from the warehouse: equal to the live fold of that prefix at every
instant where the end rule, a gap or an anomaly changes the answer."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.migrate import migrate
from analytics.replay import LedgerAsOf, counts_as_of, ledger_as_of
from analytics.replay.heartbeat_ttl import NEVER
from analytics.replay.history import sql
from analytics.rows import write_events
from analytics.warehouse import ChdbWarehouse
from projections import fold_until
from tests.support.factories import T0, session_event, session_script
from tests.support.strategies import arrivals, contested_sessions, lawless_sessions

MS = timedelta(milliseconds=1)


def _then(events, event_type, after, seq, **fields):
    """One more event of the session of ``events``, ``after`` its last one."""
    last = events[-1]
    return session_event(event_type, session_id=last.session_id, player_id=last.player_id, seq=seq,
                         occurred_at=max(e.occurred_at for e in events) + after, **fields)


def _verdict(events, after, last_heartbeat_at):
    return _then(events, "timed_out", after, 0, producer="ledger-worker",
                 last_heartbeat_at=last_heartbeat_at, timeout_s=30)


def tricky_sessions():
    """Sessions whose state as of some instant turns on the end rule, a gap or an anomaly, beside
    plain ones. Returns (name, events) pairs."""
    stories = []

    overruled = session_script(player_id="p-overruled", heartbeats=2)
    overruled.append(_verdict(overruled, timedelta(seconds=5), overruled[-2].occurred_at))
    stories.append(("verdict overruled by an earlier ended", overruled))

    late = session_script(player_id="p-late", heartbeats=2, end="timed_out")
    late.append(_then(late, "ended", timedelta(seconds=20), 5, reason="quit"))
    stories.append(("ended after the verdict: a late end", late))

    twice = session_script(player_id="p-twice", heartbeats=1, end="timed_out")
    twice.append(_verdict(twice, timedelta(seconds=3), twice[-2].occurred_at - timedelta(seconds=1)))
    stories.append(("two verdicts: the earliest counts", twice))

    reserved = session_script(player_id="p-reserved", heartbeats=0, end=None)[:1]
    reserved.append(_verdict(reserved, timedelta(seconds=60), reserved[0].occurred_at))
    stories.append(("requested, never started: a reservation timeout", reserved))

    gap = session_script(player_id="p-gap", heartbeats=4, end=None)
    stories.append(("seq 3 never arrives: later events held", [e for e in gap if e.seq != 3]))

    skew = session_script(player_id="p-skew", heartbeats=3, end="normal")
    skewed = [e.model_copy(update={"occurred_at": skew[4].occurred_at + timedelta(seconds=1)})
              if e.seq == 3 else e for e in skew]
    stories.append(("seq 3 occurred after seq 4: held behind it in between", skewed))

    again = session_script(player_id="p-again", heartbeats=3)
    again.append(again[2].model_copy(update={"event_id": str(uuid.uuid4())}))
    stories.append(("seq 3 sent twice under two event ids", again))

    illegal = session_script(player_id="p-illegal", heartbeats=2)
    illegal.insert(2, _then(illegal[:2], "started", timedelta(seconds=1), 3))
    illegal = [e.model_copy(update={"seq": i}) for i, e in enumerate(illegal, 1)]
    illegal.append(_then(illegal, "heartbeat", timedelta(seconds=5), len(illegal) + 1))
    stories.append(("started twice, a heartbeat after the end", illegal))

    moved = session_script(player_id="p-moved", heartbeats=1, end=None, migrate=True)
    stories.append(("migrated as the session's server said", moved))
    wrong = session_script(player_id="p-wrong", heartbeats=1, end=None)
    wrong.append(_then(wrong, "migrated", timedelta(seconds=1), len(wrong) + 1,
                       from_server_id="gs-elsewhere", to_server_id="gs-eu-9"))
    stories.append(("migrated from a server the session was not on", wrong))

    dropped = session_script(player_id="p-two", heartbeats=2, end=None, disconnect_and_reconnect=True,
                             region="us-east", platform="xbox")
    stories.append(("still open, dropped and back", dropped))
    out = session_script(player_id="p-two", heartbeats=1, end=None, start=T0 + timedelta(seconds=40),
                         region="us-east", platform="ios", party_id="party-1")
    out.append(_then(out, "disconnected", timedelta(seconds=2), len(out) + 1, reason="idle"))
    stories.append(("the same player's second session, disconnected", out))
    return stories


@pytest.fixture
def history(warehouse):
    stories = tricky_sessions()
    events = [e for _, story in stories for e in story]
    write_events(warehouse, events)
    return warehouse, stories, events


def instants(events):
    """Every instant an event occurred at, the millisecond before it, and one after the last."""
    times = sorted({e.occurred_at for e in events})
    return sorted({*times, *(t - MS for t in times), times[-1] + timedelta(minutes=5)})


def test_the_ledger_as_of_every_instant_equals_the_live_fold_of_that_prefix(history):
    warehouse, _, events = history
    live_log = sorted(events, key=lambda e: (e.occurred_at, e.session_id, e.seq))

    for at in instants(events):
        live = fold_until(live_log, at)

        replayed = ledger_as_of(warehouse, at, chunk=3)

        assert dict(replayed.view.sessions) == dict(live.sessions), at
        assert dict(replayed.view.players) == dict(live.players), at
        assert replayed.view.concurrency == live.concurrency, at
        assert dict(replayed.view.disconnects) == dict(live.disconnects), at
        assert replayed.events_folded == sum(1 for e in events if e.occurred_at <= at)


def test_the_counted_summary_equals_the_summary_of_the_live_fold(history):
    warehouse, _, events = history
    live_log = sorted(events, key=lambda e: (e.occurred_at, e.session_id, e.seq))

    for at in instants(events):
        live = LedgerAsOf(at, fold_until(live_log, at), sum(1 for e in events if e.occurred_at <= at))

        assert counts_as_of(warehouse, at).summary() == live.summary(), at


def test_the_warehouse_settles_plain_sessions_and_leaves_the_tricky_ones_to_the_fold(history):
    warehouse, stories, events = history
    at = max(e.occurred_at for e in events)
    table = warehouse.query_table(sql("sessions_as_of"), {
        "until": at + MS, "region": "", "from_session": "", "to_session": "", "heartbeats_before": NEVER})
    settled = dict(zip(table["session_id"].to_pylist(), table["settled"].to_pylist()))

    by_name = {name: settled[story[0].session_id] for name, story in stories}

    assert {name for name, flag in by_name.items() if flag} == {
        "verdict overruled by an earlier ended", "ended after the verdict: a late end",
        "two verdicts: the earliest counts", "requested, never started: a reservation timeout",
        "seq 3 occurred after seq 4: held behind it in between",
        "migrated as the session's server said", "still open, dropped and back",
        "the same player's second session, disconnected"}


def test_a_region_as_of_an_instant_counts_only_that_region(history):
    warehouse, _, events = history
    at = max(e.occurred_at for e in events)
    live = fold_until(sorted((e for e in events if e.region == "us-east"),
                             key=lambda e: (e.occurred_at, e.session_id, e.seq)), at)

    replayed = ledger_as_of(warehouse, at, region="us-east")

    assert dict(replayed.view.sessions) == dict(live.sessions)
    assert counts_as_of(warehouse, at, region="us-east").summary()["live"] == 2


@pytest.fixture(scope="module")
def shared_history(tmp_path_factory):
    warehouse = ChdbWarehouse(tmp_path_factory.mktemp("as-of") / "chdb")
    migrate(warehouse)
    yield warehouse
    warehouse.close()


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data(),
       contested=st.lists(contested_sessions(), max_size=3),
       lawless=st.lists(lawless_sessions(), max_size=2))
def test_any_history_as_of_any_instant_equals_the_live_fold(shared_history, data, contested, lawless):
    """Contested ends, anomalies, gaps, skew and redeliveries in any order of arrival. (Events of
    one session that name different platforms are left out: the player fold's platforms then
    depend on the order of delivery, live as well.)"""
    events = [e for c in contested for e in c.events] + [e for story in lawless for e in story]
    if not events:
        return
    log = data.draw(arrivals(events))
    at = data.draw(st.sampled_from(instants(events)))
    shared_history.execute("TRUNCATE TABLE session_events", name="empty the history")
    cut = data.draw(st.integers(0, len(log)))
    for batch in (log[:cut], log[cut:]):  # a redelivered event may land in another insert
        if batch:
            write_events(shared_history, batch)
    live = fold_until(log, at)

    replayed = ledger_as_of(shared_history, at, chunk=2)

    assert dict(replayed.view.sessions) == dict(live.sessions)
    assert dict(replayed.view.players) == dict(live.players)
    assert replayed.view.concurrency == live.concurrency
    assert dict(replayed.view.disconnects) == dict(live.disconnects)
    expected = LedgerAsOf(at, live, replayed.events_folded).summary()
    assert counts_as_of(shared_history, at).summary() == expected
