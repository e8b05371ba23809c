"""Erasure in the worker: the live tables forget an erased player (projections/erasure.py).

The worker loads the registry before it folds (run.py) and follows it from a thread, which
queues each new erasure on ``Ledger.erasures_due``; a timer applies them here, on the event
loop, to the partitions this worker holds active:

- ``sessions``: every record of the player's sessions is written again with the token as its
  player and its links cleared (the held-back events too), so live concurrency and the session
  views keep the sessions; the old value goes from the changelog at its next compaction.
- ``players``: the player's record is deleted; its changelog gets a tombstone.

From then on every event read is anonymised before the fold (agents.py), a player update still
keyed by the erased id (sent before the erasure) is dropped, and a run folding when the
erasure arrived anonymises what it writes. A worker that recovers its tables applies every
erasure to them again (``recount``), so a table restored from an older changelog, or a
partition moved here, never shows an erased id. Each application is reported to the registry
as a receipt of layer ``worker``, naming the partitions it covered.
"""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import replace
from datetime import datetime, timezone

from projections.erasure import ErasedPlayers, Erasure, Receipt, is_token
from projections.session_state import SessionState
from streams.fold import faust_compat as compat
from streams.kafka.partitioner import partition_of

log = logging.getLogger(__name__)


def anonymised_state(state: SessionState, erased: ErasedPlayers) -> SessionState | None:
    """``state`` with the erased player replaced by the token, or None when not erased."""
    if is_token(state.player_id):
        return None
    token = erased.token_for(state.player_id)
    if token is None:
        return None
    return replace(state, player_id=token, party_id=None,
                   pending=tuple(erased.anonymise(record) for record in state.pending))


def _actives(ledger, topic: str) -> set[int]:
    return {tp.partition for tp in ledger.app.assignor.assigned_actives() if tp.topic == topic}


def apply_erasures(ledger, erased: ErasedPlayers | None = None) -> dict[str, int]:
    """Apply every erasure of ``erased`` (default: all known) to this worker's active partitions;
    returns what it changed: ``{"sessions": n, "players": m}``. The stores are written at once;
    the changelog records wait for ``hand_over`` (table_writes.py)."""
    by_token = apply_erasures_by_token(ledger, erased)
    return {"sessions": sum(c["sessions"] for c in by_token.values()),
            "players": sum(c["players"] for c in by_token.values())}


def apply_erasures_by_token(ledger, erased: ErasedPlayers | None = None) -> dict[str, dict[str, int]]:
    """``apply_erasures``, with what it changed per erasure token."""
    erased = ledger.erased if erased is None else erased
    by_token: dict[str, dict[str, int]] = {}

    def count(token: str, what: str) -> None:
        counts = by_token.setdefault(token, {"sessions": 0, "players": 0})
        counts[what] += 1

    if not erased:
        return by_token
    session_topic = ledger.settings.session_topic
    actives = _actives(ledger, session_topic)
    rewrite: list[tuple[int, SessionState]] = []
    for session_id, record in list(ledger.sessions.items()):
        partition = partition_of(session_id, ledger.partitions)
        if partition not in actives:
            continue
        current = ledger.recent.get(session_id) or SessionState.from_bytes(record)
        anonymous = anonymised_state(current, erased)
        if anonymous is not None:
            rewrite.append((partition, anonymous))
    for partition, state in rewrite:
        ledger.session_writes.write_now(partition, [(state.session_id, state.to_bytes())])
        ledger.recent.put(partition, state)
        count(state.player_id, "sessions")

    updates_topic = ledger.player_updates.get_topic_name()
    player_actives = _actives(ledger, updates_topic)
    forget = [(partition_of(player_id, ledger.partitions), player_id)
              for player_id in list(ledger.players.keys())
              if not is_token(player_id) and erased.token_for(player_id) is not None]
    for partition, player_id in forget:
        if partition in player_actives:
            ledger.player_writes.write_now(partition, [(player_id, None)])
            count(erased.token_for(player_id), "players")
    return by_token


def unconfirmed(ledger) -> list[Erasure]:
    """The erasures this worker has sent no receipt for that covers its active partitions (those
    recorded while it was down, or before its partitions moved here)."""
    me, actives = instance_name(ledger), _actives(ledger, ledger.settings.session_topic)
    covered: dict[str, set[int]] = {}
    for receipt in list(ledger.receipts):
        if receipt.layer == "worker" and receipt.instance == me:
            covered.setdefault(receipt.key, set()).update(receipt.partitions)
    return [erasure for erasure in ledger.erased.erasures()
            if not actives <= covered.get(erasure.key, set())]


async def apply_on_recovery(ledger) -> None:
    """Apply every erasure to tables just recovered; report those not yet confirmed here."""
    if not ledger.erased:
        return
    missing = unconfirmed(ledger)
    by_token = apply_erasures_by_token(ledger)  # one pass over the tables for every erasure
    await hand_over(ledger)
    if by_token or missing:
        log.info("erasures applied to the recovered tables: %d session record(s) anonymised, %d "
                 "player record(s) removed; %d erasure(s) not confirmed here before",
                 sum(c["sessions"] for c in by_token.values()),
                 sum(c["players"] for c in by_token.values()), len(missing))
    if missing:
        stores = await asyncio.get_running_loop().run_in_executor(None, compact_stores, ledger)
        for erasure in missing:
            counts = by_token.get(erasure.token, {"sessions": 0, "players": 0})
            await send_receipt(ledger, erasure.key, {**counts, "stores_compacted": stores})


async def hand_over(ledger) -> None:
    """Hand the changelog records of the rewrites and deletions to the producer."""
    await ledger.session_writes.hand_over()
    await ledger.player_writes.hand_over()


class ErasureQueue:
    """Erasures learnt by the registry follower's thread, waiting for the event loop."""

    def __init__(self) -> None:
        self._due: deque[Erasure] = deque()

    def put(self, erasure: Erasure) -> None:  # from the follower's thread
        self._due.append(erasure)

    def take(self) -> list[Erasure]:
        taken = []
        while self._due:
            taken.append(self._due.popleft())
        return taken


def instance_name(ledger) -> str:
    """How this worker names itself in its receipts."""
    options = ledger.options
    return f"{options.worker_id}@{options.web_host}:{options.web_port}"


def compact_stores(ledger) -> int:
    """Compact the RocksDB stores of the active partitions of the sessions and players tables, so
    the values the erasures replaced or deleted leave the disk too (RocksDB keeps them in its
    files until a compaction drops them); returns how many partition stores were compacted."""
    compacted = 0
    for table, topic in ((ledger.sessions, ledger.settings.session_topic),
                         (ledger.players, ledger.player_updates.get_topic_name())):
        stores = compat.rocksdb_databases(table.data)
        if not stores:
            continue  # the in-memory store keeps nothing on disk
        for partition in _actives(ledger, topic):
            db = stores.get(partition)
            if db is None:
                continue
            db.flush()
            db.compact_range(None, None, _force_rewrite())
            # Twice: the MANIFEST written by the first still opens with the file set before it
            # (the old files' smallest and largest keys); the second one's starts from the new
            # set (app.py MANIFEST_BYTES).
            db.compact_range(None, None, _force_rewrite())
            compacted += 1
    return compacted


def _force_rewrite():
    """Compaction options that rewrite even a lone bottom-level file: a compaction otherwise
    moves such a file down whole, keeping a deleted key's tombstone (and the key) in it."""
    from rocksdict import BottommostLevelCompaction, CompactOptions

    options = CompactOptions()
    options.set_bottommost_level_compaction(BottommostLevelCompaction.force())
    return options


async def apply_due_erasures(ledger) -> int:
    """Apply the erasures learnt since the last call and report each one; returns how many."""
    due = ledger.erasures_due.take()
    if not due or not ledger.app.settled:
        for erasure in due:  # not settled (recovering): ``recount`` applies them all when it is
            ledger.erasures_due.put(erasure)
        return 0
    session_topic = ledger.settings.session_topic
    applied = []
    for erasure in due:
        changed = apply_erasures(ledger, ErasedPlayers(ledger.erased.pepper, [erasure]))
        ledger.metrics.erasures.inc()
        log.info("erasure %s applied to partitions %s: %d session record(s) anonymised, "
                 "%d player record(s) removed", erasure.token, sorted(_actives(ledger, session_topic)),
                 changed["sessions"], changed["players"])
        applied.append((erasure, changed))
    await hand_over(ledger)
    # Off the event loop: a compaction reads and writes the partition's files.
    stores = await asyncio.get_running_loop().run_in_executor(None, compact_stores, ledger)
    for erasure, changed in applied:
        await send_receipt(ledger, erasure.key, {**changed, "stores_compacted": stores})
    return len(due)


async def send_receipt(ledger, key: str, changed: dict[str, int]) -> None:
    """Report to the registry what this worker removed for the erasure ``key``."""
    receipt = Receipt(
        key=key, layer="worker", instance=instance_name(ledger), done_at=datetime.now(timezone.utc),
        removed=dict(changed),
        partitions=tuple(sorted(_actives(ledger, ledger.settings.session_topic))),
        note="local stores compacted; old values leave the changelogs at their next compaction")
    await ledger.erasure_topic.send(key=receipt.registry_key.encode(), value=receipt.to_json())
