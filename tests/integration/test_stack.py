"""The local stack: a real broker started, inspected and stopped through `ledger stack`."""
from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer

from ledger.stack import free_port
from tests.support.cli import process_running, run_ledger, outside_env


@pytest.fixture
def stack_env(tmp_path: Path) -> dict[str, str]:
    env = outside_env()
    env.update(
        LEDGER_STATE_DIR=str(tmp_path / "state"),
        LEDGER_BROKER_PORT=str(free_port()),
        LEDGER_CONTROLLER_PORT=str(free_port()),
    )
    return env


def test_a_message_produced_to_the_broker_is_consumed_back(kafka_broker, new_topic):
    topic = new_topic(partitions=2)
    producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap, acks="all")
    sent = [(f"key-{i % 5}".encode(), f"value-{i}".encode()) for i in range(50)]
    for key, value in sent:
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()

    consumer = KafkaConsumer(topic, bootstrap_servers=kafka_broker.bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=10_000, group_id=f"g-{topic}")
    received = [(message.key, message.value) for message in consumer]
    consumer.close()

    assert sorted(received) == sorted(sent)
    for key in {k for k, _ in sent}:  # one key stays on one partition, in order
        assert [v for k, v in received if k == key] == [v for k, v in sent if k == key]


def test_stack_up_status_down_runs_one_broker_and_leaves_none_behind(stack_env):
    try:
        up = run_ledger("stack", "up", "--json", env=stack_env)
        assert up.returncode == 0, up.stderr
        first = json.loads(up.stdout)["broker"]
        assert first["reachable"] is True
        again = run_ledger("stack", "up", "--json", env=stack_env)
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["broker"]["pid"] == first["pid"], "a second `up` started a second broker"

        status = run_ledger("stack", "status", "--json", env=stack_env)
        assert status.returncode == 0
        assert json.loads(status.stdout)["bootstrap"] == f"127.0.0.1:{stack_env['LEDGER_BROKER_PORT']}"
    finally:
        down = run_ledger("stack", "down", env=stack_env)
    assert down.returncode == 0, down.stderr
    assert not process_running(first["pid"]), "the broker process outlived `stack down`"
    stopped = run_ledger("stack", "status", "--json", env=stack_env)
    assert stopped.returncode == 3
    assert json.loads(stopped.stdout)["running"] is False


def test_stack_up_names_a_port_that_is_already_taken(stack_env):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen(1)
        stack_env["LEDGER_BROKER_PORT"] = str(squatter.getsockname()[1])
        result = run_ledger("stack", "up", env=stack_env)
    assert result.returncode == 3
    assert f"port {stack_env['LEDGER_BROKER_PORT']}" in result.stderr
    assert "already taken" in result.stderr


def test_stack_up_without_java_says_what_to_install(stack_env):
    stack_env.pop("JAVA_HOME", None)
    stack_env["PATH"] = str(Path(sys.executable).parent)  # python, but no java
    result = run_ledger("stack", "up", env=stack_env)
    assert result.returncode == 3
    assert "no Java runtime found" in result.stderr


def test_stack_up_reports_a_kafka_version_maven_cannot_resolve(stack_env, tmp_path):
    stack_env["LEDGER_CACHE_DIR"] = str(tmp_path / "empty-cache")
    stack_env["LEDGER_KAFKA_VERSION"] = "0.0.404"
    result = run_ledger("stack", "up", env=stack_env)
    assert result.returncode == 3
    assert "Maven could not resolve Apache Kafka 0.0.404" in result.stderr
