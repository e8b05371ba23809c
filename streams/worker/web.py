"""The worker's HTTP JSON API, on Faust's web server.

GET /sessions/{id} and /players/{id} are answered by the worker that owns the key's partition
(a request that reaches another worker is forwarded to the owner); /live/concurrency asks every worker
for the counters of the partitions it owns and adds them up; /health and /metrics describe
this worker.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import re
from typing import TYPE_CHECKING

import aiohttp

from projections.session_state import SessionState
from schemas.models import Platform
from streams.worker.agents import active_partitions
from streams.worker.counters import merge, partition_of
from streams.worker.errors import BadQuery
from streams.worker.metrics import CONTENT_TYPE
from streams.worker.players import player_of
from streams.worker.render import concurrency_document, player_document, session_document

if TYPE_CHECKING:
    from streams.worker.app import Ledger

log = logging.getLogger(__name__)

REGION = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
PLATFORMS = tuple(p.value for p in Platform)
BOOLEANS = {"true": True, "1": True, "false": False, "0": False}
PEER_TIMEOUT_S = 3.0


def _not_found(view, kind: str, key: str):
    return view.json(
        {"error": "not_found", "message": f"no {kind} with id {key!r} in the ledger"}, status=404,
    )


def parse_filters(query) -> dict:
    """The concurrency filters of a query string; ``BadQuery`` for a value the API refuses."""
    region = query.get("region") or None
    if region is not None and not REGION.match(region):
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
    """Answer a request for one key here if this worker owns it, else forward it to the owner."""

    def decorate(handler):
        @functools.wraps(handler)
        async def route(view, request, **kwargs):
            owner = owner_of(ledger, table, request.match_info[match])
            if owner is None or owner == _own_url(ledger):
                return await handler(view, request, **kwargs)
            try:
                async with ledger.app.http_client.get(
                    owner + request.path_qs, timeout=aiohttp.ClientTimeout(total=PEER_TIMEOUT_S),
                ) as response:
                    body = await response.read()
                    return view.bytes(body, content_type=response.content_type, status=response.status)
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


def install(ledger: Ledger) -> None:
    app = ledger.app

    @app.page("/sessions/{session_id}")
    @routed(ledger, ledger.sessions, "session_id")
    async def get_session(view, request, session_id):
        record = ledger.sessions.get(session_id)
        if record is None:
            return _not_found(view, "session", session_id)
        return view.json(session_document(SessionState.from_dict(record)))

    @app.page("/players/{player_id}")
    @routed(ledger, ledger.players, "player_id")
    async def get_player(view, request, player_id):
        record = ledger.players.get(player_id)
        if record is None:
            return _not_found(view, "player", player_id)
        return view.json(player_document(player_of(record)))

    @app.page("/live/concurrency")
    async def get_concurrency(view, request):
        try:
            filters = parse_filters(request.query)
        except BadQuery as error:
            return view.json({"error": "bad_query", "message": str(error)}, status=400)
        reports, missing = await _gather_counters(ledger)
        document = concurrency_document(merge(reports), **filters)
        document["partitions"] = sorted({int(p) for r in reports for p in r})
        document["complete"] = not missing and len(document["partitions"]) == ledger.partitions
        return view.json(document)

    @app.page("/live/concurrency/local")
    async def get_local_counters(view, request):
        return view.json({"partitions": ledger.counters.partitions()})

    @app.page("/health")
    async def get_health(view, request):
        recovered = app.tables.recovery.completed.is_set()
        ready = recovered and not app.rebalancing
        return view.json({
            "status": "ok" if ready else "recovering",
            "worker_id": ledger.options.worker_id,
            "partitions": sorted(active_partitions(ledger)),
            "rebalancing": bool(app.rebalancing),
            "recovered": recovered,
        }, status=200 if ready else 503)

    @app.page("/metrics")
    async def get_metrics(view, request):
        _refresh_gauges(ledger)
        return view.bytes(ledger.metrics.render(), content_type=CONTENT_TYPE.split(";")[0])


async def _gather_counters(ledger: Ledger) -> tuple[list[dict], list[str]]:
    """Counter reports of every worker (this one's without a request); hosts that did not answer."""
    app = ledger.app
    own = _own_url(ledger)
    hosts = {str(host).rstrip("/") for host in app.router.tables_metadata()} - {own}
    reports = [ledger.counters.partitions()]
    missing: list[str] = []

    async def ask(host: str) -> None:
        try:
            async with app.http_client.get(
                f"{host}/live/concurrency/local", timeout=aiohttp.ClientTimeout(total=PEER_TIMEOUT_S),
            ) as response:
                reports.append((await response.json())["partitions"])
        except (aiohttp.ClientError, asyncio.TimeoutError, KeyError, ValueError) as error:
            log.warning("worker %s did not report its counters: %s", host, error)
            missing.append(host)

    await asyncio.gather(*(ask(host) for host in sorted(hosts)))
    return reports, missing


def _refresh_gauges(ledger: Ledger) -> None:
    metrics = ledger.metrics
    actives = active_partitions(ledger)
    metrics.table_size.labels("sessions").set(sum(1 for _ in ledger.sessions.keys()))
    metrics.table_size.labels("players").set(sum(1 for _ in ledger.players.keys()))
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
