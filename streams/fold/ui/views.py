"""The UI's routes on the worker's web server (same port, same guard as the JSON API).

Pages and their assets hold no data and are served to anyone (a browser cannot send a bearer
token when it follows a link); everything they show comes from ``/ui/api/...``, which needs the
worker's ``LEDGER_API_TOKEN`` like every other view. The pages read the token from the URL's
fragment (``#token=...``, never sent to the server) or ask for it, and keep it in the tab's
session storage. Every response forbids loading anything from anywhere but this worker.

History reads block, so they run on a small thread pool of their own, never on the event loop
the folds run on. The history's modules (pyarrow, the replay) are imported on the first read:
a worker whose pages nobody opens does not carry them (about 60 MiB).
"""
from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import orjson

from analytics import charts
from analytics.errors import AnalyticsError, QueryFailed, ReadRefused, WarehouseUnavailable
from streams.fold.errors import BadQuery
from streams.fold.ui.live import burn_alerts, live_document, pipeline_health

if TYPE_CHECKING:
    from streams.fold.app import Ledger
    from streams.fold.web import RateLimit

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
PAGES = {"overview": "overview.html", "incident": "incident.html", "session": "session.html"}
OWN_ASSETS = ("ui.js", "ui.css")
CONTENT_TYPES = {".js": "application/javascript", ".css": "text/css", ".html": "text/html"}
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "connect-src 'self'; img-src 'self' data:; base-uri 'none'; "
                               "form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
HISTORY_THREADS = 2
OVERVIEW_CACHE_S = 2.0
"""An overview's history is read at most this often per filter, however many pages poll it."""


def _asset(name: str) -> tuple[bytes, str] | None:
    """An asset's bytes and content type, or None for a name that is not one."""
    if name in charts.ASSETS:
        text = charts.asset(name)
    elif name in OWN_ASSETS:
        text = (STATIC / name).read_text(encoding="utf-8")
    else:
        return None
    return text.encode("utf-8"), CONTENT_TYPES[Path(name).suffix]


def _json(view, document: Any, status: int = 200):
    body = orjson.dumps(document, default=_default, option=orjson.OPT_NON_STR_KEYS)
    return view.bytes(body, content_type="application/json", status=status, headers=dict(HEADERS))


def _default(value: Any) -> Any:
    if hasattr(value, "as_tuple"):  # Decimal
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def _review():
    """analytics.review, imported on first use."""
    from analytics import review

    return review


def _filters(query) -> tuple[str, str]:
    from streams.fold.web import parse_filters

    found = parse_filters(query)
    return found["region"] or "", found["platform"] or ""


def _history_error(error: AnalyticsError) -> dict[str, str]:
    kind = "unavailable" if isinstance(error, WarehouseUnavailable) else "failed"
    return {"error": f"history_{kind}", "message": str(error)}


class HistoryCache:
    """The last overview history per filter, kept ``OVERVIEW_CACHE_S`` seconds (monotonic clock)."""

    def __init__(self, ttl_s: float = OVERVIEW_CACHE_S) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}

    def get(self, key: tuple[str, str], now: float) -> dict[str, Any] | None:
        entry = self._entries.get(key)
        return entry[1] if entry is not None and now - entry[0] < self.ttl_s else None

    def put(self, key: tuple[str, str], now: float, document: dict[str, Any]) -> None:
        if len(self._entries) > 256:
            self._entries.clear()
        self._entries[key] = (now, document)


def install(ledger: Ledger, limit: RateLimit) -> None:
    """Add the UI's routes to the worker's app."""
    from streams.fold.web import _error, guarded

    app = ledger.app
    pool = ThreadPoolExecutor(max_workers=HISTORY_THREADS, thread_name_prefix="ledger-ui-history")
    cache = HistoryCache()

    async def read_history(read: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
        def in_thread() -> dict[str, Any]:
            from streams.fold.ui.history import history_reader

            with history_reader(ledger.settings) as warehouse:
                return read(warehouse)

        return await asyncio.get_running_loop().run_in_executor(pool, in_thread)

    def page(name: str):
        async def serve(view, request, **kwargs):
            body = (STATIC / PAGES[name]).read_bytes()
            return view.bytes(body, content_type="text/html", headers=dict(HEADERS))
        return serve

    for path, name in (("/ui", "overview"), ("/ui/", "overview"), ("/ui/incidents/{incident_id}", "incident"),
                       ("/ui/sessions/{session_id}", "session")):
        app.page(path, name=f"ui-{name}-{path.count('/')}-{path.endswith('/')}")(
            guarded(ledger, limit, open_route=True)(page(name)))

    @app.page("/ui/static/{name}")
    @guarded(ledger, limit, open_route=True)
    async def get_asset(view, request, name):
        found = _asset(name)
        if found is None:
            return _error(view, 404, "not_found", f"no UI asset named {name!r}")
        body, content_type = found
        return view.bytes(body, content_type=content_type, headers=dict(HEADERS))

    @app.page("/ui/api/overview")
    @guarded(ledger, limit)
    async def get_overview(view, request):
        try:
            region, platform = _filters(request.query)
        except BadQuery as error:
            return _error(view, 400, "bad_query", str(error), parameter=error.name)
        document: dict[str, Any] = {
            "filters": {"region": region, "platform": platform},
            "now": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
            "live": await live_document(ledger, region, platform),
            "pipeline": pipeline_health(ledger),
            "slo_alerts": burn_alerts(ledger),
        }
        key, now = (region, platform), time.monotonic()
        history = cache.get(key, now)
        if history is None:
            try:
                history = await read_history(
                    lambda w: _review().overview_review(w, datetime.now(timezone.utc), region, platform))
                cache.put(key, now, history)
            except AnalyticsError as error:
                history = _history_error(error)
        document["history"] = history
        return _json(view, document)

    @app.page("/ui/api/incidents/{incident_id}")
    @guarded(ledger, limit)
    async def get_incident(view, request, incident_id):
        try:
            region, platform = _filters(request.query)
        except BadQuery as error:
            return _error(view, 400, "bad_query", str(error), parameter=error.name)
        return await _answer(view, lambda w: _review().incident_review(w, incident_id, region, platform))

    @app.page("/ui/api/sessions/{session_id}")
    @guarded(ledger, limit)
    async def get_session_history(view, request, session_id):
        return await _answer(view, lambda w: _review().session_review(w, session_id))

    async def _answer(view, read: Callable[[Any], dict[str, Any]]):
        from analytics.replay.errors import NothingToReplay

        try:
            return _json(view, await read_history(read))
        except NothingToReplay as error:
            return _json(view, {"error": "not_found", "message": str(error)}, status=404)
        except (WarehouseUnavailable, ReadRefused, QueryFailed) as error:
            log.warning("the UI could not read the history: %s", error)
            return _json(view, _history_error(error), status=503)
