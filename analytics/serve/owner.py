"""Who owns the embedded warehouse of a state directory, and opening it as its owner.

The owner is the one process holding the chDB directory. It serves reads (analytics/serve/server.py)
and says so in ``<state_dir>/warehouse-owner.json``: its pid, role, the URL it listens on, the
chDB path and since when. Every other process reads that record to send its reads there.

Roles: ``sink`` (``ledger sink``, or ``ledger worker --with-sink``) and ``standalone``
(``ledger warehouse serve``, which ``ledger stack up --warehouse-owner`` starts so reads work
before any sink runs). A sink that finds a standalone owner asks it to stop (SIGTERM) and takes
the directory over; a standalone owner never takes it from a sink.
"""
from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import signal
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from analytics.migrate import migrate
from analytics.retention import WarehouseRetention
from analytics.warehouse import ChdbWarehouse, Params, Warehouse, open_warehouse

log = logging.getLogger("ledger.warehouse.owner")

OWNER_FILE = "warehouse-owner.json"
STANDALONE = "standalone"
SINK = "sink"
HANDOVER_WAIT_S = 30.0


@dataclass(frozen=True)
class Owner:
    """The owner record: which process holds the chDB directory and where it serves reads."""

    pid: int
    role: str
    url: str
    chdb_path: str
    started_at: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def owner_file(state_dir: Path) -> Path:
    return Path(state_dir) / OWNER_FILE


def read_owner(state_dir: Path) -> Owner | None:
    """The live owner of ``state_dir``'s warehouse, or None (no record, unreadable, or its
    process is gone: a record left by a killed owner is ignored)."""
    try:
        record = json.loads(owner_file(state_dir).read_text(encoding="utf-8"))
        owner = Owner(**{k: record[k] for k in Owner.__dataclass_fields__})
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return owner if _alive(owner.pid) else None


def held_by_another_process(chdb_path: Path) -> bool:
    """Whether another process holds ``chdb_path`` (ClickHouse's exclusive lock on its ``status``
    file). Probes without waiting; a directory never opened, or held by this process, is not."""
    status = Path(chdb_path) / "status"
    if _held_here(status):
        return False
    try:
        fd = os.open(status, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return True
        raise
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _held_here(status: Path) -> bool:
    """Whether this process has ``status`` open (its own chDB engine holds the lock)."""
    target = str(status.resolve())
    try:
        descriptors = os.listdir("/proc/self/fd")
    except OSError:
        return False
    for fd in descriptors:
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == target:
                return True
        except OSError:
            continue
    return False


def open_owned(settings: Any, role: str = SINK) -> Warehouse:
    """The configured warehouse, opened by its owner: with chDB, reads are served to other
    processes until it is closed. A ClickHouse server (``LEDGER_CLICKHOUSE_URL``) is opened as
    it is: it serves its own reads. The embedded warehouse is migrated before it is served.

    A ``sink`` takes the directory over from a standalone owner; if the directory is held by
    any other process, ``WarehouseUnavailable`` (the sink retries). If the HTTP interface cannot
    start, the warehouse is still returned (writing history comes first) and the reason logged.
    """
    url = settings.clickhouse_url.get_secret_value() if settings.clickhouse_url else None
    if url:
        return open_warehouse(url, settings.chdb_path)
    if role == SINK:
        _take_over_from_standalone(settings.state_dir)
    warehouse = ChdbWarehouse(settings.chdb_path)
    try:
        migrate(warehouse, retention=WarehouseRetention.from_settings(settings))  # before serving: a reader never meets a warehouse without its tables
    except BaseException:
        warehouse.close()
        raise
    try:
        return ServedWarehouse(warehouse, settings, role)
    except (OSError, RuntimeError) as error:
        log.error("the warehouse at %s is open but serves no reads to other processes: %s",
                  settings.chdb_path, error)
        return warehouse


class ServedWarehouse(Warehouse):
    """A chDB warehouse whose owner serves reads over HTTP while it is open; the record of the
    owner is written once the server listens and removed on ``close``."""

    def __init__(self, warehouse: ChdbWarehouse, settings: Any, role: str) -> None:
        from analytics.serve.server import ReadConnections, ReadLimits, ReadServer

        self.inner = warehouse
        self.state_dir = Path(settings.state_dir)
        self.connections = ReadConnections(warehouse.path, ReadLimits.from_settings(settings))
        try:
            self.server = ReadServer(self.connections, _token(settings), settings.warehouse_http_port)
        except OSError:
            self.connections.close()
            raise
        self.owner = Owner(pid=os.getpid(), role=role, url=self.server.url, chdb_path=str(warehouse.path),
                           started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
        _write_record(self.state_dir, self.owner)
        log.info("serving reads of %s at %s (role %s)", warehouse.path, self.server.url, role)

    @property
    def path(self) -> Path:
        return self.inner.path

    def report_status(self, status: Callable[[], dict[str, Any]]) -> None:
        """Serve ``status()`` (the sink's: ``{"status": "ok" | "disk_low", ...}``) at ``GET /status``
        of the owner's HTTP interface, beside the owner record."""
        if self.server is not None:
            self.server.status = lambda: {"role": self.owner.role, "pid": self.owner.pid, **status()}

    def execute(self, sql: str, params: Params = None, *, name: str = "statement") -> None:
        self.inner.execute(sql, params, name=name)

    def query(self, sql: str, params: Params = None, *, name: str = "query") -> list[dict[str, Any]]:
        return self.inner.query(sql, params, name=name)

    def query_table(self, sql: str, params: Params = None, *, name: str = "query") -> Any:
        return self.inner.query_table(sql, params, name=name)

    def release_memory(self) -> None:
        self.inner.release_memory()

    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                    dedup_token: str | None = None) -> int:
        return self.inner.insert_rows(table, columns, rows, dedup_token)

    def insert_columns(self, table: str, columns: Sequence[str], values: Sequence[Sequence[Any]],
                       dedup_token: str | None = None, millis: Iterable[str] = ()) -> int:
        return self.inner.insert_columns(table, columns, values, dedup_token, millis)

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.connections.close()
            _remove_record(self.state_dir, self.owner.pid)
            self.server = None
        self.inner.close()


def _token(settings: Any) -> str | None:
    """The API token (None: reads are open, as the worker's API is without one)."""
    if settings.api_token is None:
        return None
    token = settings.api_token.get_secret_value()
    if not token.strip():
        raise ValueError("LEDGER_API_TOKEN is empty: set a token, or unset it (and LEDGER_API_TOKEN_FILE) "
                         "to serve reads without one")
    return token


def _write_record(state_dir: Path, owner: Owner) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    path = owner_file(state_dir)
    temporary = path.with_name(f".{path.name}.{owner.pid}")
    temporary.write_text(json.dumps(owner.as_dict(), indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def _remove_record(state_dir: Path, pid: int) -> None:
    """Remove the record if it still names ``pid`` (a newer owner's record stays)."""
    try:
        if json.loads(owner_file(state_dir).read_text(encoding="utf-8")).get("pid") == pid:
            owner_file(state_dir).unlink()
    except (OSError, ValueError):
        return


def _take_over_from_standalone(state_dir: Path) -> None:
    owner = read_owner(state_dir)
    if owner is None or owner.role != STANDALONE or owner.pid == os.getpid():
        return
    log.info("asking the standalone warehouse owner (pid %d) to hand the warehouse over", owner.pid)
    try:
        os.kill(owner.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + HANDOVER_WAIT_S
    while _alive(owner.pid) and time.monotonic() < deadline:
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie holds nothing
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return False
