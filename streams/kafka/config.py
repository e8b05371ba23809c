"""Client options derived from the settings: one place turns LEDGER_KAFKA_* into what each client takes.

kafka-python (emitter, admin, the sink's dead letters) and aiokafka (under Faust) spell the same
security options differently; both are built here so no module reads credentials itself. The
sink's librdkafka consumer takes the kafka-python spelling, translated in streams/sink/client.py.
"""
from __future__ import annotations

import ssl
from typing import Any


def _sasl_options(settings) -> dict[str, Any]:
    """The SASL options both clients spell alike."""
    if not settings.kafka_security_protocol.startswith("SASL"):
        return {}
    return {
        "sasl_mechanism": settings.kafka_sasl_mechanism,
        "sasl_plain_username": settings.kafka_username,
        "sasl_plain_password": settings.kafka_password.get_secret_value(),
    }


def kafka_python_options(settings) -> dict[str, Any]:
    """Security options for kafka-python's KafkaProducer, KafkaConsumer and KafkaAdminClient."""
    options: dict[str, Any] = {"security_protocol": settings.kafka_security_protocol, **_sasl_options(settings)}
    if settings.kafka_security_protocol.endswith("SSL"):
        options.update(
            ssl_cafile=_path(settings.kafka_ssl_cafile),
            ssl_certfile=_path(settings.kafka_ssl_certfile),
            ssl_keyfile=_path(settings.kafka_ssl_keyfile),
            ssl_check_hostname=True,
        )
    return options


def aiokafka_options(settings) -> dict[str, Any]:
    """The same options as aiokafka takes them: TLS as one SSLContext instead of file paths."""
    options: dict[str, Any] = {"security_protocol": settings.kafka_security_protocol, **_sasl_options(settings)}
    if settings.kafka_security_protocol.endswith("SSL"):
        options["ssl_context"] = ssl_context(settings)
    return options


def faust_credentials(settings):
    """Faust's `broker_credentials` for the configured protocol, or None for PLAINTEXT."""
    import faust

    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return faust.SSLCredentials(ssl_context(settings))
    return faust.SASLCredentials(
        username=settings.kafka_username,
        password=settings.kafka_password.get_secret_value(),
        mechanism=settings.kafka_sasl_mechanism,
        ssl_context=ssl_context(settings) if protocol == "SASL_SSL" else None,
    )


def ssl_context(settings) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=_path(settings.kafka_ssl_cafile))
    if settings.kafka_ssl_certfile:
        context.load_cert_chain(str(settings.kafka_ssl_certfile), _path(settings.kafka_ssl_keyfile))
    return context


def _path(value) -> str | None:
    return str(value) if value else None


def explain_unreachable(settings, error: Exception) -> str:
    """What to tell a user whose Kafka client gave up, telling a refused login from a dead broker."""
    import socket

    bootstrap = settings.bootstrap_servers
    first = bootstrap.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=3):
            accepts = True
    except OSError:
        accepts = False
    if accepts and settings.kafka_security_protocol.startswith("SASL"):
        return (f"Kafka at {bootstrap} accepts connections but no session could be authenticated as user "
                f"{settings.kafka_username!r} with {settings.kafka_sasl_mechanism}: the user name or password is "
                "wrong, or the listener does not speak SASL. Check LEDGER_KAFKA_USERNAME and "
                "LEDGER_KAFKA_PASSWORD (or LEDGER_KAFKA_PASSWORD_FILE).")
    if accepts:
        return (f"Kafka at {bootstrap} accepts connections but did not answer as a broker ({error}); is "
                "LEDGER_KAFKA_SECURITY_PROTOCOL right for this listener?")
    return (f"Kafka at {bootstrap} did not answer ({error}). Start the local broker with `ledger stack up`, "
            "or point LEDGER_BOOTSTRAP_SERVERS at yours.")
