"""Replication under faults: emitter -> three-broker cluster -> `ledger worker` + `ledger sink`.

Each story runs the whole pipeline as real processes at 2,000 events/s on a cluster whose
topics have three replicas and min.insync.replicas 2, breaks brokers while the events flow,
then checks that every event the emitter took (acknowledged directly, or spooled and drained)
is folded live exactly once and in the history exactly once. The figures (ack stall, spool,
catch-up, time until every replica is in sync again) are printed and kept as JSON in the
story's tmp dir; docs/operations.md quotes them.
"""
from __future__ import annotations

import logging
import random
import uuid
import threading
import time
from pathlib import Path

import pytest

from ledger.child import wait_until
from ledger.stack import free_port
from projections.fold import fold_all
from streams.emit.emitter import SessionEmitter
from streams.fold.render import session_document
from streams.kafka.replication import describe_topic_replication, session_topic_warnings
from streams.kafka.topics import ensure_topics
from streams.settings import load_settings
from tests.support.pipeline import Sink, Worker, history_figures, interleave, report, sessions, sink_caught_up

pytestmark = [pytest.mark.kafka, pytest.mark.faults]

RATE = 2_000
"""Events per second the emitter is offered during a story."""
SAMPLED_SESSIONS = 300
"""Sessions whose live document is compared with a fold of what was emitted (all are counted)."""


class Traffic(threading.Thread):
    """Emits planned events at ``RATE`` in small paced chunks; ``sent`` says how far it got."""

    def __init__(self, emitter: SessionEmitter, events: list, per_second: float = RATE) -> None:
        super().__init__(daemon=True)
        self.emitter, self.events, self.per_second = emitter, events, per_second
        self.sent = 0
        self.started_at = self.ended_at = 0.0
        self.error: BaseException | None = None

    def run(self) -> None:
        self.started_at = time.monotonic()
        try:
            for event in self.events:
                self.emitter.emit(event)
                self.sent += 1
                if self.sent % 100 == 0:
                    time.sleep(max(0.0, self.started_at + self.sent / self.per_second - time.monotonic()))
        except BaseException as error:  # surfaced by finish()
            self.error = error
        self.ended_at = time.monotonic()

    def finish(self, timeout_s: float = 180.0) -> None:
        self.join(timeout_s)
        assert not self.is_alive(), f"traffic stuck after {self.sent} of {len(self.events)} events"
        if self.error is not None:
            raise self.error

    @property
    def rate(self) -> float:
        return self.sent / max(1e-9, self.ended_at - self.started_at)


class Acks(threading.Thread):
    """Samples the emitter's acknowledgements every 50 ms: when they stalled and when they resumed."""

    def __init__(self, emitter: SessionEmitter) -> None:
        super().__init__(daemon=True)
        self.emitter = emitter
        self.samples: list[tuple[float, int, int]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            stats = self.emitter.stats
            self.samples.append((time.monotonic(), stats.acked + stats.drained, stats.spool_pending))
            time.sleep(0.05)

    def resumed_after(self, since: float) -> float | None:
        """Seconds from ``since`` until the first acknowledgement after the longest stall that follows it."""
        stall = self.longest_stall(since)
        return None if stall is None else round(stall[1] - since, 2)

    def longest_stall(self, since: float) -> tuple[float, float] | None:
        """(start, end) of the longest interval after ``since`` with no new acknowledgement."""
        best, last_change, last_count = None, None, None
        for at, count, _ in self.samples:
            if at < since:
                last_change, last_count = at, count
                continue
            if last_count is None or count != last_count:
                if last_change is not None and (best is None or at - last_change > best[1] - best[0]):
                    best = (max(last_change, since), at)
                last_change, last_count = at, count
        return best


def emitter_for(settings, home: Path) -> SessionEmitter:
    return SessionEmitter.from_settings(
        settings, producer="gameserver", spool_dir=home / "spool", buffer_memory=4 * 1024 * 1024,
        max_block_s=2.0, request_timeout_ms=5000, delivery_timeout_ms=15000)


def wait_in_sync(cluster, timeout_s: float = 120.0) -> float:
    """Seconds until no partition of the cluster is under-replicated."""
    started = time.monotonic()
    wait_until(lambda: not cluster.status().under_replicated, timeout_s, "every replica back in sync",
               interval_s=0.5)
    return round(time.monotonic() - started, 1)


def session_leader(cluster, settings) -> int:
    """The node leading most partitions of the session topic."""
    leaders = [cluster.leader_of(settings.session_topic, p) for p in range(settings.partitions)]
    assert None not in leaders, f"a session partition has no leader: {leaders}"
    return max(set(leaders), key=leaders.count)


def run_story(name: str, cluster, settings, tmp_path: Path, seconds: float, fault, *, fault_after_s: float = 5.0,
              seed: int) -> dict:
    """Emit ``seconds`` of traffic at RATE, call ``fault(figures)`` ``fault_after_s`` into it, then
    check the live state and the history against what was emitted. Returns the figures."""
    scripts = sessions(int(RATE * seconds / 10.7), seed=seed)
    events = interleave(scripts, seed=seed)
    figures: dict = {"events_planned": len(events)}
    described = describe_topic_replication(settings.bootstrap_servers, settings.session_topic)
    figures["session_topic"] = {"replication_factor": described.factor, "min_insync": described.min_insync}
    assert (described.factor, described.min_insync) == (3, 2), described
    worker, sink = Worker(settings, free_port(), tmp_path), Sink(settings, tmp_path)
    emitter = emitter_for(settings, tmp_path)
    acks = Acks(emitter)
    try:
        sink.start()
        worker.start().seconds_to_ready()
        assert worker.health()["warnings"] == []
        traffic = Traffic(emitter, events)
        acks.start()
        traffic.start()
        time.sleep(fault_after_s)
        fault_at = time.monotonic()
        figures["fault_at_event"] = traffic.sent
        fault(figures)
        figures["fault_s"] = round(time.monotonic() - fault_at, 1)
        traffic.finish()
        figures["emit_rate_per_s"] = round(traffic.rate)
        emitter.flush(timeout=180)
        flushed = time.monotonic()
        acks.done.set()
        stall = acks.longest_stall(fault_at)
        figures["longest_ack_stall_s"] = round(stall[1] - stall[0], 2) if stall else 0.0
        figures["ack_stall_ended_after_fault_s"] = acks.resumed_after(fault_at)
        stats = emitter.stats
        figures.update(spooled=stats.spooled, delivery_failures=stats.failed,
                       peak_spool_pending=max(pending for _, _, pending in acks.samples))
        figures["emitter_drained_after_traffic_s"] = round(flushed - traffic.ended_at, 1)

        wait_until(lambda: worker.folded() >= len(events), 120, "the worker folding every event", interval_s=0.5)
        figures["worker_caught_up_after_traffic_s"] = round(time.monotonic() - traffic.ended_at, 1)
        wait_until(lambda: sink_caught_up(settings), 120, "the sink committing the end of every partition")
        figures["sink_caught_up_after_traffic_s"] = round(time.monotonic() - traffic.ended_at, 1)
        figures["all_caught_up_after_fault_s"] = round(time.monotonic() - fault_at, 1)
        figures["replicas_in_sync_after_s"] = wait_in_sync(cluster)
        assert sink.stop() == 0, f"the sink did not stop cleanly:\n{sink.log_tail()}"

        figures["worker_applied"] = worker.folded()
        mismatched = sampled_mismatches(worker, scripts, events, seed=seed)
        history = history_figures(settings, {e.event_id for e in events})
        figures.update(history=history, sessions_compared=SAMPLED_SESSIONS, sessions_mismatched=len(mismatched))
        assert figures["worker_applied"] == len(events), "the worker folded another number of distinct events"
        assert not mismatched, f"first (session, expected, served): {mismatched[0]}\n{worker.log_tail(60)}"
        assert history["rows"] == history["distinct_event_ids"] == len(events), history
        assert history["lost"] == history["unexpected"] == 0, history
    finally:
        acks.done.set()
        report(tmp_path, name, figures)
        emitter.close()
        worker.kill()
        sink.stop()
        for node_id in cluster.nodes:  # a failed story leaves no node down for the next one
            if not cluster.nodes[node_id].status().running:
                cluster.start(node_id)
    return figures


def sampled_mismatches(worker: Worker, scripts, events, *, seed: int) -> list[tuple]:
    """(session, expected, served) of sampled sessions the worker serves unlike a fold of ``events``."""
    expected = fold_all(events).sessions
    ids = [script[0].session_id for script in random.Random(seed).sample(scripts, SAMPLED_SESSIONS)]
    found = []
    for session_id in ids:
        status, body = worker.get(f"/sessions/{session_id}")
        wanted = session_document(expected[session_id])
        if status != 200 or body != wanted:
            found.append((session_id, wanted, body))
    return found


def test_a_session_topic_with_one_replica_on_three_brokers_is_a_warning_in_the_log_and_health(
        kafka_cluster, tmp_path, caplog):
    tag = uuid.uuid4().hex[:8]
    settings = load_settings(state_dir=tmp_path / "state", bootstrap_servers=kafka_cluster.bootstrap,
                             session_topic=f"session-events-rf1-{tag}", ops_topic=f"ops-events-{tag}",
                             dead_letter_topic=f"dead-letter-{tag}", partitions=3)
    ensure_topics(settings.bootstrap_servers, {settings.session_topic: 3}, replication_factor=1)

    with caplog.at_level(logging.ERROR, logger="ledger.replication"):
        assert len(session_topic_warnings(settings)) == 1
    assert "replication factor 1 on a cluster of 3 brokers" in caplog.text

    worker = Worker(settings, free_port(), tmp_path)
    try:
        health = worker.start().wait_ready(timeout_s=90)
        assert health["status"] == "ok"
        assert len(health["warnings"]) == 1 and settings.session_topic in health["warnings"][0]
        assert "replication factor 1 on a cluster of 3 brokers" in worker.log_path.read_text()
    finally:
        worker.kill()


def test_kill_9_of_the_session_partitions_leader_mid_stream_loses_nothing(kafka_cluster, cluster_settings,
                                                                           tmp_path):
    cluster, settings = kafka_cluster, cluster_settings

    def fault(figures: dict) -> None:
        victim = session_leader(cluster, settings)
        figures["killed_node"] = victim
        cluster.kill(victim)
        killed = time.monotonic()
        wait_until(lambda: all(cluster.leader_of(settings.session_topic, p) not in (victim, None)
                               for p in range(settings.partitions)), 60, "new leaders elected", interval_s=0.2)
        figures["new_leaders_elected_s"] = round(time.monotonic() - killed, 1)
        time.sleep(max(0.0, 10 - (time.monotonic() - killed)))
        cluster.start(victim)
        figures["node_down_s"] = round(time.monotonic() - killed, 1)

    run_story("leader_kill", cluster, settings, tmp_path, seconds=24, fault=fault, seed=21)


def test_a_rolling_restart_of_every_broker_under_load_loses_nothing(kafka_cluster, cluster_settings, tmp_path):
    cluster, settings = kafka_cluster, cluster_settings

    def fault(figures: dict) -> None:
        figures["restarts"] = []
        for node_id in sorted(cluster.nodes):
            started = time.monotonic()
            cluster.stop(node_id)  # SIGTERM: a controlled shutdown moves its leaderships first
            stopped = time.monotonic()
            cluster.start(node_id)
            in_sync = wait_in_sync(cluster)
            figures["restarts"].append({"node": node_id, "stop_s": round(stopped - started, 1),
                                        "back_and_in_sync_s": round(time.monotonic() - stopped, 1),
                                        "in_sync_wait_s": in_sync})

    run_story("rolling_restart", cluster, settings, tmp_path, seconds=36, fault=fault, seed=22)


def test_a_broker_with_its_log_dir_wiped_rebuilds_its_replicas(kafka_cluster, cluster_settings, tmp_path):
    cluster, settings = kafka_cluster, cluster_settings

    def fault(figures: dict) -> None:
        victim = session_leader(cluster, settings)
        figures["wiped_node"] = victim
        cluster.kill(victim)
        cluster.wipe(victim)
        time.sleep(3)
        restarted = time.monotonic()
        cluster.start(victim)
        figures["replicas_rebuilt_s"] = wait_in_sync(cluster)
        figures["rebuilt_after_restart_s"] = round(time.monotonic() - restarted, 1)

    run_story("log_dir_wiped", cluster, settings, tmp_path, seconds=24, fault=fault, seed=23)


def test_two_brokers_down_blocks_or_spools_then_everything_flows_again(kafka_cluster, cluster_settings, tmp_path):
    cluster, settings = kafka_cluster, cluster_settings

    def fault(figures: dict) -> None:
        survivor = session_leader(cluster, settings)
        down = sorted(set(cluster.nodes) - {survivor})
        figures["killed_nodes"] = down
        for node_id in down:
            cluster.kill(node_id)
        killed = time.monotonic()
        time.sleep(12)
        returned = time.monotonic()
        for node_id in down:
            cluster.nodes[node_id].launch(_java())
        for node_id in down:
            cluster.wait_registered({node_id}, timeout_s=120)
        figures["nodes_down_s"] = round(returned - killed, 1)
        figures["nodes_registered_after_return_s"] = round(time.monotonic() - returned, 1)

    figures = run_story("two_brokers_down", cluster, settings, tmp_path, seconds=30, fault=fault, seed=24)
    assert figures["longest_ack_stall_s"] >= 5, "two brokers down did not stop acknowledgements (min.insync 2)"


def _java() -> str:
    from ledger.stack import require_java

    return require_java()
