"""Where the UI reads the history from, opened per read and closed after it.

With ``LEDGER_CLICKHOUSE_URL`` the ClickHouse server answers. With the embedded warehouse the
reads go to the process that owns it (its record in ``<state_dir>/warehouse-owner.json``), even
when that is this very process (``ledger worker --with-sink``): chDB is never opened a second
time here, and a worker that is no owner never takes the directory from a sink. Without an owner
the history is unavailable (``WarehouseUnavailable``), and the pages say how to start one.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from analytics.errors import WarehouseUnavailable
from analytics.serve.client import RemoteWarehouse
from analytics.serve.owner import read_owner
from analytics.warehouse import ServerWarehouse, Warehouse

READ_TIMEOUT_S = 30.0


@contextmanager
def history_reader(settings: Any) -> Iterator[Warehouse]:
    """The history for one read (blocking: call it off the event loop)."""
    url = settings.clickhouse_url.get_secret_value() if settings.clickhouse_url else None
    if url:
        warehouse: Warehouse = ServerWarehouse(url)
    else:
        owner = read_owner(settings.state_dir)
        if owner is None or owner.chdb_path != str(settings.chdb_path):
            raise WarehouseUnavailable(
                f"chDB at {settings.chdb_path}",
                "no process serves its reads: start `ledger sink`, `ledger worker --with-sink`, or "
                "`ledger stack up --warehouse-owner`")
        token = settings.api_token.get_secret_value() if settings.api_token else None
        warehouse = RemoteWarehouse(owner.url, token, timeout_s=READ_TIMEOUT_S)
    try:
        yield warehouse
    finally:
        warehouse.close()
