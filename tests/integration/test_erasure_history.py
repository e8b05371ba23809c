"""Erasure in the history on real chDB: the player's rows are rewritten, the figures are not."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from analytics.erasure import applied, erase_histories, erase_history, old_parts
from analytics.reports import run_report
from analytics.rows import write_events
from analytics.sql import query_text
from projections.erasure import BadErasure, Erasure, erasure_key
from tests.support.factories import T0, session_event, session_script

PEPPER = "pe\u0301pper\x01".encode("utf-8")
PERSONAL = ("player_id", "party_id", "trace_id", "matchmaking_ticket")


def sessions_of(player_id: str, count: int, start=T0) -> list:
    """``count`` sessions of ``player_id``, each with a party, a trace and a matchmaking ticket."""
    events = []
    for number in range(count):
        script = session_script(player_id=player_id, start=start + timedelta(minutes=10 * number),
                                heartbeats=2, disconnect_and_reconnect=number % 2 == 0,
                                party_id=f"party-of-{player_id}", trace_id=f"trace-of-{player_id}-{number}")
        first = script[0]
        script[0] = session_event("requested", session_id=first.session_id, seq=1,
                                  occurred_at=first.occurred_at, player_id=player_id,
                                  party_id=first.party_id, trace_id=first.trace_id,
                                  matchmaking_ticket=f"ticket-of-{player_id}-{number}")
        events.extend(script)
    return events


def rows_naming(warehouse, player_id: str) -> int:
    """Rows of any table or view holding the player's id, party, trace or ticket in a column."""
    found = 0
    for table in ("session_events", "sessions", "session_summary"):
        columns = [c["name"] for c in warehouse.query("DESCRIBE TABLE {t:Identifier}", {"t": table})]
        for column in columns:
            if column in PERSONAL:
                found += warehouse.query(
                    f"SELECT count() AS n FROM {table} WHERE position(toString({column}), {{id:String}}) > 0",
                    {"id": player_id})[0]["n"]
    return found


def figures(warehouse) -> dict:
    """What the reports say of the whole history: none may move with an erasure."""
    window = {"from_": T0 - timedelta(hours=1), "to": T0 + timedelta(hours=2)}
    summary = warehouse.query(
        "SELECT count() AS sessions, uniqExact(player_id) AS players, countIf(status = 'ended') AS ended "
        "FROM session_summary")[0]
    return {
        "summary": summary,
        "events": warehouse.query("SELECT count() AS n, uniqExact(player_id) AS players "
                                  "FROM session_events FINAL")[0],
        "churn": run_report(warehouse, "churn", from_=T0 - timedelta(hours=1), to=T0 + timedelta(minutes=30)),
        "error_rate": run_report(warehouse, "error_rate", **window),
        "concurrency": run_report(warehouse, "concurrency", **window),
        "minute_rollup": run_report(warehouse, "minute_rollup", **window),
    }


@pytest.mark.parametrize("pepper", [b"", PEPPER])
def test_the_key_computed_in_sql_is_the_registry_key_byte_for_byte(warehouse, pepper):
    ids = ["player-1", "ünïcode-玩家", "with'quote", "x" * 300]
    write_events(warehouse, [session_event("heartbeat", player_id=i) for i in ids])
    params = {"pepper_hex": pepper.hex(), "keys": ",".join(erasure_key(i, pepper) for i in ids)}

    rows = warehouse.query(query_text("erasure", "session_events_rows"), params)

    assert {row["key"]: row["rows"] for row in rows} == {erasure_key(i, pepper): 1 for i in ids}


def test_an_erased_players_rows_are_anonymised_and_every_figure_stays(warehouse):
    write_events(warehouse, sessions_of("alice-7f3", 3) + sessions_of("bob-21c", 2))
    before = figures(warehouse)
    erasure = Erasure.new("alice-7f3", PEPPER)

    receipt = erase_history(warehouse, erasure, pepper=PEPPER, player_id="alice-7f3", instance="chdb:test")

    assert rows_naming(warehouse, "alice-7f3") == 0
    assert rows_naming(warehouse, "bob-21c") > 0
    assert figures(warehouse) == before
    tokened = warehouse.query(
        "SELECT count() AS n, countIf(party_id IS NULL AND trace_id IS NULL AND matchmaking_ticket IS NULL) "
        "AS cleared, uniqExact(session_id) AS sessions FROM session_events WHERE player_id = {t:String}",
        {"t": erasure.token})[0]
    assert tokened == {"n": receipt.removed["session_events"], "cleared": tokened["n"], "sessions": 3}
    assert receipt.layer == "history" and receipt.key == erasure.key
    assert receipt.removed == {"session_events": tokened["n"], "sessions": 3}
    assert receipt.last_copy_by > receipt.done_at
    mutations = " ".join(r["command"] for r in warehouse.query("SELECT command FROM system.mutations"))
    assert erasure.key in mutations and "alice-7f3" not in mutations
    assert applied(warehouse)[erasure.key].removed == receipt.removed


def test_erasing_again_rewrites_nothing(warehouse):
    write_events(warehouse, sessions_of("carol-9", 2))
    erasure = Erasure.new("carol-9")
    first = erase_history(warehouse, erasure)
    mutations = warehouse.query("SELECT count() AS n FROM system.mutations")[0]["n"]

    second = erase_history(warehouse, erasure)

    assert first.removed["session_events"] > 0
    assert second.removed == {"session_events": 0, "sessions": 0} and second.last_copy_by is None
    assert warehouse.query("SELECT count() AS n FROM system.mutations")[0]["n"] == mutations


def test_several_erasures_are_applied_together_each_with_its_token(warehouse):
    write_events(warehouse, sessions_of("dan", 2) + sessions_of("eve", 1) + sessions_of("fay", 1))
    dan, eve, nobody = Erasure.new("dan"), Erasure.new("eve"), Erasure.new("never-played")

    receipts = erase_histories(warehouse, [dan, eve, nobody])

    assert [r.key for r in receipts] == [dan.key, eve.key, nobody.key]
    assert [r.removed["sessions"] for r in receipts] == [2, 1, 0]
    owners = {r["player_id"]: r["n"] for r in warehouse.query(
        "SELECT player_id, count() AS n FROM sessions GROUP BY player_id")}
    assert owners == {dan.token: 2, eve.token: 1, "fay": 1}


def test_a_player_id_that_is_not_the_erasures_is_refused_and_nothing_changes(warehouse):
    write_events(warehouse, sessions_of("gus", 1))
    with pytest.raises(BadErasure):
        erase_history(warehouse, Erasure.new("gus"), player_id="hal")
    assert rows_naming(warehouse, "gus") > 0


def test_the_replaced_parts_go_from_disk_by_last_copy_by_and_no_file_holds_the_id(warehouse):
    # nor the party, trace or ticket: cleared links must not survive beneath a NULL mask
    write_events(warehouse, sessions_of("ivy-0d9e2b", 2))
    receipt = erase_history(warehouse, Erasure.new("ivy-0d9e2b"))
    while old_parts(warehouse) and datetime.now(timezone.utc) < receipt.last_copy_by:
        time.sleep(1)

    assert old_parts(warehouse) == 0
    on_disk = [p for p in warehouse.path.rglob("*") if p.is_file() and b"ivy-0d9e2b" in p.read_bytes()]
    assert on_disk == []
