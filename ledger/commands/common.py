"""What every `ledger` subcommand shares: exit codes, output, and opening the history."""
from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from typing import Iterator

import click
from rich.console import Console

from analytics.errors import redact_url
from schemas.errors import EXIT_FATAL, EXIT_INVALID_INPUT, EXIT_UNAVAILABLE

EXIT_FOUND_PROBLEMS = EXIT_FATAL
EXIT_BAD_INPUT = EXIT_INVALID_INPUT

err = Console(stderr=True)
"""Progress, spinners and errors: stderr, so stdout stays clean for --json."""
out = Console()
"""Results for people: tables and summaries."""


def print_json(payload) -> None:
    click.echo(json.dumps(payload, indent=2, default=str))


def fail(message: str, code: int = EXIT_UNAVAILABLE) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    sys.exit(code)


def clickhouse_url(settings) -> str | None:
    return settings.clickhouse_url.get_secret_value() if settings.clickhouse_url else None


def describe_history(settings) -> str:
    url = clickhouse_url(settings)
    return f"ClickHouse server {redact_url(url)}" if url else f"chDB at {settings.chdb_path}"


@contextmanager
def open_history(settings, *, migrate: bool = True) -> Iterator:
    """The configured warehouse (chDB or a server), migrated, closed on exit.

    When another process owns the embedded warehouse (the sink, or a standalone owner), reads go
    through it instead (``RemoteWarehouse``: reads only; its owner has migrated it).
    """
    from analytics.migrate import migrate as apply_migrations
    from analytics.warehouse import open_warehouse

    remote = through_owner(settings)
    if remote is not None:
        with remote:
            yield remote
        return
    with open_warehouse(clickhouse_url(settings), settings.chdb_path) as warehouse:
        if migrate:
            apply_migrations(warehouse)  # TTLs are the owners' and `warehouse migrate`'s: a read never alters
        yield warehouse


def through_owner(settings):
    """A ``RemoteWarehouse`` to the process that owns the embedded warehouse, or None when this
    process can open it itself (a server is configured, or nobody holds the chDB directory).

    ``WarehouseBusy`` when another process holds the directory without serving reads.
    """
    import os

    from analytics.errors import WarehouseBusy
    from analytics.serve.client import RemoteWarehouse
    from analytics.serve.owner import OWNER_FILE, held_by_another_process, read_owner

    if clickhouse_url(settings):
        return None
    owner = read_owner(settings.state_dir)
    if owner is not None and owner.pid != os.getpid() and owner.chdb_path == str(settings.chdb_path):
        err.print(f"[dim]reading through the warehouse's owner ({owner.role}, pid {owner.pid}) at {owner.url}[/]",
                  highlight=False)
        token = settings.api_token.get_secret_value() if settings.api_token else None
        return RemoteWarehouse(owner.url, token, timeout_s=settings.warehouse_query_timeout_s * 2 + 5)
    if held_by_another_process(settings.chdb_path):
        raise WarehouseBusy(str(settings.chdb_path), f"no owner in {settings.state_dir / OWNER_FILE}")
    return None
