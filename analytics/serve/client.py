"""Reads through the owner of the warehouse: ``RemoteWarehouse`` and ``formatted``.

``RemoteWarehouse`` is the read half of the ``Warehouse`` interface over the owner's HTTP
interface: rows come as Arrow (``FORMAT ArrowStream``) and become the same Python values
``ChdbWarehouse.query`` returns, so reports and replay run unchanged. Writes are refused.
"""
from __future__ import annotations

from typing import Any, Sequence

import requests

from analytics.errors import QueryFailed, ReadRefused, WarehouseUnavailable
from analytics.warehouse import Params, Warehouse, _utc, bind

CONNECT_TIMEOUT_S = 3.0


class RemoteWarehouse(Warehouse):
    """Reads of the warehouse owned by another process, at ``url`` (the owner record's)."""

    def __init__(self, url: str, token: str | None = None, timeout_s: float = 60.0) -> None:
        self.url = url.rstrip("/") + "/"
        self.timeout_s = timeout_s
        self._http = requests.Session()
        if token:
            self._http.headers["Authorization"] = f"Bearer {token}"

    def query(self, sql: str, params: Params = None, *, name: str = "query") -> list[dict[str, Any]]:
        import pyarrow.ipc as ipc

        body = self.formatted(f"{sql.rstrip().rstrip(';')}\nFORMAT ArrowStream", params, name=name)
        if not body:
            return []
        table = ipc.open_stream(body).read_all()
        return [{k: _utc(v) for k, v in row.items()} for row in table.to_pylist()]

    def query_table(self, sql: str, params: Params = None, *, name: str = "query") -> Any:
        import pyarrow as pa
        import pyarrow.ipc as ipc

        body = self.formatted(f"{sql.rstrip().rstrip(';')}\nFORMAT ArrowStream", params, name=name)
        if not body:
            return pa.table({})
        return ipc.open_stream(body).read_all()

    def formatted(self, sql: str, params: Params = None, *, name: str = "query",
                  fmt: str | None = None) -> bytes:
        """The query's output as the owner sends it, in ``fmt`` (or the query's FORMAT clause)."""
        parameters = {f"param_{k}": str(v) for k, v in bind(params).items()}
        if fmt:
            parameters["default_format"] = fmt
        try:
            response = self._http.post(self.url, params=parameters, data=sql.encode("utf-8"),
                                       timeout=(CONNECT_TIMEOUT_S, self.timeout_s))
        except requests.RequestException as error:
            raise WarehouseUnavailable(f"its owner at {self.url}", f"{name}: {error}") from error
        if response.status_code == 200:
            return response.content
        text = response.text.strip().splitlines()[0] if response.text.strip() else f"HTTP {response.status_code}"
        if response.status_code == 401:
            raise WarehouseUnavailable(f"its owner at {self.url}",
                                       f"{text} (this process's LEDGER_API_TOKEN is not the owner's)")
        if response.status_code in (400, 403, 413):
            code = response.headers.get("X-ClickHouse-Exception-Code", "0")
            raise ReadRefused(response.status_code, int(code) if code.isdigit() else 0,
                              _name_of(text), _message_of(text))
        raise QueryFailed(name, f"{text} (through the warehouse owner at {self.url})")

    def execute(self, sql: str, params: Params = None, *, name: str = "statement") -> None:
        raise ReadRefused(403, 164, "READONLY",
                          f"{name}: the warehouse is owned by another process; through it, only reads run")

    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                    dedup_token: str | None = None) -> int:
        raise ReadRefused(403, 164, "READONLY",
                          f"insert into {table}: the warehouse is owned by another process; only reads run")

    def close(self) -> None:
        self._http.close()


def _name_of(text: str) -> str:
    head, _, tail = text.rstrip().rpartition("(")
    return tail.rstrip(")") if head and tail.rstrip(")").isupper() else "UNKNOWN"


def _message_of(text: str) -> str:
    message = text.split("DB::Exception: ", 1)[-1]
    return message.rsplit(". (", 1)[0] if ". (" in message else message
