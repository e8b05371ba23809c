"""Run one worker until it is stopped: what `ledger worker` calls."""
from __future__ import annotations

import logging

import faust
from kafka import KafkaConsumer
from kafka.errors import KafkaError

from projections.erasure import ErasedPlayers
from streams.errors import BrokerUnreachable, ReaderHalted
from streams.fold.app import Ledger, build_app
from streams.fold.options import WorkerOptions, repartition_topics, worker_topics
from streams.kafka.config import kafka_python_options
from streams.kafka.replication import replication_for, session_topic_warnings
from streams.kafka.topics import TopicSpec, compacted, ensure_topics, ledger_topics, replication_options
from streams.logs import RedactSecrets, secrets_of
from streams.runtime import exit_when_a_thread_dies, settle_garbage_collector
from streams.settings import Settings

log = logging.getLogger(__name__)


class _Worker(faust.Worker):
    """Faust's worker without its terminal spinner, and with the ledger's secret filter on the
    log handlers it installs.

    At log levels from warn up, Faust turns the spinner on and sets the root logger to DEBUG
    so that every record spins it, for as long as the worker runs: every debug call of Faust,
    mode and aiokafka (one per message sent) then built a log record that the handler threw
    away (3% of the worker's time under load), and the spinner's escape codes went to the log.

    Faust replaces the root logger's handlers when it sets logging up, dropping the filter the
    command line put on them (streams/logs.py), so it is put on Faust's handlers again.
    """

    redactor: RedactSecrets | None = None

    def on_setup_root_logger(self, logger, level: int) -> None:
        self.spinner = None
        super().on_setup_root_logger(logger, level)
        if self.redactor is not None:
            for handler in logger.handlers:
                handler.addFilter(self.redactor)


def topic_partitions(settings: Settings) -> int:
    """How many partitions the session topic has (the tables get as many)."""
    try:
        consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, request_timeout_ms=15000,
                                 **kafka_python_options(settings))
    except KafkaError as error:
        raise BrokerUnreachable(settings.bootstrap_servers, str(error)) from error
    try:
        partitions = consumer.partitions_for_topic(settings.session_topic)
    finally:
        consumer.close()
    if not partitions:
        raise BrokerUnreachable(settings.bootstrap_servers,
                                f"topic {settings.session_topic} has no partitions in its metadata")
    return len(partitions)


def prepare(settings: Settings, options: WorkerOptions) -> Ledger:
    """Create the ledger's topics and the worker's repartition topics if missing, build the app,
    then create its changelog topics if missing.

    The repartition topics are created here, before the worker joins its group: left to Faust,
    they appear during start-up, after the first assignment, and their agents get no
    partitions until some later rebalance.
    """
    client = kafka_python_options(settings)
    ensure_topics(settings.bootstrap_servers, ledger_topics(settings), client_options=client,
                  **replication_options(settings))
    partitions = topic_partitions(settings)
    own = worker_topics(settings, partitions)
    ensure_topics(settings.bootstrap_servers, {name: own[name] for name in repartition_topics(settings)},
                  client_options=client, **replication_options(settings))
    ledger = build_app(settings, options, partitions=partitions, replication=_replication(settings),
                       warnings=session_topic_warnings(settings))
    # The changelogs too: left to Faust, one created during start-up could be seen by its
    # consumer with no partitions yet, and that table's writes then failed with
    # PartitionsMismatch until the worker restarted, holding up every partition's fold.
    changelogs = changelog_topics(ledger, partitions)
    ensure_topics(settings.bootstrap_servers,
                  {name: own.get(name, TopicSpec(partitions, compacted(settings))) for name in changelogs},
                  client_options=client, **replication_options(settings))
    follow_erasures(settings, ledger)
    return ledger


def follow_erasures(settings: Settings, ledger: Ledger) -> None:
    """Load the erasure registry before the first fold, then follow it (erasing.py)."""
    from streams.kafka.erasures import RegistryFollower, ensure_registry

    ensure_registry(settings)
    follower = RegistryFollower(settings, on_erasure=ledger.erasures_due.put)
    follower.erased = ledger.erased = ErasedPlayers(settings.pepper)
    ledger.receipts = follower.receipts
    follower.start()
    if ledger.erased:
        log.info("%d erased player(s) known; their events are anonymised as they are read",
                 len(ledger.erased))


def changelog_topics(ledger: Ledger, partitions: int) -> dict[str, int]:
    """Name -> partitions of the changelog topic of each of the worker's tables."""
    return {table.changelog_topic.get_topic_name(): partitions for table in ledger.app.tables.values()}


def _replication(settings: Settings):
    """The replication of the worker's own topics (changelogs, repartition) on this cluster."""
    from kafka.admin import KafkaAdminClient

    try:
        admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, request_timeout_ms=15000,
                                 **kafka_python_options(settings))
    except KafkaError as error:
        raise BrokerUnreachable(settings.bootstrap_servers, str(error)) from error
    try:
        return replication_for(settings, admin)
    finally:
        admin.close()


def run_worker(
    settings: Settings,
    *,
    web_port: int,
    worker_id: str = "worker-1",
    store: str = "rocksdb",
    loglevel: str = "info",
    **options,
) -> None:
    """Fold the session topic into tables and serve the HTTP API on ``web_port``; blocks.

    ``options`` are further ``WorkerOptions`` fields (heartbeat_timeout_s,
    timeout_check_interval_s, spike_threshold; web_host, by default ``settings.api_host``).
    The worker stops on SIGINT, or SIGTERM once started; during startup and rebalances only
    SIGKILL stops it at once. It raises ``ReaderHalted`` (``DeadLetterFailed``,
    ``DeadLetterLimitExceeded``) when it stopped for one; any other crash exits with status 1.
    """
    options.setdefault("web_host", settings.api_host)
    worker_options = WorkerOptions(web_port=web_port, worker_id=worker_id, store=store, **options)
    ledger = prepare(settings, worker_options)
    worker = _Worker(
        ledger.app,
        loglevel=loglevel,
        quiet=True,
        redirect_stdouts=False,
    )
    worker.redactor = RedactSecrets(secrets_of(settings))
    settle_garbage_collector()
    exit_when_a_thread_dies()
    try:
        worker.execute_from_commandline()
    except SystemExit:
        if isinstance(worker.crash_reason, ReaderHalted):
            raise worker.crash_reason from None  # its message and exit code, not a bare 1
        raise

