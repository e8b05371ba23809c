"""Numbered DDL files applied in order, each once, recorded in ``schema_migrations``.

A migration is ``analytics/migrations/NNNN_name.sql``: statements separated by a line that
ends in ``;``. Its SHA-256 is stored when it is applied; if a landed file later differs,
``migrate`` refuses to go on (add a new numbered file instead of editing an old one).
"""
from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from analytics.errors import MigrationError, QueryFailed
from analytics.warehouse import Warehouse

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_LEDGER_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations
(
    version     UInt32,                    -- the file's number
    name        String,                    -- the file's name
    checksum    String,                    -- SHA-256 of the file as applied
    applied_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY version
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    def statements(self) -> list[str]:
        """The file split at lines ending in ``;``, comment-only chunks dropped."""
        chunks, current = [], []
        for line in self.sql.splitlines():
            current.append(line)
            if line.rstrip().endswith(";"):
                chunks.append("\n".join(current).rstrip().rstrip(";"))
                current = []
        chunks.append("\n".join(current))
        return [chunk.strip() for chunk in chunks if _has_code(chunk)]


def _has_code(chunk: str) -> bool:
    return any(line.strip() and not line.strip().startswith("--") for line in chunk.splitlines())


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files in number order; refuses stray names and repeated numbers."""
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise MigrationError(
                f"{path} is not named NNNN_lower_case_name.sql; rename it so its order is clear")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"{path.name} and {found[version].name} share number {version:04d}")
        found[version] = Migration(version, path.name, path.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


MIN_ENGINE_VERSION = (22, 8)
"""The oldest ClickHouse the migrations run on (DateTime64, Bool, dedup windows, query parameters)."""


def _require_recent_engine(warehouse: Warehouse) -> None:
    version = str(warehouse.query("SELECT version() AS v", name="engine version")[0]["v"])
    numbers = tuple(int(part) for part in version.split(".")[:2] if part.isdigit())
    if numbers < MIN_ENGINE_VERSION:
        wanted = ".".join(map(str, MIN_ENGINE_VERSION))
        raise MigrationError(
            f"ClickHouse {version} is too old for the ledger's tables (needs {wanted} or newer); "
            "upgrade the server, or unset LEDGER_CLICKHOUSE_URL to use the embedded chDB")


def migrate(warehouse: Warehouse, directory: Path = MIGRATIONS_DIR, retention=None) -> list[str]:
    """Apply the migrations not yet recorded, in order; returns the names applied (empty: no-op).

    With ``retention`` (an ``analytics.retention.WarehouseRetention``, from the settings), then
    bring the tables' TTLs to it (``apply_retention``: idempotent, logged); without, TTLs stay
    as they are.
    """
    migrations = load_migrations(directory)
    _require_recent_engine(warehouse)
    warehouse.execute(_LEDGER_TABLE, name="create schema_migrations")
    applied = {
        row["version"]: row
        for row in warehouse.query("SELECT version, name, checksum FROM schema_migrations",
                                   name="read schema_migrations")
    }
    for migration in migrations:
        landed = applied.get(migration.version)
        if landed is not None and landed["checksum"] != migration.checksum:
            raise MigrationError(
                f"migration {migration.name} changed after it was applied as {landed['name']} "
                f"(checksum {landed['checksum'][:12]}... now {migration.checksum[:12]}...). "
                "Landed migrations never change: restore the file and add a new numbered one")
    done = []
    for migration in migrations:
        if migration.version in applied:
            continue
        for number, statement in enumerate(migration.statements(), start=1):
            try:
                warehouse.execute(statement, name=f"{migration.name} statement {number}")
            except QueryFailed as exc:
                raise MigrationError(
                    f"migration {migration.name} failed at statement {number}: {exc}. "
                    "Statements use IF NOT EXISTS, so fix the cause and run migrate again") from exc
        warehouse.insert_rows("schema_migrations", ["version", "name", "checksum"],
                              [(migration.version, migration.name, migration.checksum)])
        done.append(migration.name)
    if retention is not None:
        from analytics.retention import apply_retention

        for change in apply_retention(warehouse, retention):
            log.info("TTL of %s: %s -> %s", change.table, change.before or "none", change.after or "none")
    return done
