"""The owner's HTTP server: ClickHouse's HTTP interface, read-only, over the embedded warehouse.

Each query runs on one of a small pool of chDB connections opened on the owner's own data
directory with ``readonly=1`` and the owner's bounds (``max_execution_time``,
``max_result_rows``, ``max_result_bytes``, ``max_threads``) as connection settings. ClickHouse
itself refuses writes, DDL and any change of a setting on them, so a query cannot lift its own
bounds. chDB runs queries of different connections in parallel with the sink's inserts and
releases the GIL while it works (docs/warehouse.md, "Reading while the sink writes"); the pool's
size is how many reads run at once, and a read waits at most its time limit for a connection.

The server listens on 127.0.0.1 only, one thread per request (``ThreadingHTTPServer``).
``GET /ping`` answers ``Ok.`` as ClickHouse's does; ``GET /status`` answers the owner's state as
JSON (a sink's disk guard and figures), 503 unless it is ``ok``; neither needs the token.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit

from analytics.errors import ReadRefused
from analytics.serve.protocol import MAX_QUERY_BYTES, ReadRequest, check_token, read_request

log = logging.getLogger("ledger.warehouse.serve")

HOST = "127.0.0.1"
SERVER_NAME = "session-ledger"


@dataclass(frozen=True)
class ReadLimits:
    """What one read may take: seconds, result rows and bytes; how many reads run at once and
    with how many threads each. From ``LEDGER_WAREHOUSE_*`` settings (streams/settings.py)."""

    timeout_s: float = 30.0
    max_result_rows: int = 1_000_000
    max_result_bytes: int = 100_000_000
    concurrent: int = 1
    threads: int = 1
    nice: int = 19
    """The scheduling niceness of the threads that run reads: the sink's threads (nice 0) come first."""

    @classmethod
    def from_settings(cls, settings: Any) -> ReadLimits:
        return cls(timeout_s=settings.warehouse_query_timeout_s,
                   max_result_rows=settings.warehouse_max_result_rows,
                   max_result_bytes=settings.warehouse_max_result_bytes,
                   concurrent=settings.warehouse_concurrent_reads,
                   threads=settings.warehouse_read_threads, nice=settings.warehouse_read_nice)

    def connection_settings(self) -> str:
        """The settings every read connection is opened with (a chDB connection-string query)."""
        return "&".join([
            # optimize_aggregation_in_order: as the replay queries ask (under readonly=1 a query may
            # only name a setting at the value its connection already has)
            "readonly=1", "optimize_aggregation_in_order=1", f"max_threads={self.threads}", f"os_thread_priority={self.nice}", f"max_execution_time={self.timeout_s:g}",
            "timeout_overflow_mode=throw", f"max_result_rows={self.max_result_rows}",
            f"max_result_bytes={self.max_result_bytes}", "result_overflow_mode=throw",
        ])


class ReadConnections:
    """A pool of read-only chDB connections on ``path`` (the directory this process holds)."""

    def __init__(self, path: Path, limits: ReadLimits) -> None:
        from chdb.state import sqlitelike

        self.limits = limits
        self._idle: queue.Queue = queue.Queue()
        for _ in range(limits.concurrent):
            connection = sqlitelike.connect(f"{path}?{limits.connection_settings()}")
            self._idle.put([connection, "default"])
        self._all = list(self._idle.queue)

    def run(self, request: ReadRequest) -> bytes:
        """The query's output in its format; ``ReadRefused`` (503) when no connection frees up
        within the time limit; ``RuntimeError`` with ClickHouse's message when the query fails."""
        try:
            held = self._idle.get(timeout=self.limits.timeout_s)
        except queue.Empty:
            raise ReadRefused(503, 202, "TOO_MANY_SIMULTANEOUS_QUERIES",
                              f"{self.limits.concurrent} read(s) already running for "
                              f"{self.limits.timeout_s:g}s; try again later") from None
        try:
            connection, database = held
            if database != request.database:
                connection.query(f"USE {request.database}", "TabSeparated")
                held[1] = request.database
            result = connection.query(request.sql, request.format, params=dict(request.params) or None)
            return result.bytes()
        finally:
            self._idle.put(held)

    def close(self) -> None:
        """Close every connection once no read holds it (a read still running after its time
        limit and a grace second is left to the process's exit)."""
        for _ in range(len(self._all)):
            try:
                connection, _database = self._idle.get(timeout=self.limits.timeout_s + 1)
            except queue.Empty:
                log.warning("a read outlived its time limit while the owner closed; its connection is left open")
                break
            connection.close()
        self._all = []


class ReadServer:
    """The HTTP server over ``connections``, started in a daemon thread; ``close`` stops it."""

    def __init__(self, connections: ReadConnections, token: str | None, port: int = 0) -> None:
        self.connections = connections
        self.token = token
        self.status: Callable[[], dict[str, Any]] = lambda: {"status": "ok"}
        """What ``GET /status`` answers (the owner's process state: a sink reports its disk guard);
        503 unless its ``status`` is ``ok``."""
        self._httpd = _bind(port, self)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="ledger-warehouse-http",
                                        kwargs={"poll_interval": 0.2}, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def _bind(port: int, owner: ReadServer) -> ThreadingHTTPServer:
    """Listen on ``port`` (0: any free one); a port in use falls back to a free one, logged."""
    handler = type("ReadHandler", (_Handler,), {"owner": owner})
    try:
        server = ThreadingHTTPServer((HOST, port), handler)
    except OSError as error:
        if port == 0:
            raise
        server = ThreadingHTTPServer((HOST, 0), handler)
        log.warning("port %d is taken (%s): the warehouse's HTTP interface listens on %d instead "
                    "(`ledger stack status` shows it)", port, error.strerror, server.server_address[1])
    server.daemon_threads = True
    return server


class _Handler(BaseHTTPRequestHandler):
    owner: ReadServer
    server_version = SERVER_NAME
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._answer(b"")

    def do_POST(self) -> None:  # noqa: N802
        body = self._body()
        if body is None:
            self._refuse(ReadRefused(413, 62, "SYNTAX_ERROR", f"the query is over {MAX_QUERY_BYTES} bytes"))
            self.close_connection = True
            return
        self._answer(body)

    def _body(self) -> bytes | None:
        """The request body (Content-Length or chunked), or None once it passes MAX_QUERY_BYTES."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks, size = [], 0
            while True:
                length = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if length == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                size += length
                if size > MAX_QUERY_BYTES:
                    return None
                chunks.append(self.rfile.read(length))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_QUERY_BYTES:
            return None
        return self.rfile.read(length) if length else b""

    def _answer(self, body: bytes) -> None:
        url = urlsplit(self.path)
        parameters = dict(parse_qsl(url.query, keep_blank_values=True))
        if url.path in ("/ping", "/") and not body and "query" not in parameters:
            self._send(200, b"Ok.\n", "text/plain; charset=UTF-8")
            return
        if url.path == "/status" and not body:
            status = self.owner.status()
            self._send(200 if status.get("status") == "ok" else 503, json.dumps(status).encode() + b"\n",
                       "application/json")
            return
        if url.path not in ("/", ""):
            self._refuse(ReadRefused(404, 0, "UNKNOWN", f"There is no handle {url.path}: use /, /ping or /status"))
            return
        query_id = parameters.get("query_id") or str(uuid.uuid4())
        started = time.perf_counter()
        _yield_to_the_sink(self.owner.connections.limits.nice)
        try:
            check_token(self.owner.token, self.headers, parameters)
            request = read_request(parameters, body)
            output = self.owner.connections.run(request)
        except ReadRefused as refusal:
            self._refuse(refusal, query_id)
            return
        except RuntimeError as error:  # ClickHouse's own refusal or failure of the query
            text = str(error).strip()
            self._send(500, (text + "\n").encode(), "text/plain; charset=UTF-8",
                       {"X-ClickHouse-Exception-Code": _code_of(text), "X-ClickHouse-Query-Id": query_id})
            return
        log.debug("read %s: %d bytes in %.3fs", query_id, len(output), time.perf_counter() - started)
        self._send(200, output, request.content_type,
                   {"X-ClickHouse-Format": request.format, "X-ClickHouse-Query-Id": query_id,
                    "X-ClickHouse-Timezone": "UTC"})

    def _refuse(self, refusal: ReadRefused, query_id: str = "") -> None:
        headers = {"X-ClickHouse-Exception-Code": str(refusal.code)}
        if query_id:
            headers["X-ClickHouse-Query-Id"] = query_id
        if refusal.status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="ledger"'
        self._send(refusal.status, refusal.body.encode(), "text/plain; charset=UTF-8", headers)

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-ClickHouse-Server-Display-Name", SERVER_NAME)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        """One DEBUG line per request, without the URL's query (it may carry ``password=``)."""
        log.debug("%s %s %s -> %s", self.address_string(), self.command, urlsplit(self.path).path, code)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        log.debug("%s %s", self.address_string(), format % args)


def _yield_to_the_sink(nice: int) -> None:
    """Raise this request thread's niceness (Linux schedules threads on their own): a read with
    ``max_threads=1`` runs in the thread that asks for it, so the owner's other work (the sink's
    decode and inserts, at nice 0) gets the CPU first. Raising it needs no privilege."""
    if nice <= 0:
        return
    tid = threading.get_native_id()
    current = os.getpriority(os.PRIO_PROCESS, tid)
    if current < nice:
        os.setpriority(os.PRIO_PROCESS, tid, nice)


def _code_of(text: str) -> str:
    head = text.removeprefix("Code: ").split(".", 1)[0]
    return head if head.isdigit() else "0"
