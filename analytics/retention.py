"""How long the warehouse keeps its rows: TTLs from the settings, brought to the tables after every migrate.

- ``session_events`` keeps raw heartbeats ``heartbeat_days`` and every other (lifecycle) event
  ``lifecycle_days``;
- ``sessions`` and ``session_minute_rollup`` keep their rows ``lifecycle_days``: they are filled
  by materialized views at insert time, so a heartbeat that leaves ``session_events`` leaves
  the per-session instants and the per-minute figures (latency quantiles included) as they were;
- the ops tables (``ops_events``, ``incidents``, ``deploys``, ...) keep everything for ever.

0 days means for ever (no TTL rule). The values are settings, so they are not written into a
numbered migration (landed migrations never change, and a warehouse migrated by a process
without settings would start deleting at values nobody chose): ``apply_retention`` reads each
table's TTL from the engine (``system.tables``) and runs ``ALTER TABLE ... MODIFY TTL`` only
where it differs, so running it again changes nothing. The same SQL runs on chDB and on a
ClickHouse server. ClickHouse then deletes expired rows in background merges; a changed TTL is
materialized on the existing parts at once (``materialize_ttl_after_modify``), which rewrites
them: on a large table that is a long mutation, run once per change.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from analytics.warehouse import Warehouse

HEARTBEAT = "heartbeat"
"""The event type whose raw rows expire first."""

_SESSION_EVENTS = "session_events"
_ROLLUPS = {"sessions": "toDateTime(last_event_at)", "session_minute_rollup": "minute"}
"""Rolled-up tables and the instant each row's age is taken from."""

_DAYS = re.compile(r"toIntervalDay\((\d+)\)|INTERVAL (\d+) DAY", re.IGNORECASE)


@dataclass(frozen=True)
class WarehouseRetention:
    """Days each kind of row stays (0: for ever)."""

    heartbeat_days: int = 30
    lifecycle_days: int = 3 * 365

    @classmethod
    def from_settings(cls, settings) -> "WarehouseRetention":
        return cls(heartbeat_days=settings.heartbeat_ttl_days, lifecycle_days=settings.lifecycle_ttl_days)

    def ttl_clauses(self) -> dict[str, str | None]:
        """Table -> the TTL clause it should carry (None: no TTL, rows stay for ever)."""
        rules = []
        if self.heartbeat_days > 0:
            rules.append(f"toDateTime(occurred_at) + INTERVAL {int(self.heartbeat_days)} DAY DELETE "
                         f"WHERE event_type = '{HEARTBEAT}'")
        if self.lifecycle_days > 0:
            rules.append(f"toDateTime(occurred_at) + INTERVAL {int(self.lifecycle_days)} DAY DELETE")
        clauses: dict[str, str | None] = {_SESSION_EVENTS: ", ".join(rules) or None}
        for table, instant in _ROLLUPS.items():
            clauses[table] = (f"{instant} + INTERVAL {int(self.lifecycle_days)} DAY DELETE"
                              if self.lifecycle_days > 0 else None)
        return clauses


@dataclass(frozen=True)
class TtlChange:
    """One table whose TTL ``apply_retention`` changed: ``before`` / ``after`` as the engine shows them
    (None: no TTL)."""

    table: str
    before: str | None
    after: str | None

    def as_dict(self) -> dict[str, str | None]:
        return {"table": self.table, "before": self.before, "after": self.after}


def read_ttls(warehouse: Warehouse) -> dict[str, str | None]:
    """Table -> its TTL clause as the engine holds it (None: none), for every table of the
    current database that stores rows (views and the migrations record excluded)."""
    rows = warehouse.query(
        "SELECT name, engine_full FROM system.tables WHERE database = currentDatabase() "
        "AND engine LIKE '%MergeTree' AND name != 'schema_migrations' ORDER BY name", name="read table TTLs")
    return {row["name"]: ttl_of(row["engine_full"]) for row in rows}


def ttl_of(engine_full: str) -> str | None:
    """The TTL clause of an ``engine_full`` (what follows `` TTL `` up to `` SETTINGS``), or None."""
    _, found, rest = engine_full.partition(" TTL ")
    if not found:
        return None
    return rest.split(" SETTINGS ", 1)[0].strip() or None


def _shape(clause: str | None) -> tuple[tuple[int, ...], bool]:
    """What decides whether two TTL clauses keep the same rows: their day counts in order, and
    whether a rule is limited to heartbeats. Compared instead of the text, which each engine
    version formats its own way (``INTERVAL 30 DAY`` is shown as ``toIntervalDay(30)``)."""
    if not clause:
        return (), False
    days = tuple(int(a or b) for a, b in _DAYS.findall(clause))
    return days, f"event_type = '{HEARTBEAT}'" in clause


def pending_changes(current: dict[str, str | None], retention: WarehouseRetention) -> dict[str, str | None]:
    """Table -> the TTL clause to set (None: remove the TTL), for the tables whose TTL differs from
    ``retention``; tables absent from ``current`` (not migrated yet) are left out. Pure."""
    return {table: wanted for table, wanted in retention.ttl_clauses().items()
            if table in current and _shape(current[table]) != _shape(wanted)}


def apply_retention(warehouse: Warehouse, retention: WarehouseRetention) -> list[TtlChange]:
    """Bring the TTLs of the session tables to ``retention``; return what changed (empty: all already
    were). Idempotent; ``QueryFailed`` from the engine is raised as it is."""
    current = read_ttls(warehouse)
    changes = []
    for table, wanted in pending_changes(current, retention).items():
        statement = f"ALTER TABLE {table} MODIFY TTL {wanted}" if wanted else f"ALTER TABLE {table} REMOVE TTL"
        warehouse.execute(statement, name=f"retention of {table}")
        changes.append(TtlChange(table, current[table], read_ttls(warehouse).get(table)))
    return changes
