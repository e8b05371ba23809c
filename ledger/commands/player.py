"""`ledger player erase|erasures`: a player's right to erasure, carried out in every layer.

Exit codes: 0 every layer confirmed; 2 bad input; 3 the erasure is recorded but some layer has
not confirmed it within --wait (it applies it when it next runs), or Kafka is unreachable.
"""
from __future__ import annotations

import sys
import time
from datetime import datetime, timedelta, timezone

import click
from rich.table import Table

from ledger.commands.common import EXIT_UNAVAILABLE, err, out, print_json


@click.group("player")
def player() -> None:
    """Players' personal data: erase one player from every layer, list the erasures.

    \b
    Example:
      ledger player erase 3f6c2a9e-8d41-4b7e-9a55-0c2e1f7b6d13 --reason "request 2026-118"
      ledger player erasures
    """


@player.command("erase")
@click.argument("player_id")
@click.option("--reason", default="", help="Why (a request number): kept with the erasure, never the id.")
@click.option("--wait", "wait_s", default=120.0, show_default=True, type=click.FloatRange(0),
              help="Seconds to wait for the worker(s) and the history to confirm.")
@click.option("--json", "as_json", is_flag=True, help="Print the receipt as JSON.")
@click.pass_obj
def erase(settings, player_id, reason, wait_s, as_json) -> None:
    """Erase PLAYER_ID: record it, wait for every layer to confirm, print the receipt.

    The player's sessions stay, under a random token (`erased-…`), so every count and rollup is
    unchanged; their id, party, trace and matchmaking ticket leave every copy the ledger can
    edit: the worker's tables (changelog tombstones), the history (rewritten in place), and
    whatever a later replay, rebuild or sink writes (each reader consults the registry). The
    topics cannot be edited: the receipt says when their last copy is deleted by retention.
    Erasing the same player again changes nothing and prints the receipt again.

    \b
    Example:
      ledger player erase 3f6c2a9e-8d41-4b7e-9a55-0c2e1f7b6d13 --reason "request 2026-118"
      ledger player erase p-1042 --wait 0 --json
    """
    from projections.erasure import Erasure
    from streams.kafka.erasures import record_erasure

    requested = Erasure.new(player_id, settings.pepper, reason=reason)
    last_event_at = _last_event_at(settings, requested.key)
    erasure = record_erasure(settings, requested)
    again = erasure.token != requested.token
    err.print(f"erasure {'already recorded' if again else 'recorded'}: token {erasure.token}",
              highlight=False)
    _erase_history_here(settings, erasure, player_id)
    receipts, partitions = _wait_for_receipts(settings, erasure, wait_s)
    document = receipt_document(settings, erasure, receipts, partitions, last_event_at)
    if as_json:
        print_json(document)
    else:
        _print_receipt(document)
    if document["pending"]:
        err.print(f"[yellow]not yet confirmed[/]: {', '.join(document['pending'])}; each applies the "
                  "erasure when it next runs (the registry is read before any event)", highlight=False)
        sys.exit(EXIT_UNAVAILABLE)


@player.command("erasures")
@click.option("--json", "as_json", is_flag=True, help="Print them as JSON.")
@click.pass_obj
def erasures(settings, as_json) -> None:
    """List every erasure (token, when, reason) and the layers that confirmed it. No player ids
    are kept anywhere, so none is shown.

    \b
    Example:
      ledger player erasures --json
    """
    from streams.kafka.erasures import read_registry

    erased, receipts = read_registry(settings)
    by_key: dict[str, list] = {}
    for receipt in receipts:
        by_key.setdefault(receipt.key, []).append(receipt)
    rows = [{"token": e.token, "requested_at": e.requested_at.isoformat(), "reason": e.reason,
             "confirmed_by": sorted({f"{r.layer}:{r.instance}" for r in by_key.get(e.key, [])})}
            for e in sorted(erased.erasures(), key=lambda e: e.requested_at)]
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"{len(rows)} erasure(s) in {settings.erasure_topic}")
    for column in ("token", "requested at", "reason", "confirmed by"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["token"], row["requested_at"], row["reason"], "\n".join(row["confirmed_by"]))
    out.print(table)


def _last_event_at(settings, key: str) -> datetime | None:
    """When the history saw the player's last event (the topics keep it until then plus retention).
    The player is found by the erasure key, so the id never reaches a query log."""
    from analytics.sql import query_text
    from ledger.commands.common import open_history
    from schemas.errors import LedgerError

    try:
        with open_history(settings) as warehouse:
            rows = warehouse.query(query_text("erasure", "last_event"),
                                   {"key": key, "pepper_hex": settings.pepper.hex()},
                                   name="last event of the player")
    except (LedgerError, ValueError) as error:
        err.print(f"[dim]history not read for the player's last event ({error})[/]", highlight=False)
        return None
    last = rows[0]["last"] if rows else None
    if last is None:
        return None
    return last if last.tzinfo else last.replace(tzinfo=timezone.utc)


def _erase_history_here(settings, erasure, player_id: str) -> None:
    """Rewrite the history from this process when it can open the warehouse itself (a server, or
    an embedded warehouse no sink holds); otherwise its owner, the sink, does it."""
    from ledger.commands.common import clickhouse_url, open_history, through_owner

    if not clickhouse_url(settings) and through_owner(settings) is not None:
        return
    from analytics.erasure import erase_history
    from streams.kafka.erasures import record_receipt

    with open_history(settings) as warehouse:
        receipt = erase_history(warehouse, erasure, pepper=settings.pepper, player_id=player_id,
                                instance="ledger player erase")
    record_receipt(settings, receipt)


def _wait_for_receipts(settings, erasure, wait_s: float):
    """The registry's receipts for ``erasure`` once the history and every session partition have
    confirmed, or when ``wait_s`` is over; and the session topic's partition count."""
    from streams.kafka.erasures import read_registry
    from streams.kafka.describe import partition_count

    partitions = partition_count(settings, settings.session_topic)
    deadline = time.monotonic() + wait_s
    while True:
        _, receipts = read_registry(settings)
        mine = [r for r in receipts if r.key == erasure.key]
        if not _pending(mine, partitions) or time.monotonic() >= deadline:
            return mine, partitions
        time.sleep(1.0)


def _pending(receipts, partitions: int) -> list[str]:
    covered = {p for r in receipts if r.layer == "worker" for p in r.partitions}
    pending = []
    if partitions and not covered >= set(range(partitions)):
        missing = sorted(set(range(partitions)) - covered)
        pending.append(f"worker tables (session partitions {', '.join(map(str, missing))})")
    if not any(r.layer == "history" for r in receipts):
        pending.append("history")
    return pending


def receipt_document(settings, erasure, receipts, partitions: int, last_event_at) -> dict:
    """The receipt: what was removed where, and when the last copy goes."""
    from streams.kafka.describe import topic_configs

    now = datetime.now(timezone.utc)
    layers = []
    for receipt in sorted(receipts, key=lambda r: (r.layer, r.instance)):
        layers.append({"layer": receipt.layer, "where": receipt.instance, "removed": receipt.removed,
                       "partitions": list(receipt.partitions), "done_at": receipt.done_at.isoformat(),
                       "last_copy_by": None if receipt.last_copy_by is None else receipt.last_copy_by.isoformat(),
                       "note": receipt.note})
    configs = topic_configs(settings)
    start = max(last_event_at or now, now)
    for name, role in _kafka_layers(settings, configs):
        config = configs[name]
        layers.append(_kafka_layer(name, role, config, start if role == "events" else now))
    document = {"token": erasure.token, "key": erasure.key, "requested_at": erasure.requested_at.isoformat(),
                "reason": erasure.reason,
                "player_last_event_at": None if last_event_at is None else last_event_at.isoformat(),
                "layers": layers, "pending": _pending(receipts, partitions)}
    dated = [layer["last_copy_by"] for layer in layers if layer["last_copy_by"]]
    never = [layer["where"] for layer in layers if layer.get("kept_for_ever")]
    document["last_copy_by"] = None if never or not dated else max(dated)
    document["kept_for_ever"] = never
    return document


def _kafka_layers(settings, configs: dict) -> list[tuple[str, str]]:
    from streams.fold.options import app_id

    prefix = app_id(settings)
    layers = [(settings.session_topic, "events"), (settings.dead_letter_topic, "letters")]
    layers += [(name, "handoff") for name in sorted(configs) if name == f"{prefix}-player-updates"]
    layers += [(name, "changelog") for name in sorted(configs)
               if name.startswith(prefix) and name.endswith("-changelog")]
    return [(name, role) for name, role in layers if name in configs]


_ROLES = {
    "events": "the player's events, with their id, until retention deletes their segments",
    "letters": "only if a message of theirs was dead-lettered: the letter keeps its bytes",
    "handoff": "player updates keyed by the id, until retention deletes their segments",
    "changelog": "old values and the tombstone's key, until compaction and delete.retention.ms",
}


def _kafka_layer(name: str, role: str, config: dict[str, str], start: datetime) -> dict:
    """When the last copy in topic ``name`` goes: a closed segment (segment.ms) past retention.ms
    for a deleting topic; for a compacted one, the next compaction (the active segment rolls,
    after min.compaction.lag.ms), then delete.retention.ms for the tombstone."""
    def ms(key: str, default: int) -> int:
        try:
            return int(config.get(key, default))
        except (TypeError, ValueError):
            return default

    segment = ms("segment.ms", 7 * 24 * 3600 * 1000)
    layer = {"layer": "kafka", "where": name, "removed": {}, "partitions": [], "done_at": None,
             "note": _ROLES[role], "kept_for_ever": False}
    policy = config.get("cleanup.policy", "delete")
    if "compact" in policy:
        lag = ms("min.compaction.lag.ms", 0)
        gone = start + timedelta(milliseconds=max(segment, lag) + ms("delete.retention.ms", 86_400_000))
    else:
        retention = ms("retention.ms", 7 * 24 * 3600 * 1000)
        if retention < 0:
            layer.update(last_copy_by=None, kept_for_ever=True,
                         note=_ROLES[role] + "; this topic keeps everything (retention.ms=-1): set a retention")
            return layer
        gone = start + timedelta(milliseconds=segment + retention)
    layer["last_copy_by"] = gone.isoformat()
    return layer


def _print_receipt(document: dict) -> None:
    table = Table(title=f"erasure receipt: {document['token']} (requested {document['requested_at']})")
    for column in ("layer", "where", "removed", "done at", "last copy gone by", "note"):
        table.add_column(column)
    for layer in document["layers"]:
        removed = ", ".join(f"{k} {v}" for k, v in sorted(layer["removed"].items())) or "-"
        if layer["partitions"]:
            removed += f" (partitions {','.join(map(str, layer['partitions']))})"
        table.add_row(layer["layer"], layer["where"], removed, layer["done_at"] or "-",
                      "never" if layer.get("kept_for_ever") else (layer["last_copy_by"] or "now"),
                      layer["note"])
    out.print(table)
    if document["kept_for_ever"]:
        out.print(f"[red]kept for ever[/] in {', '.join(document['kept_for_ever'])}")
    elif document["last_copy_by"]:
        out.print(f"the last copy goes by {document['last_copy_by']}")
