"""The Faust app of one worker, built from ``Settings`` and ``WorkerOptions``.

Tables (all backed by changelog topics, so a restarted worker recovers them):

- ``sessions``: SessionState records (``SessionState.to_bytes``) keyed by session_id, written while folding the session
  topic's partition p, so its changelog partition p holds exactly the sessions of source
  partition p (co-partitioned; requests are routed by the same key hash).
- ``players``: player records keyed by player_id, folded from player updates that the
  session fold sends through the ``player-updates`` topic keyed by player_id (a repartition),
  so each player has one owner however many workers run.
- ``disconnects``: accepted disconnects per region and one-minute tumbling window of
  occurred_at (key ``region|window start ms``, so a replay counts the same), fed through the
  ``disconnects`` topic keyed by region, so one worker counts all of a region's partitions.

Live concurrency is a view of the ``sessions`` table (see counters.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
import faust

from analytics.slo import load_slos
from projections.erasure import ErasedPlayers
from projections.live_index import PartitionCounters
from projections.recent import RecentSessions
from projections.slo_burn import BurnAlerts, SliTally, live_slis
from schemas.batch import BatchDecoder
from streams.disk_guard import DiskGuard
from streams.fold import agents, web
from streams.fold import faust_compat as compat
from streams.fold.erasing import ErasureQueue
from streams.fold.intake import LedgerApp
from streams.fold.metrics import Progress, WorkerMetrics
from streams.fold.options import WorkerOptions, app_id, repartition_topics
from streams.fold.stall import Stall
from streams.fold.table_writes import TableWriter
from streams.kafka.config import faust_credentials
from streams.kafka.deadletters.letter import WrittenLetters
from streams.kafka.deadletters.limit import LetterCount
from streams.kafka.replication import Replication
from streams.settings import Settings

PRODUCER_LINGER_S = 0.005
"""Table changelogs and internal topics get one produce request per batch, not per message."""
PRODUCER_BATCH_BYTES = 512 * 1024
PRODUCER_REQUEST_TIMEOUT_S = 30.0
"""How long a produce request (changelogs, repartition topics) may go unanswered before the
client gives up on it and sends the batch again; also how long the broker may hold it waiting
for the in-sync replicas (acks=all). A request caught in a leader change is retried within this
time; a fold waits for its sends, so this bounds how long a broker failure can stop the intake
(Faust's default is 1,200 s)."""
FETCH_BYTES = 4 * 1024 * 1024
"""Bytes fetched per partition and request."""
MANIFEST_BYTES = 1
"""Each table store's MANIFEST is rewritten at every flush or compaction, so it holds only the
files the store has now: the keys of deleted records (an erased player's id) leave with them.
A MANIFEST of a few files is a few hundred bytes; rewriting it costs nothing next to the flush."""

ROCKSDB_OPTIONS = {
    "write_buffer_size": 4 * 1024 * 1024,
    "max_write_buffer_number": 2,
    "block_cache_size": 4 * 1024 * 1024,
}
"""Memory of each RocksDB database (one per table and partition: 3 x 6 by default), at most
two 4 MiB write buffers and a 4 MiB block cache: 216 MiB for 18 databases.

Faust's defaults are a 64 MiB write buffer (up to 3 of them) and a 2 GiB block cache per
database, so a worker's memory grew with every session written until the buffers filled
(+39 MiB/min in a 10-minute soak). The records are small JSON documents read by key, the
live sessions' states are in memory already (recent.py), and the operating system's page
cache holds the files.
"""


@dataclass
class Ledger:
    """The app and everything its agents, timer and views share."""

    settings: Settings
    options: WorkerOptions
    partitions: int
    app: LedgerApp
    sessions: faust.Table
    players: faust.Table
    disconnects: faust.Table
    session_topic: faust.TopicT
    player_updates: faust.TopicT
    disconnect_topic: faust.TopicT
    ops_topic: faust.TopicT
    dead_letter_topic: faust.TopicT
    erasure_topic: faust.TopicT
    """The registry of erased players (streams/kafka/erasures.py), where receipts are sent."""
    metrics: WorkerMetrics = field(default_factory=WorkerMetrics)
    progress: Progress = field(default_factory=Progress)
    counters: PartitionCounters = field(default_factory=PartitionCounters)
    recent: RecentSessions = field(default_factory=RecentSessions)
    last_offsets: dict[int, int] = field(default_factory=dict)
    timeouts_sent: dict[str, str] = field(default_factory=dict)
    """The event_id of the last timeout verdict appended per session (not yet folded back)."""
    stalled: Stall | None = None
    """The intake's stall, while it lasts (stall.py)."""
    letters: LetterCount | None = None
    """Messages read and dead-lettered, against the dead-letter limit (set by build_app)."""
    lettered: WrittenLetters = field(default_factory=WrittenLetters)
    stall_reported_at: float = 0.0
    warnings: list[str] = field(default_factory=list)
    """Problems found at start that /health reports (e.g. an unreplicated session topic)."""
    decoder: BatchDecoder = field(default_factory=BatchDecoder)
    """Reads each run of the session topic at once (readers compiled once per writer schema)."""
    slis: SliTally = field(default_factory=lambda: SliTally(()))
    """Per-minute good/total of the SLOs judged live (projections/slo_burn.py)."""
    burns: BurnAlerts = field(default_factory=BurnAlerts)
    """The burn alerts open now."""
    disk: DiskGuard | None = None
    """Watches the filesystem of the tables (set by build_app for the RocksDB store; a worker
    keeping its tables in memory writes nothing there). The intake asks it (intake.py)."""
    erased: ErasedPlayers = field(default_factory=ErasedPlayers)
    """The erased players, kept current by the registry follower (run.py, erasing.py)."""
    erasures_due: ErasureQueue = field(default_factory=ErasureQueue)
    """Erasures learnt since the last timer tick, to apply to the tables."""
    receipts: list = field(default_factory=list)
    """The registry's receipts, kept current by the registry follower (erasing.py)."""
    session_writes: TableWriter = field(init=False)
    """Every write of ``sessions``: a run's records at once (table_writes.py)."""
    player_writes: TableWriter = field(init=False)
    """Every write of ``players``."""

    def __post_init__(self) -> None:
        self.session_writes = TableWriter(self.app, self.sessions, self.settings.session_topic)
        self.player_writes = TableWriter(self.app, self.players, self.player_updates.get_topic_name())
        self.app.table_writers = [self.session_writes, self.player_writes]


def build_app(settings: Settings, options: WorkerOptions, *, partitions: int,
              replication: Replication = Replication(factor=1, min_insync=1),
              warnings: list[str] | None = None) -> Ledger:
    """The worker's app with its tables, topics, agents, timer and HTTP views installed.

    ``partitions`` is the session topic's partition count; changelogs and repartition topics
    get the same count so the tables are co-partitioned with their source, and
    ``replication``'s factor and min.insync.replicas. ``warnings`` are shown by /health.
    """
    replicated = replication.topic_config()
    compat.roll_rocksdb_manifests(MANIFEST_BYTES)
    name = app_id(settings)
    datadir = options.datadir(settings)
    datadir.mkdir(parents=True, exist_ok=True)
    app = LedgerApp(
        name,
        broker=[f"kafka://{server.strip()}" for server in settings.bootstrap_servers.split(",")],
        store=f"{options.store}://",
        datadir=str(datadir),
        autodiscover=False,
        web_enabled=True,
        web_host=options.web_host,
        web_bind=options.web_host,
        web_port=options.web_port,
        canonical_url=options.url,
        topic_partitions=partitions,
        topic_replication_factor=replication.factor,
        topic_allow_declare=True,
        consumer_auto_offset_reset="earliest",
        broker_credentials=faust_credentials(settings),
        producer_acks=-1,
        producer_linger=PRODUCER_LINGER_S,
        producer_request_timeout=PRODUCER_REQUEST_TIMEOUT_S,
        producer_max_batch_size=PRODUCER_BATCH_BYTES,
        producer_compression_type="lz4",
        consumer_max_fetch_size=FETCH_BYTES,
        broker_commit_interval=1.0,
        table_standby_replicas=1,
        broker_session_timeout=10.0,
        broker_heartbeat_interval=2.0,
        stream_wait_empty=True,  # a rebalance waits for the run being folded (intake.py)
        web_in_thread=False,
    )
    raw = {"key_type": str, "key_serializer": "raw", "value_serializer": "raw"}
    session_topic = app.topic(settings.session_topic, partitions=partitions, **raw)
    ledger = Ledger(
        settings=settings,
        options=options,
        partitions=partitions,
        app=app,
        sessions=app.Table(
            "sessions", schema=_encoded(), value_type=bytes, options=dict(ROCKSDB_OPTIONS), extra_topic_configs=replicated,
            partitions=partitions, help="SessionState records keyed by session_id.",
        ),
        players=app.Table(
            "players", schema=_encoded(), value_type=bytes, options=dict(ROCKSDB_OPTIONS), extra_topic_configs=replicated,
            partitions=partitions, help="Player records keyed by player_id.",
        ),
        disconnects=app.Table(
            "disconnects", schema=_records(), options=dict(ROCKSDB_OPTIONS), extra_topic_configs=replicated,
            partitions=partitions,
            help="Accepted disconnects per 'region|minute start in epoch ms' (tumbling minutes of "
                 "occurred_at), keyed by region through the disconnects topic.",
        ),
        session_topic=session_topic,
        player_updates=app.topic(
            repartition_topics(settings)[0], partitions=partitions, internal=True,
            key_type=str, key_serializer="raw", value_serializer="json",
        ),
        disconnect_topic=app.topic(
            repartition_topics(settings)[1], partitions=partitions, internal=True,
            key_type=str, key_serializer="raw", value_serializer="json",
        ),
        ops_topic=app.topic(settings.ops_topic, **raw),
        dead_letter_topic=app.topic(settings.dead_letter_topic, **raw),
        erasure_topic=app.topic(settings.erasure_topic, **raw),
        counters=PartitionCounters(track_finished=options.finished_retention_s > 0),
        letters=LetterCount(settings.dead_letter_limit, "worker"),
        warnings=list(warnings or ()),
        slis=SliTally(live_slis(load_slos(settings.slo_file))),
        burns=BurnAlerts(min_events=options.burn_min_events),
        disk=DiskGuard(datadir, settings.disk_policy, "worker") if options.store == "rocksdb" else None,
    )
    app.disk_guard = ledger.disk
    agents.install(ledger)
    web.install(ledger)
    return ledger


def _records() -> faust.Schema:
    """Table records: keys as the raw id bytes (so they hash like the source), JSON values."""
    return faust.Schema(key_type=str, key_serializer="raw", value_serializer="json")


def _encoded() -> faust.Schema:
    """Table records the worker encodes itself (JSON bytes, made once per write and stored
    and sent to the changelog as they are; the table's ``value_type=bytes`` makes Faust pass
    them through). Keys are stored and sent as Faust's tables encode them, as JSON strings
    (table_writes.py writes the same bytes); each record's changelog partition is its source
    message's. Records written as ``_records()`` by earlier workers are JSON too, and read the
    same way."""
    return faust.Schema(key_type=str, key_serializer="raw", value_serializer="raw")
