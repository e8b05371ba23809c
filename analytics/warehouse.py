"""The warehouse: one small interface over chDB (embedded, on disk) and a ClickHouse server.

Both backends run the same SQL. Values never enter SQL text: statements use ClickHouse's own
``{name:Type}`` placeholders and ``bind`` turns Python values into the text ClickHouse parses
for each type. Rows go in bulk: chDB receives one Arrow IPC stream per batch (the fastest path
measured, see docs/warehouse.md); the server receives clickhouse-driver's native columnar blocks.

chDB holds ONE data directory per process: a second ``ChdbWarehouse`` with a different path
fails until the first is closed. Tests therefore open one warehouse per test in its own
temporary directory and close it at teardown.
"""
from __future__ import annotations

import logging
import re
from abc import ABC, abstractmethod
from datetime import date, datetime, timedelta, timezone
from enum import Enum
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from analytics.errors import QueryFailed, WarehouseUnavailable, redact_url
from analytics.resident import release_library_pages

log = logging.getLogger(__name__)

Params = Mapping[str, Any] | None
_TOKEN = re.compile(r"^[A-Za-z0-9._:/@=+-]{1,200}$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Warehouse(ABC):
    """Where the ledger's history lives. Statements are ClickHouse SQL with ``{name:Type}`` params."""

    @abstractmethod
    def execute(self, sql: str, params: Params = None, *, name: str = "statement") -> None:
        """Run a statement that returns no rows (DDL, INSERT ... SELECT, OPTIMIZE)."""

    @abstractmethod
    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                    dedup_token: str | None = None) -> int:
        """Insert rows (tuples in ``columns`` order) as one block; returns how many were sent.

        With ``dedup_token`` a repeat of the same block under the same token is dropped by
        ClickHouse (see docs/warehouse.md). Returns the row count sent.
        """

    def insert_columns(self, table: str, columns: Sequence[str], values: Sequence[Sequence[Any]],
                       dedup_token: str | None = None, millis: Iterable[str] = ()) -> int:
        """Insert one block given as columns (``values[i]`` holds column ``columns[i]``, all of
        one length); the columns named in ``millis`` hold timestamps as integer milliseconds
        since the epoch (or None). Dedup as ``insert_rows``; returns the row count sent.

        This one turns the block back into rows; a backend with a columnar input overrides it.
        """
        converted = [tuple(None if v is None else _from_millis(v) for v in column)
                     if name in set(millis) else column for name, column in zip(columns, values)]
        return self.insert_rows(table, columns, list(zip(*converted)), dedup_token=dedup_token)

    @abstractmethod
    def query(self, sql: str, params: Params = None, *, name: str = "query") -> list[dict[str, Any]]:
        """Rows as dicts with native Python values (datetimes are timezone-aware UTC)."""

    @abstractmethod
    def query_table(self, sql: str, params: Params = None, *, name: str = "query") -> Any:
        """The result as a ``pyarrow.Table``: columns, not rows, for readers of many rows."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection or the embedded engine. Safe to call twice."""

    def release_memory(self) -> None:
        """Give back memory the engine freed but keeps for reuse; nothing where the engine is
        another process (a server manages its own)."""

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_warehouse(url: str | None, path: Path) -> Warehouse:
    """A server warehouse when ``url`` is set (``clickhouse://user:pw@host:9000/db``), else chDB at ``path``."""
    if url:
        return ServerWarehouse(url)
    return ChdbWarehouse(path)


# --- the one place where Python values become ClickHouse parameter text ---------------------


def bind(params: Params) -> dict[str, Any]:
    """Parameter values as ClickHouse parses them for ``{name:Type}`` placeholders.

    Datetimes become ``YYYY-MM-DD hh:mm:ss.fff`` in UTC (naive ones are refused), enums their
    value, bools 0/1; strings and numbers pass as they are (ClickHouse parses them by the
    declared type, so no quoting or escaping happens here). ``None`` is refused: the queries
    use ``''`` for "no filter" instead of a nullable parameter.
    """
    bound: dict[str, Any] = {}
    for key, value in (params or {}).items():
        if not _IDENTIFIER.match(key):
            raise ValueError(f"parameter name {key!r} is not an identifier")
        bound[key] = _param_value(key, value)
    return bound


def _param_value(key: str, value: Any) -> Any:
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"parameter {key!r} is a naive datetime; pass it in UTC with tzinfo")
        value = value.astimezone(timezone.utc)
        return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (str, int, float)):
        return value
    raise ValueError(f"parameter {key!r} has unsupported type {type(value).__name__}")


def check_dedup_token(token: str) -> str:
    """A dedup token is a setting value inside the INSERT text, so only a safe alphabet passes."""
    if not _TOKEN.match(token):
        raise ValueError(
            f"dedup token {token!r} must be 1-200 characters of letters, digits and ._:/@=+- "
            "(e.g. 'session-events/3/1200-1399')")
    return token


def check_identifier(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"{name!r} is not a table or column name")
    return name


def _from_millis(value: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=value)


def _utc(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc)
    return value


# --- chDB ----------------------------------------------------------------------------------


class ChdbWarehouse(Warehouse):
    """ClickHouse in-process (chDB), data on disk at ``path``.

    One chDB data directory per process: opening a second path while this one is open raises
    ``WarehouseUnavailable``; close this one first.
    """

    _loaded = False
    """Whether this process has loaded chDB's library and given back the pages loading touched."""

    def __init__(self, path: Path | str) -> None:
        first = not ChdbWarehouse._loaded
        if first:  # the pages other libraries mapped at import, so the peak is not theirs plus chDB's
            release_library_pages()
        from chdb import session

        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        try:
            self._session = session.Session(str(self.path))
        except RuntimeError as exc:
            raise WarehouseUnavailable(f"chDB path {self.path}", _first_line(exc)) from exc
        if first:  # loading and opening touch far more of the library than queries use again
            ChdbWarehouse._loaded = True
            release_library_pages()
        self._arrow_types: dict[str, dict[str, Any]] = {}

    def execute(self, sql: str, params: Params = None, *, name: str = "statement") -> None:
        self._run(sql, params, name, "CSV")

    def query(self, sql: str, params: Params = None, *, name: str = "query") -> list[dict[str, Any]]:
        table = self._run(sql, params, name, "ArrowTable")
        return [{k: _utc(v) for k, v in row.items()} for row in table.to_pylist()]

    def query_table(self, sql: str, params: Params = None, *, name: str = "query") -> Any:
        return self._run(sql, params, name, "ArrowTable")

    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                    dedup_token: str | None = None) -> int:
        if not rows:
            return 0
        return self.insert_columns(table, columns, list(zip(*rows)), dedup_token)

    def insert_columns(self, table: str, columns: Sequence[str], values: Sequence[Sequence[Any]],
                       dedup_token: str | None = None, millis: Iterable[str] = ()) -> int:
        """One Arrow array per column, typed from ``DESCRIBE TABLE`` (Arrow takes epoch
        milliseconds for a ``DateTime64(3)`` column as they are, so ``millis`` needs no
        conversion), read by ClickHouse in place through chDB's ``Python()`` table function:
        no Arrow IPC stream is written or copied."""
        if not values or not len(values[0]):
            return 0
        import pyarrow as pa

        check_identifier(table)
        types = self._types_of(table)
        arrays = []
        for name, column in zip(columns, values, strict=True):
            if name not in types:
                raise QueryFailed(f"insert into {table}", f"table {table} has no column {name!r}")
            arrays.append(pa.array(column, type=types[name]))
        block = pa.table(arrays, names=list(columns))  # noqa: F841 -- read by name below
        # optimize_on_insert = 0: a block is stored as sent, its own duplicates collapsing in
        # merges and under FINAL like duplicates across blocks (docs/warehouse.md, "Duplicates")
        # instead of being replaced while the insert sorts it; that saves a quarter of the insert.
        statement = (f"INSERT INTO {table} ({', '.join(map(check_identifier, columns))}) "
                     "SETTINGS optimize_on_insert = 0")
        if dedup_token is not None:
            statement += f", insert_deduplication_token = '{check_dedup_token(dedup_token)}'"
        if self._session is None:
            raise QueryFailed(f"insert into {table}", f"the chDB warehouse at {self.path} is closed")
        try:  # Python(block) names the local variable above: chDB looks it up in this frame
            self._session.query(f"{statement} SELECT * FROM Python(block)")
        except RuntimeError as exc:
            raise QueryFailed(f"insert into {table}", _first_line(exc)) from exc
        return len(values[0])

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def release_memory(self) -> None:
        """Hand the engine's freed pages back now (jemalloc keeps them for seconds otherwise,
        adding up over a run of queries: docs/warehouse.md, "Memory"). An engine built without
        jemalloc refuses the statement; its memory is then the allocator's to manage, and the
        query that asked goes on."""
        try:
            self.execute("SYSTEM JEMALLOC PURGE", name="release memory")
        except QueryFailed as refused:
            log.debug("chDB kept its freed memory: %s", refused)

    def _run(self, sql: str, params: Params, name: str, fmt: str) -> Any:
        if self._session is None:
            raise QueryFailed(name, f"the chDB warehouse at {self.path} is closed")
        try:
            return self._session.query(sql, fmt, params=bind(params) or None)
        except RuntimeError as exc:
            raise QueryFailed(name, _first_line(exc)) from exc

    def _types_of(self, table: str) -> dict[str, Any]:
        if table not in self._arrow_types:
            described = self.query("DESCRIBE TABLE {table:Identifier}", {"table": table},
                                   name=f"describe {table}")
            self._arrow_types[table] = {c["name"]: arrow_type(c["type"]) for c in described}
        return self._arrow_types[table]


def arrow_type(clickhouse_type: str) -> Any:
    """The Arrow type that chDB reads into a column of ``clickhouse_type`` (the types the DDL uses)."""
    import pyarrow as pa

    inner = clickhouse_type
    for wrapper in ("Nullable(", "LowCardinality("):
        if inner.startswith(wrapper):
            inner = inner[len(wrapper):-1]
    if inner.startswith("Array("):
        return pa.list_(arrow_type(inner[len("Array("):-1]))
    if inner.startswith("DateTime64"):
        return pa.timestamp("ms", tz="UTC")
    simple = {
        "String": pa.string(), "Bool": pa.bool_(), "UInt8": pa.uint8(), "UInt16": pa.uint16(),
        "UInt32": pa.uint32(), "UInt64": pa.uint64(), "Int8": pa.int8(), "Int16": pa.int16(),
        "Int32": pa.int32(), "Int64": pa.int64(), "Float32": pa.float32(), "Float64": pa.float64(),
        "DateTime": pa.timestamp("s", tz="UTC"), "Date": pa.date32(),
    }
    if inner in simple:
        return simple[inner]
    raise QueryFailed("insert", f"no Arrow mapping for column type {clickhouse_type}")


def _first_line(exc: BaseException) -> str:
    """The part of an error worth showing: a server's own reason, else the first line."""
    from clickhouse_driver.errors import ServerException

    if isinstance(exc, ServerException):  # str() is "Code: N.\n<reason>. Stack trace: ..."
        reason = exc.message.split(". Stack trace:", 1)[0]
        return f"Code: {exc.code}. {' '.join(reason.split())}"
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --- ClickHouse server (native protocol) ------------------------------------------------------


class ServerWarehouse(Warehouse):
    """A ClickHouse server through clickhouse-driver (native protocol, server-side parameters)."""

    def __init__(self, url: str) -> None:
        from clickhouse_driver import Client
        from clickhouse_driver.errors import Error as DriverError

        self.where = redact_url(url)
        try:
            self._client = Client.from_url(url)
            self._client.client_settings["server_side_params"] = True
            self._client.execute("SELECT 1")
        except (DriverError, OSError, EOFError, ValueError) as exc:  # server, socket, protocol; a URL it cannot read
            raise WarehouseUnavailable(self.where, _first_line(exc)) from exc

    def execute(self, sql: str, params: Params = None, *, name: str = "statement") -> None:
        self._run(name, sql, bind(params))

    def query(self, sql: str, params: Params = None, *, name: str = "query") -> list[dict[str, Any]]:
        rows, columns = self._run(name, sql, bind(params), with_column_types=True)
        names = [column[0] for column in columns]
        return [{k: _utc(v) for k, v in zip(names, row)} for row in rows]

    def query_table(self, sql: str, params: Params = None, *, name: str = "query") -> Any:
        import pyarrow as pa

        columns, types = self._run(name, sql, bind(params), columnar=True, with_column_types=True)
        names = [column[0] for column in types]
        if not columns:
            columns = [[] for _ in names]
        return pa.table([pa.array([_utc(v) for v in column]) for column in columns], names=names)

    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                    dedup_token: str | None = None) -> int:
        if not rows:
            return 0
        check_identifier(table)
        statement = f"INSERT INTO {table} ({', '.join(map(check_identifier, columns))}) VALUES"
        settings = {}
        if dedup_token is not None:
            settings["insert_deduplication_token"] = check_dedup_token(dedup_token)
        self._run(f"insert into {table}", statement, list(rows), settings=settings)
        return len(rows)

    def close(self) -> None:
        self._client.disconnect()

    def _run(self, name: str, sql: str, params: Iterable[Any] | dict[str, Any], **kwargs: Any) -> Any:
        """Run one statement; a lost or refused connection is ``WarehouseUnavailable`` (the
        client connects again on the next statement), anything the server says ``QueryFailed``."""
        from clickhouse_driver.errors import Error as DriverError, NetworkError, SocketTimeoutError

        try:
            return self._client.execute(sql, params, **kwargs)
        except (NetworkError, SocketTimeoutError, OSError, EOFError) as exc:
            self._client.disconnect()
            raise WarehouseUnavailable(self.where, f"{name}: {_first_line(exc)}") from exc
        except DriverError as exc:
            raise QueryFailed(name, f"{_first_line(exc)} (server {self.where})") from exc
