"""Logging for every `ledger` process: one format, and no credential ever written out.

Client libraries log their own configuration at DEBUG (kafka-python prints the SASL password
in it), so every handler gets a filter that replaces each known secret with ***.
"""
from __future__ import annotations

import logging
from urllib.parse import urlsplit


class RedactSecrets(logging.Filter):
    """Replaces every occurrence of each secret in a record's message (and its arguments) with ***."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 3}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = self.redact(record.getMessage())
            record.msg, record.args = message, None
            if record.exc_text:
                record.exc_text = self.redact(record.exc_text)
        return True


def secrets_of(settings) -> list[str]:
    """Every credential the settings hold, as it could appear in a log line."""
    found = []
    if settings.kafka_password is not None:
        found.append(settings.kafka_password.get_secret_value())
    if settings.api_token is not None:
        found.append(settings.api_token.get_secret_value())
    if settings.clickhouse_url is not None:
        url = settings.clickhouse_url.get_secret_value()
        password = urlsplit(url).password
        if password:
            found.append(password)
    return found


QUIET_CLIENTS = ("kafka", "aiokafka", "clickhouse_driver")
"""Client libraries that log every retry; the ledger reports their failures itself, in one message."""


def configure_logging(settings, level: int = logging.WARNING, verbose: bool = False) -> RedactSecrets:
    """Root logging to stderr with the redacting filter on every handler; returns the filter.

    Unless `verbose`, the Kafka and ClickHouse clients only log what is critical: a refused
    connection is retried and, when it matters, explained once by the command itself.
    """
    redactor = RedactSecrets(secrets_of(settings))
    logging.basicConfig(level=logging.DEBUG if verbose else level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in QUIET_CLIENTS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.CRITICAL)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redactor)
    return redactor
