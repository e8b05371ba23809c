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
    """The configured warehouse (chDB or a server), migrated, closed on exit."""
    from analytics.migrate import migrate as apply_migrations
    from analytics.warehouse import open_warehouse

    with open_warehouse(clickhouse_url(settings), settings.chdb_path) as warehouse:
        if migrate:
            apply_migrations(warehouse)
        yield warehouse
