"""Erasure through the history sink, on the real broker and real chDB: once a player is erased,
no row anywhere holds who they were, every figure stays, and no replay brings them back."""
from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from analytics.migrate import migrate
from analytics.warehouse import ChdbWarehouse
from projections.erasure import Erasure
from streams.emit.emitter import SessionEmitter
from streams.kafka.erasures import read_registry, record_erasure
from streams.settings import load_settings
from streams.sink.consumer import HistorySink, run_sink
from streams.sink.erasure import HistoryEraser, history_instance
from tests.support.erasure import figures, rows_naming, sessions_of
from tests.support.factories import T0
from tests.support.history import committed, drain, end_offsets, unique

pytestmark = pytest.mark.kafka

ALICE, BOB = "alice-5e1f0c", "bob-77a2d4"


@pytest.fixture
def settings(test_settings):
    """The test's topics, its own erasure registry and a pepper."""
    return load_settings(**{**test_settings.model_dump(), "erasure_topic": unique("erasures"),
                            "erasure_pepper": "a pepper of the deployment"})


def emit(settings, events) -> None:
    """Through the real emitter, as a game server would."""
    with SessionEmitter.from_settings(settings, producer="gameserver") as emitter:
        for event in events:
            emitter.emit(event)
        emitter.flush()


def sink_of(settings, warehouse, group: str) -> tuple[HistorySink, HistoryEraser]:
    """A history sink as ``run_sink`` makes one: the registry read before its first insert."""
    eraser = HistoryEraser(settings, warehouse)
    eraser.start()
    sink = HistorySink.from_settings(settings, warehouse, eraser=eraser, group_id=group,
                                     batch_max_events=200, batch_max_wait_s=0.3,
                                     dead_letters=lambda message, error: None)
    return sink, eraser


def poll_until(sink, done, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, f"not done in {timeout_s}s: {sink.stats.as_dict()}"
        sink.poll_once(0.2)


def history_receipts(settings, key: str) -> list:
    _, receipts = read_registry(settings)
    return [r for r in receipts if r.key == key and r.layer == "history"]


def test_an_erased_player_leaves_the_history_and_never_comes_back(settings, warehouse, tmp_path):
    history = sessions_of(ALICE, 3) + sessions_of(BOB, 2)
    emit(settings, history)
    sink, eraser = sink_of(settings, warehouse, unique("sink"))
    drain(sink, rows=len(history))
    before = figures(warehouse)
    assert rows_naming(warehouse, ALICE) > 0

    # When Alice is erased, the sink learns it from the registry and rewrites her rows.
    erasure = record_erasure(settings, Erasure.new(ALICE, settings.pepper))
    poll_until(sink, lambda: eraser.receipts)

    assert rows_naming(warehouse, ALICE) == 0
    assert rows_naming(warehouse, BOB) > 0
    assert figures(warehouse) == before
    (receipt,) = history_receipts(settings, erasure.key)
    assert receipt.instance == history_instance(settings)
    assert receipt.removed == {"session_events": sum(e.player_id == ALICE for e in history), "sessions": 3}
    assert receipt.last_copy_by > receipt.done_at

    # Alice plays again (the game knows her by her id): her new events land anonymised.
    later = sessions_of(ALICE, 1, start=T0 + timedelta(hours=1))
    emit(settings, later)
    drain(sink, rows=len(history) + len(later))
    assert sink.stats.anonymised_rows == len(later)
    assert rows_naming(warehouse, ALICE) == 0
    tokened = warehouse.query("SELECT uniqExact(session_id) AS n FROM session_events "
                              "WHERE player_id = {t:String}", {"t": erasure.token})[0]["n"]
    assert tokened == 4
    counted = figures(warehouse)["summary"]
    sink.close()
    eraser.stop()
    warehouse.close()

    # The warehouse is rebuilt from the whole topic by a sink reading it from the start.
    with ChdbWarehouse(tmp_path / "rebuilt") as rebuilt:
        migrate(rebuilt)
        replay, replay_eraser = sink_of(settings, rebuilt, unique("rebuild"))
        try:
            drain(replay, rows=len(history) + len(later))
            replay.poll_once(0.2)  # the start's check of the erasure: nothing left to rewrite
        finally:
            replay.close()
            replay_eraser.stop()
        assert rows_naming(rebuilt, ALICE) == 0
        assert figures(rebuilt)["summary"] == counted
        assert replay.stats.anonymised_rows == len(history) + len(later) - sum(e.player_id == BOB for e in history)
    assert len(history_receipts(settings, erasure.key)) == 1  # the rebuild's "nothing" kept the count


def test_a_sink_that_was_down_when_the_erasure_came_applies_it_on_start_and_only_once(settings, warehouse):
    history = sessions_of(ALICE, 2) + sessions_of(BOB, 1)
    emit(settings, history)
    sink, eraser = sink_of(settings, warehouse, group := unique("sink"))
    drain(sink, rows=len(history))
    sink.close()
    eraser.stop()

    erasure = record_erasure(settings, Erasure.new(ALICE, settings.pepper))
    restarted, restarted_eraser = sink_of(settings, warehouse, group)
    restarted.poll_once(0.2)
    restarted.close()
    restarted_eraser.stop()

    assert rows_naming(warehouse, ALICE) == 0
    assert [r.removed["sessions"] for r in history_receipts(settings, erasure.key)] == [2]
    mutations = warehouse.query("SELECT count() AS n FROM system.mutations")[0]["n"]

    again, again_eraser = sink_of(settings, warehouse, group)
    again.poll_once(0.2)
    again.close()
    again_eraser.stop()
    assert warehouse.query("SELECT count() AS n FROM system.mutations")[0]["n"] == mutations
    assert len(history_receipts(settings, erasure.key)) == 1



def test_run_sink_knows_the_erasures_before_its_first_insert_and_applies_new_ones(settings):
    """The sink as ``ledger sink`` and ``ledger worker --with-sink`` run it (run_sink)."""
    history = sessions_of(ALICE, 2) + sessions_of(BOB, 2)
    alice = record_erasure(settings, Erasure.new(ALICE, settings.pepper))
    emit(settings, history)
    stop = threading.Event()
    group = unique("run-sink")
    runner = threading.Thread(target=run_sink, args=(settings,), daemon=True,
                              kwargs={"stop": stop, "group_id": group, "batch_max_wait_s": 0.3})
    runner.start()
    try:
        deadline = time.monotonic() + 60
        while committed(settings, group) != end_offsets(settings):
            assert time.monotonic() < deadline and runner.is_alive(), "the sink did not take the history"
            time.sleep(0.3)
        bob = record_erasure(settings, Erasure.new(BOB, settings.pepper))
        while not history_receipts(settings, bob.key):
            assert time.monotonic() < deadline + 60 and runner.is_alive(), "no receipt for the new erasure"
            time.sleep(0.5)
    finally:
        stop.set()
        runner.join(timeout=30)

    with ChdbWarehouse(settings.chdb_path) as warehouse:
        assert rows_naming(warehouse, ALICE) == 0 and rows_naming(warehouse, BOB) == 0
        owners = {r["player_id"]: r["n"] for r in warehouse.query(
            "SELECT player_id, count() AS n FROM session_summary GROUP BY player_id")}
    assert owners == {alice.token: 2, bob.token: 2}
    (receipt,) = history_receipts(settings, bob.key)
    assert receipt.removed == {"session_events": sum(e.player_id == BOB for e in history), "sessions": 2}
    (before,) = history_receipts(settings, alice.key)  # nothing of Alice's was ever written
    assert before.removed == {"session_events": 0, "sessions": 0} and before.last_copy_by is None


def test_two_sinks_of_one_warehouse_apply_an_erasure_once(settings, warehouse):
    """As two sinks of one group writing one ClickHouse server do: each learns every erasure."""
    history = sessions_of(ALICE, 2)
    emit(settings, history)
    first, first_eraser = sink_of(settings, warehouse, unique("sinks"))
    drain(first, rows=len(history))
    second_eraser = HistoryEraser(settings, warehouse)
    second_eraser.start()
    try:
        erasure = record_erasure(settings, Erasure.new(ALICE, settings.pepper))
        poll_until(first, lambda: first_eraser.receipts)
        deadline = time.monotonic() + 30
        while not second_eraser.erased.get(erasure.key):
            assert time.monotonic() < deadline, "the second sink never learnt the erasure"
            time.sleep(0.2)
        assert second_eraser.run_due() == 0
    finally:
        first.close()
        first_eraser.stop()
        second_eraser.stop()

    assert [r.removed["sessions"] for r in history_receipts(settings, erasure.key)] == [2]
    assert rows_naming(warehouse, ALICE) == 0
