"""Kafka with SASL/SCRAM on the local broker, and credentials that never reach a log or an error."""
from __future__ import annotations

import logging
import subprocess
import time
import sys
import uuid

import pytest
from kafka import KafkaConsumer, KafkaProducer

from ledger.stack import BrokerConfig, LocalBroker, free_port
from streams.kafka.config import kafka_python_options
from streams.kafka.topics import ensure_topics
from streams.logs import RedactSecrets
from streams.settings import load_settings
from tests.support.cli import outside_env

USER, PASSWORD = "ledger-svc", "scram-Pa55-word"


@pytest.fixture(scope="module")
def scram_broker(tmp_path_factory):
    """A broker of its own whose second listener requires SASL/SCRAM, with one user."""
    settings = load_settings()
    config = BrokerConfig(home=tmp_path_factory.mktemp("scram-kafka"), jars_cache=settings.cache_dir,
                          version=settings.kafka_version, port=free_port(), controller_port=free_port(),
                          sasl_port=free_port(), scram_users=((USER, PASSWORD),), heap="384m",
                          maven_repo=settings.maven_repo)
    broker = LocalBroker(config)
    broker.up()
    try:
        yield config
    finally:
        broker.down(timeout_s=20)


def scram_settings(config, password: str = PASSWORD, mechanism: str = "SCRAM-SHA-256", **extra):
    return load_settings(bootstrap_servers=config.sasl_bootstrap, kafka_security_protocol="SASL_PLAINTEXT",
                         kafka_sasl_mechanism=mechanism, kafka_username=USER, kafka_password=password, **extra)


def cli(settings, *args, tmp_path):
    env = outside_env()
    env.update(LEDGER_STATE_DIR=str(tmp_path / "state"), LEDGER_BOOTSTRAP_SERVERS=settings.bootstrap_servers,
               LEDGER_KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT", LEDGER_KAFKA_USERNAME=USER,
               LEDGER_KAFKA_PASSWORD=settings.kafka_password.get_secret_value(),
               LEDGER_SESSION_TOPIC=f"secure-{uuid.uuid4().hex[:8]}")
    return subprocess.run([sys.executable, "-m", "ledger.cli", *args], env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_a_client_with_the_right_scram_credentials_produces_and_consumes(scram_broker, mechanism):
    options = kafka_python_options(scram_settings(scram_broker, mechanism=mechanism))
    topic = f"secure-{uuid.uuid4().hex[:8]}"
    ensure_topics(scram_broker.sasl_bootstrap, {topic: 1}, client_options=options)
    producer = KafkaProducer(bootstrap_servers=scram_broker.sasl_bootstrap, acks="all", **options)
    producer.send(topic, key=b"s-1", value=b"hello over scram").get(timeout=30)
    producer.close()
    consumer = KafkaConsumer(topic, bootstrap_servers=scram_broker.sasl_bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=8000, **options)
    assert [m.value for m in consumer] == [b"hello over scram"]
    consumer.close()


def test_topics_create_over_scram_with_the_right_password(scram_broker, tmp_path):
    result = cli(scram_settings(scram_broker), "topics", "create", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "created" in result.stdout


def test_a_wrong_password_is_a_clear_error_that_does_not_show_it(scram_broker, tmp_path):
    wrong = "not-the-Pa55word"
    result = cli(scram_settings(scram_broker, password=wrong), "topics", "create", tmp_path=tmp_path)
    assert result.returncode == 3
    assert f"could be authenticated as user '{USER}'" in " ".join(result.stderr.split())
    assert "LEDGER_KAFKA_PASSWORD" in result.stderr
    assert wrong not in result.stderr + result.stdout


def test_verbose_logs_show_the_clients_configuration_but_not_the_password(scram_broker, tmp_path):
    result = cli(scram_settings(scram_broker), "-v", "topics", "create", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "sasl_plain_password" in result.stderr, "kafka-python logs its configuration at DEBUG"
    assert PASSWORD not in result.stderr + result.stdout


def test_the_log_filter_hides_a_password_that_a_client_library_logs(caplog):
    settings = load_settings(kafka_security_protocol="SASL_PLAINTEXT", kafka_username=USER,
                             kafka_password=PASSWORD,
                             clickhouse_url="clickhouse://ledger:ch-Secret-1@127.0.0.1:9000/ledger")
    from streams.logs import secrets_of

    redactor = RedactSecrets(secrets_of(settings))
    logger = logging.getLogger("kafka.admin.client")
    caplog.handler.addFilter(redactor)
    with caplog.at_level(logging.DEBUG, logger="kafka.admin.client"):
        logger.debug("Starting KafkaAdminClient with configuration: %s",
                     {"sasl_plain_password": PASSWORD, "url": settings.clickhouse_url.get_secret_value()})
    assert PASSWORD not in caplog.text and "ch-Secret-1" not in caplog.text
    assert "'sasl_plain_password': '***'" in caplog.text


def test_settings_read_the_password_from_a_secret_file_and_never_print_it(tmp_path):
    secret = tmp_path / "kafka-password"
    secret.write_text(PASSWORD + "\n")
    settings = load_settings(kafka_security_protocol="SASL_PLAINTEXT", kafka_username=USER,
                             kafka_password_file=secret)
    assert settings.kafka_password.get_secret_value() == PASSWORD
    assert PASSWORD not in repr(settings) and PASSWORD not in str(settings.model_dump())


def test_emitter_and_sink_carry_events_into_history_over_scram(scram_broker, tmp_path, warehouse):
    from streams.emit.emitter import SessionEmitter
    from streams.sink.consumer import HistorySink
    from tests.support.factories import session_script

    suffix = uuid.uuid4().hex[:8]
    settings = scram_settings(scram_broker, state_dir=tmp_path / "state", session_topic=f"s-{suffix}",
                              ops_topic=f"o-{suffix}", dead_letter_topic=f"d-{suffix}")
    ensure_topics(scram_broker.sasl_bootstrap, {settings.session_topic: 2, settings.ops_topic: 1,
                                                settings.dead_letter_topic: 1},
                  client_options=kafka_python_options(settings))
    events = [e for _ in range(10) for e in session_script(heartbeats=2)]

    emitter = SessionEmitter.from_settings(settings, producer="scram-test")
    for event in events:
        emitter.emit(event)
    emitter.flush(30)
    emitter.close()
    assert emitter.stats.acked == len(events) and emitter.stats.spooled == 0

    sink = HistorySink.from_settings(settings, warehouse, group_id=f"sink-{suffix}", batch_max_wait_s=0.3)
    deadline = time.monotonic() + 60
    while sink.stats.rows < len(events) and time.monotonic() < deadline:
        sink.poll_once()
    sink.close()
    stored = warehouse.query("SELECT count() AS n FROM session_events FINAL")[0]["n"]
    assert stored == len(events)
