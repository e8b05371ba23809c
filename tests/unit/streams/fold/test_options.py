"""Where a worker's HTTP API listens, and the address other workers reach it at."""
from __future__ import annotations

import socket

import pytest

from streams.fold.options import WorkerOptions
from streams.settings import load_settings


def test_the_api_listens_on_the_loopback_unless_a_setting_says_otherwise(monkeypatch):
    monkeypatch.delenv("LEDGER_API_HOST", raising=False)
    assert load_settings().api_host == "127.0.0.1"
    monkeypatch.setenv("LEDGER_API_HOST", "0.0.0.0")
    assert load_settings().api_host == "0.0.0.0"


def test_a_worker_on_one_address_is_reached_at_it():
    assert WorkerOptions(web_port=6067, web_host="127.0.0.1").url == "http://127.0.0.1:6067"
    assert WorkerOptions(web_port=6067, web_host="::1").url == "http://[::1]:6067"


@pytest.mark.parametrize("wildcard", ["0.0.0.0", "::"])
def test_a_worker_on_every_address_is_reached_by_its_host_name(wildcard):
    assert WorkerOptions(web_port=6066, web_host=wildcard).url == f"http://{socket.gethostname()}:6066"
