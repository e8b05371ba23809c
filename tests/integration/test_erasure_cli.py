"""`ledger player erase` against a running worker and sink on the real broker and chDB: every layer
confirms, the receipt dates each topic's last copy, and the id is gone from the history."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from kafka import KafkaProducer

from ledger.child import ChildProcess, settings_env, wait_until
from ledger.stack import free_port
from ledger.worker_process import WorkerProcess
from schemas.codec import encode
from streams.kafka.describe import topic_configs
from tests.support.cli import ledger
from tests.support.factories import session_event
from tests.support.ledger_settings import settings_with_own_topics

pytestmark = pytest.mark.kafka


def _sql(env, query: str) -> str:
    result = ledger("sql", query, "--format", "TSV", env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_erase_confirms_every_layer_and_dates_the_last_copies(kafka_broker, tmp_path):
    settings = settings_with_own_topics(kafka_broker.bootstrap, tmp_path / "state", "erase-cli")
    env = {**settings_env(settings, warehouse=True), "LEDGER_WAREHOUSE_HTTP_PORT": "0"}
    player, other = f"player-{uuid.uuid4().hex[:8]}", f"player-{uuid.uuid4().hex[:8]}"
    at = datetime.now(timezone.utc) - timedelta(minutes=10)
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    for owner in (player, player, other):
        session = str(uuid.uuid4())
        for seq, kind in enumerate(("requested", "started", "heartbeat", "ended"), start=1):
            event = session_event(kind, session_id=session, seq=seq, player_id=owner, party_id=f"party-{owner}",
                                  occurred_at=at + timedelta(seconds=seq))
            producer.send(settings.session_topic, key=session.encode(), value=encode(event))
    producer.flush()
    producer.close()

    worker = WorkerProcess(settings, web_port=free_port()).start()
    sink = ChildProcess(["-m", "ledger.cli", "sink", "--group-id", f"erase-{uuid.uuid4().hex[:8]}"],
                        tmp_path / "sink.log", env=env).start()
    try:
        worker.wait_ready(timeout_s=120)
        wait_until(lambda: worker.get(f"/players/{player}")[0] == 200 or None, timeout_s=60,
                   what="the worker folding the player")
        wait_until(lambda: _sql(env, f"SELECT count() FROM session_events WHERE player_id = '{player}'") == "8"
                   or None, timeout_s=90, what="the sink writing the player's events")

        erased = ledger("player", "erase", player, "--reason", "request 42", "--wait", "90", "--json", env=env)
        assert erased.returncode == 0, erased.stderr
        receipt = json.loads(erased.stdout)
        assert receipt["pending"] == [] and receipt["reason"] == "request 42"
        assert player not in erased.stdout
        layers = {(layer["layer"], layer["where"]): layer for layer in receipt["layers"]}
        workers = [layer for (kind, _), layer in layers.items() if kind == "worker"]
        assert {p for layer in workers for p in layer["partitions"]} == {0, 1, 2}
        assert sum(layer["removed"]["sessions"] for layer in workers) == 2
        assert sum(layer["removed"]["players"] for layer in workers) == 1
        history = [layer for (kind, _), layer in layers.items() if kind == "history"]
        assert history and history[0]["done_at"]

        # The topic's copy is dated from its own configs: the player's last event plus one
        # segment and the retention, or named as kept for ever.
        topic = layers[("kafka", settings.session_topic)]
        config = topic_configs(settings, [settings.session_topic])[settings.session_topic]
        if int(config["retention.ms"]) < 0:
            assert topic["kept_for_ever"] and settings.session_topic in receipt["kept_for_ever"]
        else:
            last = datetime.fromisoformat(receipt["player_last_event_at"])
            start = max(last, datetime.fromisoformat(receipt["requested_at"]))
            expected = start + timedelta(milliseconds=int(config["segment.ms"]) + int(config["retention.ms"]))
            assert abs(datetime.fromisoformat(topic["last_copy_by"]) - expected) < timedelta(seconds=60)

        assert _sql(env, f"SELECT count() FROM session_events WHERE player_id = '{player}'") == "0"
        assert _sql(env, f"SELECT count() FROM session_events WHERE player_id = '{receipt['token']}'") == "8"
        assert _sql(env, f"SELECT count() FROM session_events WHERE party_id = 'party-{player}'") == "0"
        assert _sql(env, f"SELECT count() FROM session_events WHERE player_id = '{other}'") == "4"
        assert worker.get(f"/players/{player}")[0] == 410

        listed = ledger("player", "erasures", "--json", env=env)
        assert listed.returncode == 0, listed.stderr
        [entry] = json.loads(listed.stdout)
        assert entry["token"] == receipt["token"] and any(c.startswith("history:") for c in entry["confirmed_by"])

        again = ledger("player", "erase", player, "--wait", "30", "--json", env=env)
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["token"] == receipt["token"]
    finally:
        worker.stop()
        assert sink.stop() == 0, sink.log_tail()
