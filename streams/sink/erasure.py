"""The history sink's part in erasure: it keeps erased ids out of new rows and rewrites old ones.

    eraser = HistoryEraser(settings, warehouse)
    eraser.start()          # the registry read to its end, erasures not yet applied here queued
    ...                     # the sink anonymises each batch with eraser.erased (batch.anonymise_rows)
    eraser.run_due()        # from the sink's own loop: rewrite the history, send the receipts
    eraser.stop()

- ``start`` loads the registry (streams.kafka.erasures) before the sink writes anything, so
  every batch, a replay of old offsets included, is judged against every erasure recorded
  before it: an erased id never comes back into the warehouse.
- A ``RegistryFollower`` learns each new erasure within about a second, from its own thread; it
  only queues the erasure, and ``run_due``, called by the sink between batches, runs the
  rewrite (analytics.erasure) in the sink's thread: the sink is the warehouse's one writer.
- An erasure the warehouse has applied already (table ``erasures``: another sink writing the
  same server warehouse got there first) is not applied again.
- Erasures known at start that the warehouse has not applied are rewritten too, so a sink that
  was down when an erasure came catches up; a history receipt the registry lacks for an erasure
  applied here is sent again.
- While the warehouse or the registry cannot be reached, the work waits and is tried again
  every ``RETRY_S`` seconds; the erasures known stay in force for new batches meanwhile.
"""
from __future__ import annotations

import logging
import queue
import time
from typing import Any

from analytics.erasure import LAYER, applied, erase_histories, receipt_of
from analytics.errors import redact_url
from analytics.warehouse import Warehouse
from projections.erasure import ErasedPlayers, Erasure, Receipt
from schemas.errors import Unavailable
from streams.kafka.erasures import RegistryFollower, read_registry, record_receipt

log = logging.getLogger("ledger.sink.erasure")


def history_instance(settings: Any) -> str:
    """The name of the warehouse in history receipts: the server's URL without its password,
    or ``chdb:<path>``."""
    if settings.clickhouse_url:
        return redact_url(settings.clickhouse_url.get_secret_value())
    return f"chdb:{settings.chdb_path}"


class HistoryEraser:
    """Erasures for one history sink (see the module doc). Not thread-safe except the queue the
    follower fills: every other method runs in the sink's thread."""

    RETRY_S = 5.0

    def __init__(self, settings: Any, warehouse: Warehouse, instance: str | None = None) -> None:
        self.settings = settings
        self.warehouse = warehouse
        self.instance = instance or history_instance(settings)
        self._learnt: queue.SimpleQueue[Erasure] = queue.SimpleQueue()
        self.follower = RegistryFollower(settings, on_erasure=self._learnt.put)
        self._pending: list[Erasure] = []
        self._unsent: list[Receipt] = []
        self._retry_at = 0.0
        self._recorded: set[str] = set()
        self.receipts: list[Receipt] = []
        """The history receipts this sink recorded in the registry, in order."""

    @property
    def erased(self) -> ErasedPlayers:
        """The erasures in force, kept current by the follower."""
        return self.follower.erased

    def start(self) -> None:
        """Read the registry to its end and follow it; queue what this warehouse lacks.

        Raises ``RegistryUnreadable`` when the registry cannot be read (the sink must not write
        before it knows the erasures) and the warehouse's errors when it cannot be read."""
        _, receipts = read_registry(self.settings)
        self.follower.start()
        done = applied(self.warehouse)
        self._recorded = {r.key for r in receipts if r.layer == LAYER and r.instance == self.instance}
        self._pending = [e for e in self.follower.erased.erasures() if e.key not in done]
        self._unsent = [receipt_of(record, self.instance) for key, record in done.items()
                        if key not in self._recorded and self.follower.erased.get(key) is not None]
        if self._pending or self._unsent:
            log.info("%d erasure(s) to apply to the history, %d receipt(s) to send again",
                     len(self._pending), len(self._unsent))

    def stop(self) -> None:
        self.follower.stop()

    def run_due(self) -> int:
        """Rewrite the history for the erasures learnt since the last call and record their
        receipts; returns how many receipts were recorded. Failures wait for the next try."""
        while True:
            try:
                self._pending.append(self._learnt.get_nowait())
            except queue.Empty:
                break
        if not (self._pending or self._unsent) or time.monotonic() < self._retry_at:
            return 0
        sent = 0
        try:
            if self._pending:
                # another sink of the same server warehouse may have applied it already
                done = applied(self.warehouse)
                todo = [e for e in self._pending if e.key not in done]
                receipts = erase_histories(self.warehouse, todo, pepper=self.settings.pepper,
                                           instance=self.instance)
                for receipt in receipts:
                    log.info("erasure %s… applied to the history: %s rows rewritten, last copy by %s",
                             receipt.key[:12], receipt.removed, receipt.last_copy_by)
                self._pending = []
                # a warehouse rebuilt by replay holds nothing to rewrite: its receipt of nothing
                # would replace, under compaction, the one that counted the rows rewritten
                self._unsent.extend(r for r in receipts
                                    if r.key not in self._recorded or any(r.removed.values()))
            while self._unsent:
                record_receipt(self.settings, self._unsent[0])
                receipt = self._unsent.pop(0)
                self._recorded.add(receipt.key)
                self.receipts.append(receipt)
                sent += 1
        except Unavailable as error:
            self._retry_at = time.monotonic() + self.RETRY_S
            log.warning("erasure of the history postponed (%d to apply, %d receipt(s) to send): %s; "
                        "retrying in %.0fs", len(self._pending), len(self._unsent), error, self.RETRY_S)
        return sent
