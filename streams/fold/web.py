"""The worker's HTTP JSON API, on Faust's web server.

GET /sessions/{id} and /players/{id} are answered by the worker that owns the key's partition
(a request that reaches another worker is forwarded to the owner); /live/concurrency asks every worker
for the counters of the partitions it owns and adds them up; /health and /metrics describe
this worker.

Every view is guarded, in this order: a per-client token bucket (429 with Retry-After), the
bearer token when ``LEDGER_API_TOKEN`` is set (401; /health, and the UI's pages and
assets, which hold no data, stay open), then the path ids (400). The browser UI under /ui/ is
installed from streams/fold/ui/. A worker forwarding a request to its owner sends the token along. Handlers never
read a request body.
"""
from __future__ import annotations

import asyncio
import functools
import hmac
import logging
import math
import re
import time
from collections import OrderedDict
from typing import TYPE_CHECKING

import aiohttp
import orjson

from projections.live_index import merge
from projections.player_records import player_of
from projections.session_state import SessionState
from schemas.models import Platform
from streams.fold import faust_compat as compat
from streams.fold.agents import active_partitions
from streams.fold.errors import BadQuery, BadWorkerOption
from streams.fold.metrics import CONTENT_TYPE
from streams.fold.render import concurrency_document, player_document, session_document
from streams.kafka.partitioner import partition_of

if TYPE_CHECKING:
    from streams.fold.app import Ledger

log = logging.getLogger(__name__)

REGION = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
PLATFORMS = tuple(p.value for p in Platform)
BOOLEANS = {"true": True, "1": True, "false": False, "0": False}
FILTERS = ("region", "platform", "cross_play")
MAX_FILTER_LENGTH = 64
PEER_TIMEOUT_S = 3.0

ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
MAX_ID_LENGTH = 128
ID_EXPECTED = f"1 to {MAX_ID_LENGTH} characters of A-Z a-z 0-9 . _ : -"

BURST_S = 0.5  # a client may spend half a second's worth of requests at once ...
MIN_BURST = 10  # ... and never fewer than this many
MAX_CLIENTS = 10_000  # buckets kept; the least recently seen client is forgotten beyond this
CHALLENGE = 'Bearer realm="ledger"'
FORWARDED = "X-Ledger-Forwarded-By"  # the worker that forwarded a request to the key's owner


class RateLimit:
    """A token bucket per client: ``rate`` requests a second, up to ``burst`` at once.

    The clock is passed in, so the limit is the same arithmetic in a test as in the worker.
    """

    def __init__(self, rate: float, burst: float, max_clients: int = MAX_CLIENTS) -> None:
        self.rate = rate
        self.burst = burst
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    @classmethod
    def per_second(cls, rate: float) -> RateLimit:
        return cls(rate, max(MIN_BURST, rate * BURST_S))

    def wait_s(self, client: str, now: float) -> float:
        """Take one request from ``client``'s bucket: 0 if allowed, else seconds until it would be."""
        tokens, then = self._buckets.pop(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        wait = 0.0 if tokens >= 1 else (1 - tokens) / self.rate
        self._buckets[client] = (tokens - 1 if wait == 0 else tokens, now)
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return wait


def _not_found(view, kind: str, key: str):
    message = f"no {kind} with id {key!r} in the live state"
    if kind == "session":
        message += (" (a finished session leaves it after the worker's --finished-retention; "
                    f"its history: ledger replay session {key})")
    return view.json({"error": "not_found", "message": message}, status=404)


def _error(view, status: int, error: str, message: str, *, headers: dict | None = None, **extra):
    return view.json({"error": error, "message": message, **extra}, status=status, headers=headers)


def parse_filters(query) -> dict:
    """The concurrency filters of a query string; ``BadQuery`` for a value the API refuses."""
    for name in FILTERS:
        values = query.getall(name, [])
        if len(values) > 1:
            raise BadQuery(name, ",".join(v[:MAX_FILTER_LENGTH] for v in values[:3]), "the parameter once")
        if values and len(values[0]) > MAX_FILTER_LENGTH:
            raise BadQuery(name, values[0][:MAX_FILTER_LENGTH] + "...",
                           f"at most {MAX_FILTER_LENGTH} characters")
    region = query.get("region") or None
    if region is not None and not REGION.fullmatch(region):
        raise BadQuery("region", region, "a region name such as eu-west (lowercase, digits, '-')")
    platform = query.get("platform") or None
    if platform is not None and platform not in PLATFORMS:
        raise BadQuery("platform", platform, f"one of {', '.join(PLATFORMS)}")
    cross_play = query.get("cross_play") or None
    if cross_play is not None:
        if cross_play.lower() not in BOOLEANS:
            raise BadQuery("cross_play", cross_play, "true or false")
        cross_play = BOOLEANS[cross_play.lower()]
    return {"region": region, "platform": platform, "cross_play": cross_play}


def owner_of(ledger: Ledger, table, key: str) -> str | None:
    """The URL of the worker that owns ``key`` of ``table`` now (None while nobody does).

    A table key lives in the partition Kafka's partitioner gives it (the tables are
    co-partitioned with the topics that feed them), and the assignment says who owns that
    partition of the table's changelog.
    """
    partition = partition_of(key, ledger.partitions)
    changelog = table.changelog_topic.get_topic_name()
    for host, topics in ledger.app.router.tables_metadata().items():
        if partition in topics.get(changelog, ()):
            return str(host).rstrip("/")
    return None


def routed(ledger: Ledger, table, match: str):
    """Answer a request for one key here if this worker owns it, else forward it to the owner.

    Only the path travels (the id in it has been checked; these views read no query and no
    body), with this worker's token; the owner's status, Retry-After and body come back as they are.
    A forwarded request is never forwarded again (503 instead): while a rebalance settles, two
    workers may each name the other as the owner.
    """

    def decorate(handler):
        @functools.wraps(handler)
        async def route(view, request, **kwargs):
            owner = owner_of(ledger, table, request.match_info[match])
            if owner is None or owner == _own_url(ledger):
                return await handler(view, request, **kwargs)
            if FORWARDED in request.headers:
                return _error(view, 503, "owner_unavailable",
                              f"this worker was sent the request as the key's owner, but sees {owner} "
                              "owning it: the group is rebalancing; retry in a few seconds")
            try:
                async with ledger.app.http_client.get(
                    owner + request.path,
                    headers={**_peer_headers(ledger), FORWARDED: ledger.options.worker_id},
                    timeout=aiohttp.ClientTimeout(total=PEER_TIMEOUT_S),
                ) as response:
                    body = await response.read()
                    passed = {k: response.headers[k] for k in ("Retry-After",) if k in response.headers}
                    return view.bytes(body, content_type=response.content_type, status=response.status,
                                      headers=passed or None)
            except (aiohttp.ClientError, asyncio.TimeoutError) as error:
                return view.json({
                    "error": "owner_unavailable",
                    "message": f"the worker owning this key ({owner}) did not answer ({error}); "
                               "retry once the group has rebalanced",
                }, status=503)

        return route

    return decorate


def _own_url(ledger: Ledger) -> str:
    return str(ledger.app.conf.canonical_url).rstrip("/")


def _api_token(ledger: Ledger) -> str | None:
    """The token the API requires (None: the API is open); an empty one is a mistake, not "open"."""
    secret = ledger.settings.api_token
    if secret is None:
        return None
    token = secret.get_secret_value()
    if not token.strip():
        raise BadWorkerOption("LEDGER_API_TOKEN", "", "a non-empty token (or leave it and "
                              "LEDGER_API_TOKEN_FILE unset to serve the API without one)")
    return token


def _peer_headers(ledger: Ledger) -> dict[str, str]:
    token = _api_token(ledger)
    return {} if token is None else {"Authorization": f"Bearer {token}"}


def _bearer(request) -> str | None:
    """The credentials of an ``Authorization: Bearer <token>`` header, or None without one."""
    scheme, _, credentials = request.headers.get("Authorization", "").strip().partition(" ")
    credentials = credentials.strip()
    return credentials if scheme.lower() == "bearer" and credentials else None


def _same_token(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"),
                               expected.encode("utf-8", "surrogateescape"))


def guarded(ledger: Ledger, limit: RateLimit, *, open_route: bool = False):
    """Refuse a request before its handler runs: too fast (429), no or a wrong token (401), bad ids (400).

    ``open_route`` views (/health) are rate-limited but need no token. Path parameters are ids:
    each must match ``ID``. Refusals never echo the token or an oversized id.
    """
    token = None if open_route else _api_token(ledger)

    def decorate(handler):
        @functools.wraps(handler)
        async def guard(view, request, **kwargs):
            client = request.remote or "unknown"
            wait = limit.wait_s(client, time.monotonic())
            if wait > 0:
                return _error(view, 429, "too_many_requests",
                              f"more than {limit.rate:g} requests a second from {client}; retry after the "
                              "Retry-After seconds", headers={"Retry-After": str(max(1, math.ceil(wait)))})
            if token is not None:
                given = _bearer(request)
                if given is None:
                    return _error(view, 401, "unauthorized",
                                  "this API needs an 'Authorization: Bearer <token>' header with the "
                                  "worker's LEDGER_API_TOKEN",
                                  headers={"WWW-Authenticate": CHALLENGE})
                if not _same_token(given, token):
                    log.warning("refused a request from %s: wrong bearer token", client)
                    return _error(view, 401, "unauthorized",
                                  "the bearer token is not this worker's LEDGER_API_TOKEN",
                                  headers={"WWW-Authenticate": CHALLENGE + ', error="invalid_token"'})
            for name, value in kwargs.items():
                if not ID.fullmatch(value):
                    shown = value if len(value) <= MAX_ID_LENGTH else f"{len(value)} characters"
                    return _error(view, 400, "bad_id",
                                  f"path parameter {name}={shown!r} is not accepted: expected {ID_EXPECTED}",
                                  parameter=name)
            return await handler(view, request, **kwargs)

        return guard

    return decorate


def install(ledger: Ledger) -> None:
    app = ledger.app
    limit = RateLimit.per_second(ledger.settings.api_max_requests_per_s)

    @app.page("/sessions/{session_id}")
    @guarded(ledger, limit)
    @routed(ledger, ledger.sessions, "session_id")
    async def get_session(view, request, session_id):
        record = ledger.sessions.get(session_id)
        if record is None:
            return _not_found(view, "session", session_id)
        return view.json(session_document(SessionState.from_bytes(record)))

    @app.page("/players/{player_id}")
    @guarded(ledger, limit)
    @routed(ledger, ledger.players, "player_id")
    async def get_player(view, request, player_id):
        record = ledger.players.get(player_id)
        if record is None:
            if ledger.erased.token_for(player_id) is not None:
                return _error(view, 410, "erased", "this player was erased: the ledger keeps "
                              "their sessions under an anonymous token and nothing under this id")
            return _not_found(view, "player", player_id)
        return view.json(player_document(player_of(orjson.loads(record))))

    @app.page("/live/concurrency")
    @guarded(ledger, limit)
    async def get_concurrency(view, request):
        try:
            filters = parse_filters(request.query)
        except BadQuery as error:
            return _error(view, 400, "bad_query", str(error), parameter=error.name)
        reports, missing = await gather_counters(ledger)
        document = concurrency_document(merge(reports), **filters)
        document["partitions"] = sorted({int(p) for r in reports for p in r})
        document["complete"] = not missing and len(document["partitions"]) == ledger.partitions
        return view.json(document)

    @app.page("/live/concurrency/local")
    @guarded(ledger, limit)
    async def get_local_counters(view, request):
        return view.json({"partitions": ledger.counters.partitions()})

    @app.page("/health")
    @guarded(ledger, limit, open_route=True)
    async def get_health(view, request):
        body = health(ledger)
        return view.json(body, status=200 if body["status"] == "ok" else 503)

    @app.page("/health/live")
    @guarded(ledger, limit, open_route=True)
    async def get_liveness(view, request):
        body = health(ledger)
        return view.json(body, status=503 if body["status"] == "stalled" else 200)

    @app.page("/metrics")
    @guarded(ledger, limit)
    async def get_metrics(view, request):
        refresh_gauges(ledger)
        return view.bytes(ledger.metrics.render(), content_type=CONTENT_TYPE.split(";")[0])

    from streams.fold.ui.views import install as install_ui

    install_ui(ledger, limit)


def health(ledger: Ledger) -> dict:
    """What /health and /health/live answer: ``status`` is ``disk_low`` while the disk guard holds
    the intake (with ``disk``: path, free_bytes, threshold_bytes), else ``stalled`` while the intake
    is stalled (with ``stalled``), else ``recovering`` until the tables are recovered and no
    rebalance is going on, else ``ok``."""
    app = ledger.app
    disk, stalled = ledger.disk, ledger.stalled
    held = disk is not None and disk.held
    status = "disk_low" if held else "stalled" if stalled else "ok" if app.settled else "recovering"
    body = {
        "status": status,
        "worker_id": ledger.options.worker_id,
        "partitions": sorted(active_partitions(ledger)),
        "rebalancing": bool(app.rebalancing),
        "recovered": app.tables.recovery.completed.is_set(),
        "warnings": ledger.warnings,
    }
    if held and disk.reading is not None:
        body["disk"] = disk.reading.as_dict()
    if stalled:
        body["stalled"] = {"seconds": round(stalled.quiet_s, 1), "waiting": stalled.waiting}
    return body


async def gather_counters(ledger: Ledger) -> tuple[list[dict], list[str]]:
    """Counter reports of every worker (this one's without a request); hosts that did not answer."""
    app = ledger.app
    own = _own_url(ledger)
    hosts = {str(host).rstrip("/") for host in app.router.tables_metadata()} - {own}
    reports = [ledger.counters.partitions()]
    missing: list[str] = []

    async def ask(host: str) -> None:
        try:
            async with app.http_client.get(
                f"{host}/live/concurrency/local", headers=_peer_headers(ledger),
                timeout=aiohttp.ClientTimeout(total=PEER_TIMEOUT_S),
            ) as response:
                reports.append((await response.json())["partitions"])
        except (aiohttp.ClientError, asyncio.TimeoutError, KeyError, ValueError) as error:
            log.warning("worker %s did not report its counters: %s", host, error)
            missing.append(host)

    await asyncio.gather(*(ask(host) for host in sorted(hosts)))
    return reports, missing


def refresh_gauges(ledger: Ledger) -> None:
    metrics = ledger.metrics
    actives = active_partitions(ledger)
    disk = ledger.disk
    if disk is not None and disk.reading is not None:
        metrics.disk_free.labels(disk.reading.path).set(disk.reading.free_bytes)
    metrics.disk_paused.set(1 if disk is not None and disk.held else 0)
    metrics.table_size.labels("sessions").set(table_keys(ledger.sessions))
    metrics.table_size.labels("players").set(table_keys(ledger.players))
    consumer = ledger.app.consumer
    for partition in actives:
        tp = next(
            (tp for tp in ledger.app.assignor.assigned_actives()
             if tp.topic == ledger.settings.session_topic and tp.partition == partition), None)
        highwater = consumer.highwater(tp) if tp is not None else None
        if highwater is None:
            continue
        read = ledger.last_offsets.get(partition)
        metrics.lag.labels(str(partition)).set(max(0, highwater - (0 if read is None else read + 1)))


def table_keys(table) -> int:
    """Keys a table holds here, without reading them: a scrape must not walk every session.

    RocksDB keeps an estimate per partition database (exact after compaction, close before);
    the memory store counts its dict.
    """
    store = table.data
    databases = compat.rocksdb_databases(store)
    if databases is None:
        return len(store.data)
    return sum(db.property_int_value("rocksdb.estimate-num-keys") or 0 for db in list(databases.values()))
