"""The sink's consumer speaks the ledger's kafka-python option names and hands librdkafka its own."""
from __future__ import annotations

import pytest

from streams.errors import BadStreamsOption
from streams.sink.client import librdkafka_config


def test_the_ledgers_options_become_librdkafka_properties():
    config = librdkafka_config({
        "bootstrap_servers": "a:9092", "group_id": "ledger-sink", "enable_auto_commit": False,
        "group_instance_id": "sink-1", "check_crcs": True, "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-256", "sasl_plain_username": "u", "sasl_plain_password": "p",
        "ssl_cafile": "/ca.pem", "ssl_certfile": None, "ssl_check_hostname": True,
    })

    assert config == {
        "bootstrap.servers": "a:9092", "group.id": "ledger-sink", "enable.auto.commit": False,
        "group.instance.id": "sink-1", "check.crcs": True, "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-256", "sasl.username": "u", "sasl.password": "p",
        "ssl.ca.location": "/ca.pem", "ssl.endpoint.identification.algorithm": "https",
    }


def test_an_option_the_consumer_does_not_know_is_refused_by_name():
    with pytest.raises(BadStreamsOption, match="max_poll_records"):
        librdkafka_config({"max_poll_records": 500})
