"""The `ledger` command as a user runs it: exit codes, messages that name what is wrong."""
from __future__ import annotations

import json
import uuid

from kafka import KafkaConsumer

from schemas.codec import decode
from tests.support.cli import REPO, ledger, settings_env


def test_schemas_check_passes_the_shipped_catalogue():
    result = ledger("schemas", "check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "compatible" in result.stdout


def test_schemas_check_rejects_an_incompatible_change_naming_the_field():
    result = ledger("schemas", "check", "--root", str(REPO / "schemas" / "fixtures" / "incompatible"), "--json")
    assert result.returncode == 1
    findings = json.loads(result.stdout)
    assert {"session_event"} == {finding["schema"] for finding in findings}
    assert any("latency_ms" in finding["path"] for finding in findings)


def heartbeat_line(session_id: str, **overrides) -> str:
    event = {
        "session_id": session_id, "player_id": "p-cli", "occurred_at": "2026-01-05T10:00:00Z",
        "platform": "xbox", "region": "us-east", "build": "2.1.0", "cross_play": False,
        "input_method": "controller", "event_type": "heartbeat",
        "payload": {"latency_ms": 48, "packet_loss_pct": 0.1},
    }
    event.update(overrides)
    return json.dumps(event)


def test_emit_sends_the_good_lines_and_names_the_bad_ones(test_settings):
    session_id = str(uuid.uuid4())
    lines = "\n".join([
        heartbeat_line(session_id, event_type="requested", payload={"game_mode": "duos"}),
        heartbeat_line(session_id, payload={"latency_ms": -5, "packet_loss_pct": 0.0}),
        "{not json",
        heartbeat_line(session_id),
        heartbeat_line(session_id, build="b" * 300_000),  # a line over the 256 KiB bound
    ])

    result = ledger("emit", "--json", env=settings_env(test_settings), stdin=lines)

    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["sent"] == 2, report
    assert [(r["line"], r["field"]) for r in report["rejections"]] == [
        (2, "payload.latency_ms"), (3, "(line)"), (5, "(line)")]
    assert "longer than 262,144 characters" in report["rejections"][2]["reason"]

    consumer = KafkaConsumer(test_settings.session_topic, bootstrap_servers=test_settings.bootstrap_servers,
                             auto_offset_reset="earliest", consumer_timeout_ms=8000)
    events = [decode(message.value) for message in consumer]
    consumer.close()
    assert [(e.session_id, e.seq, e.event_type) for e in events] == [
        (session_id, 1, "requested"), (session_id, 2, "heartbeat")]  # seq assigned by the emitter


def test_every_command_explains_itself_with_an_example():
    for command in (["stack", "up"], ["emit"], ["schemas", "check"], ["smoke"], ["warehouse", "migrate"]):
        result = ledger(*command, "--help")
        assert result.returncode == 0
        assert "Example:" in result.stdout, command
