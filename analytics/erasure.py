"""Erasure in the history: an erased player's rows rewritten in place, anonymised, not deleted.

    receipt = erase_history(warehouse, erasure, pepper=settings.pepper)
    receipts = erase_histories(warehouse, erasures, pepper=settings.pepper)   # several at once

An erasure removes who the player was, not that the sessions happened (projections/erasure.py):
so the history keeps every row and rewrites the personal fields of the erased player's rows,

- ``session_events``: ``player_id`` becomes the erasure's token; ``party_id``, ``trace_id`` and
  ``matchmaking_ticket`` become NULL;
- ``sessions`` (the per-session summary folded by ``sessions_mv``): ``player_id`` becomes the token.

No other table or view holds a player id or a link to one: ``session_minute_rollup`` counts by
region and platform, ``ops_events`` and its views hold incidents, deploys and fleets, and the
dead letters stay on their Kafka topic. Because the rows stay, with the same token for all of a
player's rows, every count, MTTR, churn, unique-player figure and rollup reads the same after an
erasure as before.

The rewrite is a ClickHouse mutation (``ALTER TABLE ... UPDATE``), one per table for a whole set
of erasures, waited for (``system.mutations`` polled until it is done: a server runs mutations in
the background). It finds the rows by the erasure key computed in
SQL from ``player_id`` (the same bytes as ``erasure_key``), never by the id: ClickHouse keeps
each mutation's text on disk and in ``system.mutations``, so a predicate ``player_id = 'id'``
would leave the id there. The mutation writes new parts; the parts holding the old values are
inactive at once and deleted from disk after ``old_parts_lifetime`` by the table's cleanup: the
receipt's ``last_copy_by`` is that bound. Each applied erasure is recorded in ``erasures``
(migration 0010), keys and tokens only. Applying an erasure again rewrites nothing: its rows
hold the token, whose key matches no erasure.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterable, Sequence

from analytics.sql import query_text
from analytics.errors import QueryFailed
from analytics.warehouse import Warehouse
from projections.erasure import BadErasure, Erasure, Receipt, erasure_key

LAYER = "history"
TABLES = ("session_events", "sessions")
"""The tables that hold personal data, in the order they are rewritten."""
DEFAULT_PART_LIFETIME_S = 480
"""ClickHouse's default ``old_parts_lifetime``, used when the warehouse does not say."""
DEFAULT_CLEANUP_DELAY_S = 300
"""ClickHouse's default ``max_cleanup_delay_period``, likewise."""
DEFAULT_CLEANUP_RANDOM_S = 10
"""ClickHouse's default ``cleanup_delay_period_random_add``, likewise."""
MUTATION_TIMEOUT_S = 600.0
"""The longest an erasure waits for its mutations before it reports them unfinished."""


@dataclass(frozen=True)
class Applied:
    """One erasure as the warehouse's ``erasures`` table records it."""

    key: str
    token: str
    requested_at: datetime
    done_at: datetime
    removed: dict
    last_copy_by: datetime


def erase_history(warehouse: Warehouse, erasure: Erasure, *, pepper: bytes = b"",
                  player_id: str | None = None, instance: str = "warehouse",
                  now: datetime | None = None) -> Receipt:
    """Anonymise ``erasure``'s player in every table of ``warehouse``; its history receipt.

    ``player_id``, when the caller knows it, is checked against the erasure's key (a mismatch
    is ``BadErasure``: the erasure is someone else's); the rows are still found by key, so the
    id never enters a statement. Raises ``QueryFailed`` / ``WarehouseUnavailable`` when the
    warehouse refuses or cannot be reached (nothing is recorded then; running it again is safe).
    """
    if player_id is not None and erasure_key(player_id, pepper) != erasure.key:
        raise BadErasure(f"erasure {erasure.token} is not the erasure of the player named "
                         "(its key differs): check the player id and LEDGER_ERASURE_PEPPER")
    (receipt,) = erase_histories(warehouse, [erasure], pepper=pepper, instance=instance, now=now)
    return receipt


def erase_histories(warehouse: Warehouse, erasures: Iterable[Erasure], *, pepper: bytes = b"",
                    instance: str = "warehouse", now: datetime | None = None) -> list[Receipt]:
    """Anonymise every player of ``erasures`` (one mutation per table that holds any of them),
    record each in ``erasures`` and return one receipt per erasure, in the order given.

    A table holding none of them is left alone, so erasures applied before cost one read.
    ``now`` stands in for the clock (the receipts' ``done_at``).
    """
    erasures = _unique(erasures)
    if not erasures:
        return []
    params = {"pepper_hex": pepper.hex(), "keys": ",".join(e.key for e in erasures),
              "tokens": ",".join(e.token for e in erasures)}
    counts = {table: held_rows(warehouse, table, params) for table in TABLES}
    for table in TABLES:
        if counts[table]:
            warehouse.execute(query_text("erasure", f"{table}_rewrite"), params,
                              name=f"erase players from {table}")
    wait_for_mutations(warehouse)
    done_at = now or datetime.now(timezone.utc)
    last_copy_by = done_at + part_lifetime(warehouse)
    receipts = []
    for erasure in erasures:
        removed = {table: counts[table].get(erasure.key, 0) for table in TABLES}
        warehouse.execute(query_text("erasure", "record"), {
            "key": erasure.key, "token": erasure.token, "requested_at": erasure.requested_at,
            "done_at": done_at, "session_events_rows": removed["session_events"],
            "sessions_rows": removed["sessions"], "last_copy_by": last_copy_by,
        }, name="record erasure")
        rewritten = any(removed.values())
        receipts.append(Receipt(
            key=erasure.key, layer=LAYER, instance=instance, done_at=done_at, removed=removed,
            last_copy_by=last_copy_by if rewritten else None,
            note=("rows anonymised in place: player_id -> token, party_id, trace_id and "
                  "matchmaking_ticket cleared; replaced parts deleted by last_copy_by"
                  if rewritten else "no row of this player held")))
    return receipts


def held_rows(warehouse: Warehouse, table: str, params: dict) -> dict[str, int]:
    """Rows of ``table`` still holding the id of each erased player, by key (none: absent)."""
    rows = warehouse.query(query_text("erasure", f"{table}_rows"), params,
                           name=f"count erased players' rows in {table}")
    return {row["key"]: int(row["rows"]) for row in rows}


def part_lifetime(warehouse: Warehouse) -> timedelta:
    """The longest a replaced part stays on disk: ``old_parts_lifetime`` plus the longest wait
    of the cleanup between runs (``max_cleanup_delay_period`` + ``cleanup_delay_period_random_add``),
    from the warehouse's settings."""
    seconds = {row["name"]: int(row["seconds"])
               for row in warehouse.query(query_text("erasure", "part_lifetime"),
                                          name="read part lifetime")}
    return timedelta(seconds=seconds.get("old_parts_lifetime", DEFAULT_PART_LIFETIME_S)
                     + seconds.get("max_cleanup_delay_period", DEFAULT_CLEANUP_DELAY_S)
                     + seconds.get("cleanup_delay_period_random_add", DEFAULT_CLEANUP_RANDOM_S))


def old_parts(warehouse: Warehouse) -> int:
    """Replaced parts of the rewritten tables still on disk (0: no old copy left)."""
    return int(warehouse.query(query_text("erasure", "old_parts"), name="count old parts")[0]["parts"])


def applied(warehouse: Warehouse) -> dict[str, Applied]:
    """The erasures ``warehouse`` has applied, by key (the latest run of each)."""
    return {row["key"]: Applied(key=row["key"], token=row["token"],
                                requested_at=row["requested_at"], done_at=row["done_at"],
                                removed={"session_events": int(row["session_events_rows"]),
                                         "sessions": int(row["sessions_rows"])},
                                last_copy_by=row["last_copy_by"])
            for row in warehouse.query(query_text("erasure", "applied"), name="read erasures applied")}


def receipt_of(record: Applied, instance: str) -> Receipt:
    """The history receipt an applied erasure gave (to send again when it was not recorded)."""
    rewritten = any(record.removed.values())
    return Receipt(key=record.key, layer=LAYER, instance=instance, done_at=record.done_at,
                   removed=dict(record.removed),
                   last_copy_by=record.last_copy_by if rewritten else None,
                   note="rows anonymised in place" if rewritten else "no row of this player held")


def wait_for_mutations(warehouse: Warehouse, timeout_s: float = MUTATION_TIMEOUT_S) -> None:
    """Return once no mutation of the rewritten tables is left to do; ``QueryFailed`` when one
    fails (with ClickHouse's reason) or is still running after ``timeout_s`` (it goes on in the
    background: calling again waits for it)."""
    deadline = time.monotonic() + timeout_s
    pause = 0.01
    while True:
        unfinished = warehouse.query(query_text("erasure", "unfinished_mutations"),
                                     name="check erasure mutations")
        if not unfinished:
            return
        first = unfinished[0]
        if first["latest_fail_reason"]:
            raise QueryFailed("erase players", f"mutation {first['mutation_id']} of {first['table']} "
                              f"failed: {first['latest_fail_reason']}")
        if time.monotonic() > deadline:
            raise QueryFailed("erase players", f"mutation {first['mutation_id']} of {first['table']} "
                              f"is still running after {timeout_s:.0f} s")
        time.sleep(pause)
        pause = min(pause * 2, 1.0)


def _unique(erasures: Iterable[Erasure]) -> Sequence[Erasure]:
    seen: dict[str, Erasure] = {}
    for erasure in erasures:
        seen.setdefault(erasure.key, erasure)
    return list(seen.values())
