"""Erasing a player from the worker's live tables, on the real broker: tombstones, tokens, and no
way back through new events, in-flight updates, a restart, a rebuild or a replay from Kafka."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from kafka import KafkaProducer

from ledger.child import wait_until
from ledger.stack import free_port
from ledger.worker_process import WorkerProcess
from projections.erasure import Erasure
from schemas.codec import encode
from streams.fold.options import app_id
from streams.fold.rebuild import rebuild_projections
from streams.kafka.erasures import read_registry, record_erasure
from tests.support.cli import run_ledger, settings_env
from tests.support.factories import session_event
from tests.support.kafka import read_all
from tests.support.ledger_settings import settings_with_own_topics

pytestmark = pytest.mark.kafka


def _session(producer, settings, player: str, *, end: bool, at: datetime, party: str | None = None) -> str:
    """A session of ``player`` (requested with a ticket, started, one heartbeat; ended if ``end``)."""
    session = str(uuid.uuid4())
    events = [
        session_event("requested", session_id=session, seq=1, player_id=player, party_id=party,
                      trace_id=f"trace-{player}", matchmaking_ticket=f"ticket-{player}", occurred_at=at),
        session_event("started", session_id=session, seq=2, player_id=player, party_id=party,
                      occurred_at=at + timedelta(seconds=1)),
        session_event("heartbeat", session_id=session, seq=3, player_id=player, party_id=party,
                      occurred_at=at + timedelta(seconds=2)),
    ]
    if end:
        events.append(session_event("ended", session_id=session, seq=4, player_id=player, party_id=party,
                                    occurred_at=at + timedelta(seconds=30)))
    for event in events:
        producer.send(settings.session_topic, key=session.encode(), value=encode(event))
    producer.flush()
    return session


def _worker_receipts(settings, key: str) -> set[int]:
    _, receipts = read_registry(settings)
    return {p for r in receipts if r.key == key and r.layer == "worker" for p in r.partitions}


def _latest_by_key(bootstrap: str, topic: str) -> dict[bytes, bytes | None]:
    latest = {}
    for record in read_all(bootstrap, topic):
        latest[record.key] = record.value
    return latest


def test_an_erased_player_leaves_the_live_tables_and_never_comes_back(kafka_broker, tmp_path):
    settings = settings_with_own_topics(kafka_broker.bootstrap, tmp_path / "state", "erase")
    erased_id, kept_id = f"player-{uuid.uuid4().hex[:8]}", f"player-{uuid.uuid4().hex[:8]}"
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    now = datetime.now(timezone.utc) - timedelta(minutes=5)
    worker = WorkerProcess(settings, web_port=free_port()).start()
    try:
        worker.wait_ready(timeout_s=120)
        finished = _session(producer, settings, erased_id, end=True, at=now, party="party-e")
        open_session = _session(producer, settings, erased_id, end=False, at=now + timedelta(minutes=1),
                                party="party-e")
        kept = _session(producer, settings, kept_id, end=True, at=now)
        wait_until(lambda: (worker.get(f"/players/{erased_id}")[0] == 200
                            and worker.get(f"/players/{erased_id}")[1]["session_count"] == 2
                            and worker.get(f"/players/{kept_id}")[0] == 200) or None,
                   timeout_s=60, what="both players folded")

        erasure = record_erasure(settings, Erasure.new(erased_id, settings.pepper, reason="test"))
        wait_until(lambda: _worker_receipts(settings, erasure.key) == {0, 1, 2} or None, timeout_s=60,
                   what="the worker's receipt covering every partition")

        status, body = worker.get(f"/players/{erased_id}")
        assert status == 410 and body["error"] == "erased"
        for session in (finished, open_session):
            status, document = worker.get(f"/sessions/{session}")
            assert status == 200 and document["player_id"] == erasure.token
            assert document.get("party_id") is None
        assert worker.get(f"/sessions/{kept}")[1]["player_id"] == kept_id
        assert worker.get(f"/players/{kept_id}")[0] == 200

        # Events after the erasure: the open session goes on, and a new session begins.
        producer.send(settings.session_topic, key=open_session.encode(), value=encode(session_event(
            "ended", session_id=open_session, seq=4, player_id=erased_id, occurred_at=now + timedelta(minutes=3))))
        later = _session(producer, settings, erased_id, end=False, at=now + timedelta(minutes=4))
        wait_until(lambda: worker.get(f"/sessions/{later}")[0] == 200 or None, timeout_s=60,
                   what="the session begun after the erasure")
        assert worker.get(f"/sessions/{later}")[1]["player_id"] == erasure.token
        wait_until(lambda: worker.get(f"/sessions/{open_session}")[1]["status"] == "ended" or None,
                   timeout_s=60, what="the open session's end")
        assert worker.get(f"/players/{erased_id}")[0] == 410
        wait_until(lambda: worker.get(f"/players/{erasure.token}")[0] == 200 or None, timeout_s=60,
                   what="the token's own player record")
    finally:
        worker.stop()
        producer.close()

    # On disk: the worker's stores were compacted, so no file of theirs holds the id any more
    # (the events after the erasure were anonymised before they reached a table).
    holding = [path for path in (settings.state_dir / "worker").rglob("*")
               if path.is_file() and erased_id.encode() in path.read_bytes()]
    assert holding == []

    # The changelogs: the latest record of every key names no erased id (a tombstone for the
    # player's key; the sessions rewritten with the token).
    prefix = app_id(settings)
    players = _latest_by_key(settings.bootstrap_servers, f"{prefix}-players-changelog")
    assert players[json.dumps(erased_id).encode()] is None  # a tombstone (keys are JSON strings)
    sessions = _latest_by_key(settings.bootstrap_servers, f"{prefix}-sessions-changelog")
    for value in sessions.values():
        assert value is None or erased_id.encode() not in value
    assert b"party-e" not in b"".join(v for v in sessions.values() if v)

    # A worker started from nothing (a new state dir) recovers from the changelogs: still erased.
    fresh = settings.model_copy(update={"state_dir": tmp_path / "fresh"})
    again = WorkerProcess(fresh, web_port=free_port()).start()
    try:
        again.wait_ready(timeout_s=120)
        assert again.get(f"/players/{erased_id}")[0] == 410
        assert again.get(f"/sessions/{finished}")[1]["player_id"] == erasure.token
    finally:
        again.stop()

    # A rebuild from the whole session topic, which still holds the id: folded under the token.
    rebuilt = rebuild_projections(settings).view
    assert erased_id not in rebuilt.players and erasure.token in rebuilt.players
    assert rebuilt.players[erasure.token].session_count == 3
    assert {rebuilt.sessions[s].player_id for s in (finished, open_session, later)} == {erasure.token}
    assert rebuilt.sessions[kept].player_id == kept_id

    # A replay of one session straight from the topic shows the token, never the id.
    replayed = run_ledger("replay", "session", finished, "--source", "kafka", "--json",
                          env=settings_env(settings))
    assert replayed.returncode == 0, replayed.stderr
    assert erased_id not in replayed.stdout and "ticket-" not in replayed.stdout
    assert erasure.token in json.dumps(json.loads(replayed.stdout))


def test_erasing_is_idempotent_and_refuses_tokens(kafka_broker, tmp_path):
    settings = settings_with_own_topics(kafka_broker.bootstrap, tmp_path / "state", "erase-again")
    first = record_erasure(settings, Erasure.new("p-1", settings.pepper))
    second = record_erasure(settings, Erasure.new("p-1", settings.pepper))
    assert second == first
    erased, _ = read_registry(settings)
    assert len(erased) == 1 and erased.token_for("p-1") == first.token
    refused = run_ledger("player", "erase", first.token, "--wait", "0", env=settings_env(settings))
    assert refused.returncode == 2 and "already erased" in refused.stderr
    # The registry holds no player id, only its key and token.
    assert all(b"p-1" not in (r.value or b"") and b"p-1" not in r.key
               for r in read_all(settings.bootstrap_servers, settings.erasure_topic))


def test_a_worker_down_when_the_erasure_came_applies_and_confirms_it_when_it_starts(kafka_broker, tmp_path):
    settings = settings_with_own_topics(kafka_broker.bootstrap, tmp_path / "state", "erase-down")
    player = f"player-{uuid.uuid4().hex[:8]}"
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    port = free_port()
    worker = WorkerProcess(settings, web_port=port).start()
    try:
        worker.wait_ready(timeout_s=120)
        session = _session(producer, settings, player, end=True, at=datetime.now(timezone.utc) - timedelta(minutes=5))
        wait_until(lambda: worker.get(f"/players/{player}")[0] == 200 or None, timeout_s=60,
                   what="the player folded")
    finally:
        worker.stop()
        producer.close()

    erasure = record_erasure(settings, Erasure.new(player, settings.pepper))
    assert _worker_receipts(settings, erasure.key) == set()

    again = WorkerProcess(settings, web_port=port).start()
    try:
        again.wait_ready(timeout_s=120)
        wait_until(lambda: _worker_receipts(settings, erasure.key) == {0, 1, 2} or None, timeout_s=60,
                   what="the receipt sent once the tables recovered")
        _, receipts = read_registry(settings)
        [receipt] = [r for r in receipts if r.key == erasure.key]
        assert receipt.removed["players"] == 1 and receipt.removed["sessions"] == 1
        assert again.get(f"/players/{player}")[0] == 410
        assert again.get(f"/sessions/{session}")[1]["player_id"] == erasure.token
    finally:
        again.stop()
