"""A reader that must stop takes its process down, non-zero, saying why: never half-alive."""
from __future__ import annotations

import os

import pytest
from kafka import KafkaProducer

from ledger.child import ChildProcess, settings_env
from ledger.stack import free_port
from ledger.worker_process import WorkerProcess

pytestmark = [pytest.mark.kafka, pytest.mark.faults]

FLOOD = [(b"k", None), (None, b""), (None, b"{}"), (b"k", os.urandom(64))] * 3
"""Twelve messages no reader can take: tombstones, empty values, null keys, random bytes.
(kafka-python refuses to send a null key with a null value; the unit tests cover that letter.)"""


def produce_raw(settings, topic: str, messages) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    for key, value in messages:
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()


def limited(settings) -> dict[str, str]:
    return {**settings_env(settings, warehouse=True), "LEDGER_DEAD_LETTER_MAX_PER_MINUTE": "3",
            "LEDGER_DEAD_LETTER_MAX_FRACTION": "1"}


def test_a_sink_thread_that_stops_takes_ledger_worker_with_sink_down(test_settings, tmp_path):
    produce_raw(test_settings, test_settings.ops_topic, FLOOD)  # only the sink reads the ops topic
    process = ChildProcess(["-m", "ledger.cli", "worker", "--with-sink", "--store", "memory",
                            "--web-port", str(free_port())], tmp_path / "worker.log", env=limited(test_settings))
    with process:
        code = process.wait(timeout_s=120)
        assert code is not None, f"the worker outlived its sink:\n{process.log_tail()}"
    log = process.log_path.read_text(errors="replace")
    assert code == 1
    assert "the sink stopped: more than 3 dead letters within a minute" in log
    assert "truncated: " in log  # the counts per reason


def test_a_worker_over_its_dead_letter_limit_stops_with_the_counts(test_settings, tmp_path):
    produce_raw(test_settings, test_settings.session_topic, FLOOD)
    worker = WorkerProcess(test_settings, web_port=free_port(), store="memory", log_path=tmp_path / "worker.log")
    worker.env.update(limited(test_settings))
    with worker:
        code = worker.wait(timeout_s=120)
        assert code is not None, f"the worker went on past its limit:\n{worker.log_tail()}"
    log = worker.log_path.read_text(errors="replace")
    assert code == 1
    assert "error: the worker stopped: more than 3 dead letters within a minute" in log
