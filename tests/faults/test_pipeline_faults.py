"""The whole pipeline under faults: emitter -> broker -> `ledger worker` + `ledger sink`, all real.

Each story crashes something while events flow, then checks three things against what was
emitted: the history holds each event exactly once (no loss, no duplicate row), the worker
serves what a fresh fold of the whole log gives, and the dead-letter topic holds the poison
messages and nothing else. Each prints its figures and keeps them as JSON in its tmp dir.

The warehouse outage is real: chDB lets one process hold a data directory, so while the test
process holds the sink's directory the sink cannot open its warehouse at all
(``Cannot lock file .../status``) and waits, retrying with backoff, as it would for a
ClickHouse server that is down; Kafka keeps the events meanwhile.
"""
from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest

from analytics.warehouse import ChdbWarehouse
from ledger.child import wait_until
from ledger.stack import free_port
from projections.fold import fold_all
from schemas.codec import encode
from streams.emit.emitter import SessionEmitter
from streams.fold.rebuild import rebuild_projections
from streams.fold.render import session_document
from tests.support.pipeline import (
    Sink,
    Worker,
    committed,
    dead_letter_figures,
    history_figures,
    interleave,
    poison_messages,
    produce_raw,
    projection_mismatches,
    raw_producer,
    report,
    sessions,
    shuffled_within_sessions,
    sink_caught_up,
)

pytestmark = [pytest.mark.kafka, pytest.mark.faults]

RATE = 150  # events/s: slow enough for faults to land mid-stream, on two shared cores


class Traffic(threading.Thread):
    """Sends a planned list of items at a steady rate; ``sent`` says how far it got."""

    def __init__(self, items: list, send, per_second: float = RATE) -> None:
        super().__init__(daemon=True)
        self.items, self.send, self.per_second = items, send, per_second
        self.sent = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        start = time.monotonic()
        try:
            for item in self.items:
                self.send(item)
                self.sent += 1
                time.sleep(max(0.0, start + self.sent / self.per_second - time.monotonic()))
        except BaseException as error:  # surfaced by finish()
            self.error = error

    def reached(self, share: float) -> bool:
        return self.sent >= len(self.items) * share

    def finish(self, timeout_s: float = 120.0) -> None:
        self.join(timeout_s)
        assert not self.is_alive(), f"traffic stuck after {self.sent} of {len(self.items)} items"
        if self.error is not None:
            raise self.error


def emitter_for(settings, home: Path) -> SessionEmitter:
    return SessionEmitter.from_settings(
        settings, producer="gameserver", spool_dir=home / "spool", buffer_memory=256 * 1024,
        max_block_s=1.0, request_timeout_ms=3000, delivery_timeout_ms=8000)


def router(emitter, producer, topic):
    """Items are ("emit", event) through the emitter, or ("raw", key, bytes) as they are."""

    def send(item) -> None:
        if item[0] == "emit":
            emitter.emit(item[1])
        else:
            producer.send(topic, key=item[1], value=item[2])

    return send


def with_poison(items: list, poison, *, seed: int) -> list:
    """``items`` with each poison message produced raw at a random place among them."""
    rng = random.Random(seed)
    mixed = list(items)
    for bad in poison:
        mixed.insert(rng.randrange(len(mixed) + 1), ("raw", b"poison", bad.value))
    return mixed


def check_everything(settings, worker: Worker, sink: Sink, emitted, poison, figures: dict) -> None:
    """Wait for the worker and the sink to catch up, stop the sink, then compare all three outputs."""
    started = time.monotonic()
    rebuilt = rebuild_projections(settings, timeout_s=120).to_dict()
    expected = {sid: session_document(s) for sid, s in fold_all(emitted).sessions.items()}
    assert rebuilt["sessions"] == expected, "the log folds to other sessions than the events emitted"
    mismatched = projection_mismatches(worker, rebuilt)
    figures["worker_caught_up_s"] = round(time.monotonic() - started, 1)
    wait_until(lambda: sink_caught_up(settings), 120, "the sink committing the end of every partition")
    figures["sink_caught_up_s"] = round(time.monotonic() - started, 1)
    assert sink.stop() == 0, f"the sink did not stop cleanly:\n{sink.log_tail()}"

    history = history_figures(settings, {e.event_id for e in emitted})
    letters = dead_letter_figures(settings, poison)
    figures.update(
        events_emitted=len(emitted), sessions=len(rebuilt["sessions"]), players=len(rebuilt["players"]),
        log_messages=rebuilt["messages"], unreadable_in_log=rebuilt["unreadable"],
        lost=history["lost"], duplicate_rows=history["duplicate_rows"], history=history,
        poison=len(poison), dead_letters=letters.letters, dead_letters_by_writer=letters.by_writer,
        dead_letters_repeated=letters.repeated, projections_mismatched=len(mismatched),
    )
    assert not mismatched, (
        f"the worker serves {len(mismatched)} keys unlike the rebuild; the first (key, rebuilt, served): "
        f"{mismatched[0]}\nthe worker's log ends with:\n{worker.log_tail(80)}")
    assert history["rows"] == history["distinct_event_ids"] == len(emitted), history
    assert history["lost"] == history["unexpected"] == 0, history
    assert rebuilt["unreadable"] == len(poison)
    assert letters.problems == [], letters.problems


def test_a_broker_crash_mid_stream_loses_nothing_and_only_the_poison_is_dead_lettered(
        kafka_broker, test_settings, tmp_path):
    settings = test_settings
    events = interleave(sessions(220, seed=1), seed=1)
    third = len(events) // 3
    before, during, after = events[:third], events[third:2 * third], events[2 * third:]
    poison = poison_messages(len(events) // 100, seed=1)  # 1%, produced while the broker is up
    half = len(poison) // 2
    worker, sink = Worker(settings, free_port(), tmp_path), Sink(settings, tmp_path)
    emitter, producer = emitter_for(settings, tmp_path), raw_producer(settings)
    send = router(emitter, producer, settings.session_topic)
    figures: dict = {}
    try:
        sink.start()
        worker.start().seconds_to_ready()

        Traffic(with_poison([("emit", e) for e in before], poison[:half], seed=2), send).run()
        producer.flush(timeout=30)
        traffic = Traffic([("emit", e) for e in during], send, per_second=RATE / 2)
        traffic.start()
        wait_until(lambda: traffic.reached(0.1), 30, "the emitter sending")
        kafka_broker.kill()
        killed = time.monotonic()
        time.sleep(4)
        kafka_broker.start()
        restarted = time.monotonic()
        figures["broker_down_s"] = round(restarted - killed, 1)
        figures["emitted_by_broker_restart"] = traffic.sent
        traffic.finish()
        figures["spooled"] = emitter.stats.spooled
        Traffic(with_poison([("emit", e) for e in after], poison[half:], seed=3), send).run()
        emitter.flush(timeout=120)
        producer.flush(timeout=60)
        figures["emitter_drained_after_restart_s"] = round(time.monotonic() - restarted, 1)

        check_everything(settings, worker, sink, events, poison, figures)
        figures["recovery_s"] = round(time.monotonic() - restarted, 1)
    finally:
        report(tmp_path, "broker_crash", figures)
        emitter.close()
        producer.close()
        worker.kill()
        sink.stop()  # leaves the consumer group, so the next story's sink joins at once
    assert figures["spooled"] > 0, "the broker crash did not send a single event through the spool"


def test_worker_and_sink_crashes_a_warehouse_outage_duplicates_and_shuffled_sessions_change_nothing(
        test_settings, tmp_path):
    settings = test_settings
    rng = random.Random(4)
    scripts = sessions(200, seed=4)
    in_order, shuffled = interleave(scripts[:140], seed=5), shuffled_within_sessions(scripts[140:], seed=6)
    items = merged([("emit", e) for e in in_order], [raw(e) for e in shuffled], rng)
    emitted = in_order + shuffled
    again = rng.sample(emitted, len(emitted) // 50)  # 2% delivered twice, the very same bytes
    where = {item[-1].event_id: n for n, item in enumerate(items)}
    for event in sorted(again, key=lambda e: where[e.event_id], reverse=True):
        items.insert(min(len(items), where[event.event_id] + rng.randint(1, 300)), raw(event))
    poison = poison_messages(len(emitted) // 100, seed=4)
    items = with_poison(items, poison, seed=7)
    worker, sink = Worker(settings, free_port(), tmp_path), Sink(settings, tmp_path)
    emitter, producer = emitter_for(settings, tmp_path), raw_producer(settings)
    figures: dict = {"delivered_twice": len(again), "shuffled_sessions": 60}
    held = None
    try:
        sink.start()
        worker.start().seconds_to_ready()
        traffic = Traffic(items, router(emitter, producer, settings.session_topic))
        traffic.start()

        wait_until(lambda: traffic.reached(0.25), 60, "a quarter of the traffic sent")
        figures["worker_folded_before_kill"] = worker.folded()
        worker.kill()
        wait_until(lambda: traffic.reached(0.4), 60, "more traffic while the worker is down")
        wait_until(lambda: sum(committed(settings, Sink.group, (settings.session_topic,)).values()), 60,
                   "the sink committing its first batch")
        sink.kill()
        held = ChdbWarehouse(settings.chdb_path)  # the sink cannot open its warehouse now
        outage = time.monotonic()
        rows_at_outage = held.query("SELECT count() AS n FROM session_events")[0]["n"]
        sink.start()
        worker.start()
        figures["worker_restart_ready_s"] = round(worker.seconds_to_ready(), 1)
        wait_until(lambda: traffic.reached(0.75), 60, "more traffic during the outage")
        wait_until(lambda: "retrying in" in sink.log_path.read_text(), 30, "the sink retrying to open chDB")
        assert held.query("SELECT count() AS n FROM session_events")[0]["n"] == rows_at_outage
        figures.update(warehouse_outage_s=round(time.monotonic() - outage, 1), rows_at_outage=rows_at_outage)
        held.close()
        held = None
        released = time.monotonic()

        traffic.finish()
        emitter.flush(timeout=60)
        producer.flush(timeout=60)
        check_everything(settings, worker, sink, emitted, poison, figures)
        figures["recovery_after_outage_s"] = round(time.monotonic() - released, 1)
    finally:
        if held is not None:
            held.close()
        report(tmp_path, "worker_sink_outage_duplicates_shuffled", figures)
        emitter.close()
        producer.close()
        worker.kill()
        sink.stop()  # leaves the consumer group, so the next story's sink joins at once
    assert figures["log_messages"] == len(emitted) + len(again) + len(poison)


def raw(event):
    return ("raw", event.session_id.encode(), encode(event), event)


def merged(first: list, second: list, rng: random.Random) -> list:
    """The two lists interleaved at random, each keeping its own order."""
    picks = [0] * len(first) + [1] * len(second)
    rng.shuffle(picks)
    sources = (iter(first), iter(second))
    return [next(sources[pick]) for pick in picks]
