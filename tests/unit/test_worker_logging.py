"""The worker's log level holds for the whole run (Faust's spinner would lower it to DEBUG)."""
from __future__ import annotations

import logging

import faust

from streams.worker.run import _Worker


def test_a_worker_at_warn_builds_no_debug_records():
    app = faust.App("logging-probe", broker="kafka://127.0.0.1:9", autodiscover=False)
    worker = _Worker(app, loglevel="warn", quiet=True, redirect_stdouts=False)
    logger = logging.Logger("probe", level=logging.WARNING)
    logger.addHandler(logging.NullHandler())

    worker.on_setup_root_logger(logger, logging.WARNING)

    assert logger.level == logging.WARNING
    assert not logger.isEnabledFor(logging.DEBUG)
    assert worker.spinner is None
