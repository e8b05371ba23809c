"""What the worker does with each message, and on its clock.

Every agent is a batch agent (see intake.py): it is handed a run of one partition's messages
in offset order, and the run is acknowledged once the agent returns.

- ``fold_sessions``: decode the run with one batch decode (reading.py) into flat records,
  dead-letter what cannot be read, fold the rest with ``session_state.step`` in memory; the run's player updates and accepted disconnects are sent
  on *before* its session records are written, once per session (the updates that begin or
  finish a session for its player are confirmed first), and the run is acknowledged only after
  that, so a crash re-delivers it and the repeats are recognised downstream (player updates by
  seq; the spike anomaly by its deterministic event_id).
- ``fold_players``: fold player updates into player records (see players.py), each player
  written once per run.
- ``count_disconnects``: count disconnects per region-minute; the increment that reaches the
  threshold appends one ``anomaly_detected`` ops event.
- ``check_timeouts``: the only place that reads the wall clock: append a ``timed_out`` verdict
  for every open session of this worker silent for its timeout (the heartbeat timeout, or the
  reservation timeout while it waits for matchmaking; the open sessions are indexed beside the
  live counters, see counters.py, so only silent ones are read).
- ``check_burn``: evaluate the SLO burn-rate alerts over the per-minute SLI tallies the fold
  keeps (projections/slo_burn.py); an alert opening or resolving appends one ``slo_burn`` ops
  event with a deterministic event_id, and the burn-rate and budget gauges are set.
- ``evict_finished_sessions``: remove the records of sessions finished one retention ago.
- ``watch_intake``: say so in the log, on /health and in /metrics when runs stopped reaching
  the agents while messages wait (stall.py).
"""
from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import orjson

from projections.disconnect_spikes import SPIKE_KIND, WindowKey, crossed_threshold, spike_anomaly_fields
from projections.errors import ProjectionError
from projections.player_records import PlayerRecord, changes_player, coalesce, player_update
from projections.session_state import SessionState, SessionStatus, is_timed_out, step, timeout_event
from projections.slo_burn import BURN_WINDOWS, burn, burn_event_fields
from projections.timestamps import from_millis, to_millis
from schemas.codec import encode
from schemas.errors import InvalidMessage
from schemas.models import OpsEvent, SessionEventType
from schemas.records import SessionRecord
from streams.errors import DeadLetterFailed
from streams.fold import stall, stall_report
from streams.fold.bundles import Bundles, unbundle
from streams.fold.erasing import anonymised_state, apply_due_erasures, apply_on_recovery
from streams.fold.errors import FoldRefused
from streams.fold.intake import check_still_ours, writing_to
from streams.fold.reading import read_run
from streams.kafka.backoff import DEAD_LETTERS
from streams.kafka.deadletters.letter import DeadLetter, reason_of
from streams.kafka.partitioner import partition_of

if TYPE_CHECKING:
    from streams.fold.app import Ledger

log = logging.getLogger(__name__)

PRODUCER = "ledger-worker"
DISCONNECTED = SessionEventType.disconnected.value
STALL_REMINDER_S = 60.0
"""How often a stall that goes on is logged again (one line)."""
PROGRESS_EVERY_S = 30.0
ERASURE_CHECK_EVERY_S = 1.0
"""How often erasures learnt from the registry are applied to the tables (erasing.py)."""
"""How often the worker logs what it folded since the last such line (nothing when idle)."""


def install(ledger: Ledger) -> None:
    app = ledger.app

    @app.batch_agent(ledger.session_topic)
    async def fold_sessions(tp, messages):
        ledger.last_offsets[tp.partition] = messages[-1].offset
        await fold_batch(ledger, messages)

    @app.batch_agent(ledger.player_updates)
    async def fold_players(tp, messages):
        await fold_player_batch(ledger, tp.partition, messages)

    @app.batch_agent(ledger.disconnect_topic)
    async def count_disconnects(tp, messages):
        for message in messages:
            for _region, disconnect in unbundle(message):
                await count_disconnect(ledger, disconnect)

    @app.timer(ledger.options.timeout_check_interval_s, name="check-timeouts")
    async def check_timeouts():
        await append_timeouts(ledger, datetime.now(timezone.utc))

    @app.timer(ledger.options.burn_check_interval_s, name="check-burn")
    async def check_burn():
        await evaluate_burns(ledger, datetime.now(timezone.utc))

    if ledger.options.finished_retention_s > 0:
        @app.timer(ledger.options.eviction_interval_s, name="evict-finished")
        async def evict_finished_sessions():
            await evict_finished(ledger, time.monotonic())

    @app.timer(stall.CHECK_EVERY_S, name="watch-intake")
    async def watch_intake():
        watch_for_stall(ledger, time.monotonic())

    @app.timer(ERASURE_CHECK_EVERY_S, name="apply-erasures")
    async def apply_erasures_learnt():
        await apply_due_erasures(ledger)

    @app.timer(PROGRESS_EVERY_S, name="log-progress")
    async def log_progress():
        ledger.progress.log(ledger.last_offsets)

    @ledger.sessions.on_recover
    async def recount():
        ledger.recent.clear()  # the records may have been replayed from the changelog
        await apply_on_recovery(ledger)
        recount_partitions(ledger)

    @app.on_partitions_revoked.connect
    async def forget_revoked(app, revoked, **kwargs):
        partitions = [tp.partition for tp in revoked if tp.topic == ledger.settings.session_topic]
        ledger.counters.drop(partitions)
        ledger.recent.drop(partitions)


async def fold_batch(ledger: Ledger, messages) -> None:
    """Fold one run of deliveries; each session changed is written once, at the end.

    The sessions of the run are folded in memory, in delivery order. Then the player updates
    (one per run of a session's changes that ``coalesce`` joins) and accepted disconnects are
    sent, bundled per destination partition (bundles.py); the bundles carrying updates that
    begin or finish a session are confirmed together, and only then are the session records
    written. The run is acknowledged after it returns (intake.py).
    """
    generation = ledger.app.consumer_generation_id
    changed: dict[str, _Changed] = {}
    disconnects = []
    slis = ledger.slis
    sli_types = slis.by_type
    outcomes: dict[str, int] = {}
    letters: list[str] = []
    read = read_run(ledger.decoder, [message.value for message in messages])
    erased = ledger.erased
    erasures_known = erased.version
    if erased:
        read = erased.anonymise_all(read)
    for message, record in zip(messages, read):
        try:
            if type(record) is not SessionRecord:
                raise record  # refused by the decoder: dead-lettered below with its reason
            entry = changed.get(record.session_id)
            try:
                if entry is None:
                    before = session_state(ledger, record.session_id, message.partition)
                    if erased and before is not None:  # erased since it was written
                        before = anonymised_state(before, erased) or before
                else:
                    before = entry.state
                result = step(before, record)
            except ProjectionError as refused:  # the fold's refusal of this one message
                raise FoldRefused(refused) from refused
        except InvalidMessage as error:
            if await dead_letter(ledger, message, error):
                letters.append(reason_of(error))
            continue
        outcome = result.outcome
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if result.after is result.before:
            continue
        after = result.after
        if entry is None:
            entry = changed[after.session_id] = _Changed(message.partition, result.before, after)
        entry.state = after
        if result.applied:
            if changes_player(result.before, after):
                entry.player_changes.append((result.before, after))
            for accepted in result.accepted:
                if accepted.event_type == DISCONNECTED:
                    disconnects.append(accepted)
                elif accepted.event_type in sli_types:
                    slis.observe(accepted)

    ledger.letters.observe(len(messages), letters, time.monotonic())  # raises past the limit
    updates, spikes = Bundles(ledger.partitions), Bundles(ledger.partitions)
    for entry in changed.values():
        for before, after in coalesce(entry.player_changes):
            updates.add(after.player_id, player_update(before, after),
                        confirm=counts_for_player(before, after))
    for accepted in disconnects:
        spikes.add(accepted.region, _disconnect(accepted))
    confirmations = updates.send(ledger.player_updates)
    spikes.send(ledger.disconnect_topic)
    if confirmations:
        await asyncio.gather(*confirmations)
    check_still_ours(ledger.app, generation)  # a wait above (sends) may have outlasted a rebalance
    if erased.version != erasures_known:  # an erasure was learnt while this run folded
        for entry in changed.values():
            entry.state = anonymised_state(entry.state, erased) or entry.state
    records = []
    for session_id, entry in changed.items():
        records.append((session_id, entry.state.to_bytes()))
        ledger.recent.put(entry.partition, entry.state)
        ledger.counters.move(entry.partition, entry.first_before, entry.state)
        if entry.state.is_terminal:
            ledger.timeouts_sent.pop(session_id, None)
    if records:
        await ledger.session_writes.write(messages[0].partition, records)
    # Counted once the run is written: a run folded again (its sends failed, or a rebalance
    # abandoned it) is counted by the attempt that writes it, not by every attempt.
    for outcome, count in outcomes.items():
        ledger.metrics.deliveries.labels(outcome).inc(count)
        ledger.progress.sessions += count


def session_state(ledger: Ledger, session_id: str, partition: int | None = None) -> SessionState | None:
    """The session's state as the table holds it: the one this worker wrote last if it is
    still in memory (recent.py), else read from its record (in ``partition``'s store when
    given: the run's, as Faust reads while folding it)."""
    state = ledger.recent.get(session_id)
    if state is None:
        if partition is None:
            record = ledger.sessions.get(session_id)
        else:
            record = ledger.session_writes.get(partition, session_id)
        state = None if record is None else SessionState.from_bytes(record)
    return state


class _Changed:
    """A session changed by the batch: its state before the batch, now, and player changes."""

    __slots__ = ("partition", "first_before", "state", "player_changes")

    def __init__(self, partition: int, first_before: SessionState | None, state: SessionState) -> None:
        self.partition = partition
        self.first_before = first_before
        self.state = state
        self.player_changes: list[tuple[SessionState | None, SessionState]] = []


async def fold_player_batch(ledger: Ledger, partition: int, messages) -> None:
    """Apply a run of player updates of ``partition``; each player changed is written once,
    at the end, all in one batch (table_writes.py)."""
    folding: dict[str, PlayerRecord] = {}
    changed: set[str] = set()
    applied = duplicates = dropped = 0
    erased = ledger.erased
    for message in messages:
        for player_id, update in unbundle(message):
            if erased and erased.token_for(player_id) is not None:
                dropped += 1  # sent before its player was erased: the record is gone for good
                continue
            record = folding.get(player_id)
            if record is None:
                stored = ledger.player_writes.get(partition, player_id)
                record = folding[player_id] = PlayerRecord.read(
                    None if stored is None else orjson.loads(stored))
            if record.apply(update):
                changed.add(player_id)
                applied += 1
            else:
                duplicates += 1
    ledger.metrics.player_updates.labels("applied").inc(applied)
    ledger.metrics.player_updates.labels("duplicate").inc(duplicates)
    if dropped:
        ledger.metrics.erased_updates.inc(dropped)
    ledger.progress.players += applied + duplicates
    await ledger.player_writes.write(
        partition, [(player_id, orjson.dumps(folding[player_id].to_dict())) for player_id in changed])


def counts_for_player(before: SessionState | None, after: SessionState) -> bool:
    """Whether this change moves a player's counts (a session begins or finishes).

    Such an update is confirmed by the broker before the session record is written: were the
    record kept and the update lost in a crash, the re-delivered event would be a duplicate
    and the count would never be made. Any other update (last seen, platforms) is carried
    again by the session's next update, so it is sent without waiting.
    """
    begins = before is None or before.status is SessionStatus.new
    return begins or (after.is_terminal and not before.is_terminal)


def _disconnect(event: SessionRecord) -> dict:
    """The message counted by ``count_disconnect``: epoch seconds of occurred_at (event time)."""
    return {
        "region": event.region, "occurred_at": to_millis(event.occurred_at) / 1000,
        "session_id": event.session_id, "seq": event.seq,
    }


async def dead_letter(ledger: Ledger, message, error: InvalidMessage) -> bool:
    """Write ``message`` to the dead-letter topic (streams/kafka/deadletters/letter.py); False when
    this process already wrote its letter (the run is folded again after a failure).

    A send the producer refuses is tried ``dead_letter_attempts`` times with backoff; then
    ``DeadLetterFailed`` stops the worker rather than skip the message or retry it for ever.
    """
    letter = DeadLetter(reason_of(error), error, message.topic, message.partition, message.offset)
    if letter.letter_id in ledger.lettered:
        return False
    log.warning("dead-lettered %s[%d]@%d: %s", message.topic, message.partition, message.offset, error)
    key, value, headers = letter.message(message.key, message.value, message.headers)
    attempts, backoff = ledger.settings.dead_letter_attempts, DEAD_LETTERS
    for attempt in range(1, attempts + 1):
        try:
            await ledger.dead_letter_topic.send(key=key, value=value, headers=headers)
            break
        except Exception as failed:  # noqa: BLE001 - any refusal is a failure to dead-letter
            if attempt == attempts:
                raise DeadLetterFailed(letter.letter_id, ledger.settings.dead_letter_topic, attempts,
                                       f"{type(failed).__name__}: {failed}") from failed
            log.warning("dead letter %s refused (attempt %d of %d): %s", letter.letter_id, attempt,
                        attempts, failed)
            await asyncio.sleep(backoff.delay(attempt))
    ledger.lettered.add(letter.letter_id)
    ledger.metrics.dead_lettered.labels(letter.reason).inc()
    return True


async def count_disconnect(ledger: Ledger, disconnect: dict) -> None:
    """Count one disconnect in its region-minute; report the minute once when it makes a spike."""
    region = disconnect["region"]
    start_ms = int(disconnect["occurred_at"] * 1000) // 60_000 * 60_000
    key = WindowKey(region, from_millis(start_ms))
    window = f"{region}|{start_ms}"
    before = ledger.disconnects.get(window, 0)
    after = before + 1
    ledger.disconnects[window] = after
    threshold = ledger.options.spike_threshold
    if not crossed_threshold(before, after, threshold):
        return
    fields = spike_anomaly_fields(key, after, threshold, datetime.now(timezone.utc), PRODUCER)
    anomaly = OpsEvent.model_validate(fields)
    await ledger.ops_topic.send(key=region, value=encode(anomaly))
    ledger.metrics.anomalies.labels(SPIKE_KIND).inc()
    log.info("disconnect spike in %s at %s: %d >= %d", key.region, key.window_start, after, threshold)


async def evaluate_burns(ledger: Ledger, now: datetime) -> int:
    """Evaluate every live SLO's burn alerts at ``now``: append an ``slo_burn`` ops event for each
    alert that opens or resolves, set the burn-rate and budget gauges, and forget the minutes no
    window needs any more. Returns how many events were appended.

    A worker judges the sessions of its own partitions (its tallies are in memory, rebuilt from
    what it folds after a restart); the warehouse's ``ledger slo status`` judges them all.
    """
    now_ms = to_millis(now)
    appended = 0
    for sli in ledger.slis.slis:
        for t in ledger.burns.evaluate(sli, ledger.slis, now_ms):
            fields = burn_event_fields(t, PRODUCER, now, from_millis(t.opened_ms))
            await ledger.ops_topic.send(key=t.slo, value=encode(OpsEvent.model_validate(fields)))
            ledger.metrics.slo_alerts.labels(t.policy.alert, t.state).inc()
            log.warning("SLO %s: %s alert %s %s (burn rate %.2f over %s)", t.slo, t.policy.alert,
                        t.policy.name, t.state, t.burn_rate, t.policy.long)
            appended += 1
        _set_burn_gauges(ledger, sli, now_ms)
        keep = max(sli.window, BURN_WINDOWS[-1][1])
        ledger.slis.forget_before(sli.name, now_ms - int(keep.total_seconds() * 1000))
    return appended


def _set_burn_gauges(ledger: Ledger, sli, now_ms: int) -> None:
    for name, span in BURN_WINDOWS:
        rate = burn(sli, *ledger.slis.counts(sli.name, now_ms, span))
        ledger.metrics.slo_burn_rate.labels(sli.name, name).set(float("nan") if rate is None else rate)
    good, total = ledger.slis.counts(sli.name, now_ms, sli.window)
    allowed = total * sli.budget_share
    remaining = 1.0 - (total - good) / allowed if allowed else 1.0
    ledger.metrics.slo_budget_remaining.labels(sli.name).set(remaining)


def active_partitions(ledger: Ledger) -> set[int]:
    topic = ledger.settings.session_topic
    return {tp.partition for tp in ledger.app.assignor.assigned_actives() if tp.topic == topic}


def local_sessions(ledger: Ledger, partitions: set[int]):
    """(partition, state) of every session record of ``partitions`` held here."""
    for session_id, record in ledger.sessions.items():
        partition = partition_of(session_id, ledger.partitions)
        if partition in partitions:
            yield partition, SessionState.from_bytes(record)


def recount_partitions(ledger: Ledger) -> None:
    actives = active_partitions(ledger)
    by_partition: dict[int, list[SessionState]] = {p: [] for p in actives}
    for partition, state in local_sessions(ledger, actives):
        by_partition[partition].append(state)
    for partition, states in by_partition.items():
        ledger.counters.reset(partition, states)
    log.info("live counters recomputed for partitions %s", sorted(actives))


async def evict_finished(ledger: Ledger, now: float) -> int:
    """Remove the records of sessions this worker saw finish one retention ago or more (the
    open ones are never touched; a removed record's changelog gets a tombstone, so a recovered
    worker does not bring it back); returns how many.

    Without it the table, its changelog and every recovery would grow with each session ever
    played. The removal reads no record and awaits nothing before it is stored. A late event
    of a removed session folds as the first one seen of it; a run that read a session before
    its removal and changes it (an event after its end) writes it again, and that record then
    stays (removals and runs write through one writer, so the changelog keeps their order).
    """
    if not ledger.app.settled:
        return 0
    due = ledger.counters.sweep_finished(now, ledger.options.finished_retention_s)
    actives = active_partitions(ledger)
    removed = 0
    for partition, session_ids in due.items():
        if partition not in actives:
            continue
        ledger.session_writes.write_now(partition, [(session_id, None) for session_id in session_ids])
        removed += len(session_ids)
    await ledger.session_writes.hand_over()  # the removals are stored: no run sees them after this
    if removed:
        ledger.metrics.evicted.inc(removed)
        log.info("removed %d finished session record(s) kept for %.0f s", removed,
                 ledger.options.finished_retention_s)
    return removed


def watch_for_stall(ledger: Ledger, now: float) -> stall.Stall | None:
    """Look for a stalled intake (stall.py): log it once when it begins, with where the
    fetcher and the folds wait, and once when runs flow again; returns the stall, if any."""
    consumer = ledger.app.consumer
    found = consumer.intake_stall(now, ledger.options.stall_after_s)
    if found is not None and ledger.stalled is None:
        log.error("%s", stall_report.report(consumer, found))
        ledger.stall_reported_at = now
    elif found is not None and now - ledger.stall_reported_at >= STALL_REMINDER_S:
        log.error("intake still stalled after %.0f s: %d message(s) wait; %d fetches made so far",
                  found.quiet_s, found.messages, consumer.fetches)
        ledger.stall_reported_at = now
    elif found is None and ledger.stalled is not None:
        log.warning("intake moving again after at least %.0f s stalled", ledger.stalled.quiet_s)
    ledger.stalled = found
    ledger.metrics.stalled.set(0 if found is None else found.quiet_s)
    return found


async def append_timeouts(ledger: Ledger, now: datetime) -> int:
    """Append a timed_out event for each silent live session of this worker; returns how many.
    None while the worker is not settled: recovering, rebalancing, or held by the disk guard (its
    sessions' heartbeats then wait unread)."""
    if not ledger.app.settled:
        return 0
    timeout_s = ledger.options.heartbeat_timeout_s
    reservation_s = ledger.options.reservation_timeout_s
    appended = 0
    cutoff = now - timedelta(seconds=min(timeout_s, reservation_s))
    for session_id in list(ledger.counters.silent_since(active_partitions(ledger), cutoff)):
        state = session_state(ledger, session_id)
        if not is_timed_out(state, now, timeout_s, reservation_s):
            continue
        event = timeout_event(state, now, timeout_s, reservation_s)
        if ledger.timeouts_sent.get(state.session_id) == event.event_id:
            continue
        await ledger.session_topic.send(key=state.session_id, value=encode(event))
        ledger.timeouts_sent[state.session_id] = event.event_id
        ledger.metrics.timeouts.inc()
        appended += 1
    if appended:
        log.info("appended %d timed_out event(s)", appended)
    return appended
