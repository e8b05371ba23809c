"""The worker's log level holds for the whole run (Faust's spinner would lower it to DEBUG)."""
from __future__ import annotations

import io
import logging

import faust

from streams.fold.run import _Worker
from streams.logs import RedactSecrets


def test_a_worker_at_warn_builds_no_debug_records():
    app = faust.App("logging-probe", broker="kafka://127.0.0.1:9", autodiscover=False)
    worker = _Worker(app, loglevel="warn", quiet=True, redirect_stdouts=False)
    logger = logging.Logger("probe", level=logging.WARNING)
    logger.addHandler(logging.NullHandler())

    worker.on_setup_root_logger(logger, logging.WARNING)

    assert logger.level == logging.WARNING
    assert not logger.isEnabledFor(logging.DEBUG)
    assert worker.spinner is None


def test_the_handlers_faust_installs_hide_the_ledgers_secrets():
    app = faust.App("logging-probe", broker="kafka://127.0.0.1:9", autodiscover=False)
    worker = _Worker(app, loglevel="debug", quiet=True, redirect_stdouts=False)
    worker.redactor = RedactSecrets(["s3cret-pass"])
    logger = logging.Logger("probe", level=logging.DEBUG)
    stream = io.StringIO()
    logger.addHandler(logging.StreamHandler(stream))

    worker.on_setup_root_logger(logger, logging.DEBUG)
    logger.debug("client config: %s", {"sasl_plain_password": "s3cret-pass"})

    assert "s3cret-pass" not in stream.getvalue()
    assert "sasl_plain_password" in stream.getvalue()
