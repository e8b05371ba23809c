"""Erasure in the history on real chDB: the player's rows are rewritten, the figures are not."""
from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from analytics.erasure import applied, erase_histories, erase_history, old_parts
from analytics.rows import write_events
from analytics.sql import query_text
from projections.erasure import BadErasure, Erasure, erasure_key
from tests.support.erasure import figures, rows_naming, sessions_of
from tests.support.factories import session_event

PEPPER = "pe\u0301pper\x01".encode("utf-8")


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
