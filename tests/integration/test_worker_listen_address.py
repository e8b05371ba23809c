"""The worker's HTTP API listens where LEDGER_API_HOST says: a worker started with 0.0.0.0 (as the
compose file starts it) answers on this machine's outward address, not only on the loopback."""
from __future__ import annotations

import json
import socket
import urllib.request

import pytest

from ledger.stack import free_port
from ledger.worker_process import WorkerProcess
from tests.support.ledger_settings import settings_with_own_topics

pytestmark = pytest.mark.kafka


def outward_address() -> str | None:
    """An IPv4 address of this machine other than the loopback, or None if it has none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent, a route is chosen
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") else address


def test_a_worker_told_to_listen_everywhere_answers_on_the_machines_address(kafka_broker, tmp_path, monkeypatch):
    address = outward_address()
    if address is None:
        pytest.skip("this machine has no address but the loopback")
    settings = settings_with_own_topics(kafka_broker.bootstrap, tmp_path / "state", "listen")
    worker = WorkerProcess(settings, web_port=free_port(), store="memory")
    monkeypatch.setenv("LEDGER_API_HOST", "0.0.0.0")
    worker.start()
    try:
        worker.wait_ready(timeout_s=120)
        with urllib.request.urlopen(f"http://{address}:{worker.web_port}/health", timeout=5) as response:
            assert response.status == 200
            assert json.loads(response.read())["status"] == "ok"
    finally:
        worker.kill()
