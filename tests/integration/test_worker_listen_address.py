"""The worker's HTTP API listens where LEDGER_API_HOST says, and only there (the compose file
sets 0.0.0.0 inside its container). Tests keep their servers on the loopback, so the address
given here is another loopback address, 127.0.0.2: the worker must answer there and not on
the default 127.0.0.1."""
from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from ledger.child import wait_until
from ledger.stack import free_port
from ledger.worker_process import WorkerProcess
from tests.support.ledger_settings import settings_with_own_topics

pytestmark = pytest.mark.kafka

ADDRESS = "127.0.0.2"


def test_a_worker_listens_on_the_address_it_is_told_and_not_on_the_default(kafka_broker, tmp_path, monkeypatch):
    settings = settings_with_own_topics(kafka_broker.bootstrap, tmp_path / "state", "listen")
    worker = WorkerProcess(settings, web_port=free_port(), store="memory")
    monkeypatch.setenv("LEDGER_API_HOST", ADDRESS)
    worker.start()
    try:
        with urllib.request.urlopen(_health_when_up(worker), timeout=5) as response:
            assert response.status == 200
            assert json.loads(response.read())["status"] == "ok"
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/health", timeout=5)
    finally:
        worker.kill()


def _health_when_up(worker: WorkerProcess) -> str:
    url = f"http://{ADDRESS}:{worker.web_port}/health"
    def answers() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except (urllib.error.URLError, OSError):
            return False

    wait_until(answers, timeout_s=120, what=f"the worker answering on {ADDRESS}")
    return url
