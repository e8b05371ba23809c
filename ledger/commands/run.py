"""The long-running parts: `ledger worker`, `ledger sink`, and `ledger projections rebuild`."""
from __future__ import annotations

import logging
import sys
import threading

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from ledger.commands.common import EXIT_FOUND_PROBLEMS, err, out, print_json
from schemas.errors import LedgerError


@click.command("worker")
@click.option("--web-port", default=6066, show_default=True, type=click.IntRange(1, 65535),
              help="Port of the HTTP JSON API and /metrics (on LEDGER_API_HOST, default 127.0.0.1).")
@click.option("--worker-id", default="worker-1", show_default=True,
              help="This worker's name; its tables live under <state_dir>/worker/<id>.")
@click.option("--store", type=click.Choice(["rocksdb", "memory"]), default="rocksdb", show_default=True,
              help="Where tables are kept between changelog recoveries.")
@click.option("--heartbeat-timeout", "heartbeat_timeout_s", default=30, show_default=True,
              type=click.IntRange(1), help="Seconds without a sign of life before a session is timed out.")
@click.option("--reservation-timeout", "reservation_timeout_s", default=60, show_default=True,
              type=click.IntRange(1), help="Seconds a session may wait requested and not started before "
              "it is timed out as a matchmaking failure (end reason reservation_timed_out).")
@click.option("--spike-threshold", default=50, show_default=True, type=click.IntRange(1),
              help="Disconnects in one region in one minute that raise a disconnect_spike anomaly.")
@click.option("--finished-retention", "finished_retention_s", default=6 * 3600, show_default=True,
              type=click.FloatRange(0), help="Seconds a finished session stays in the live table after "
              "the worker saw it finish (its history stays in ClickHouse); 0 keeps them for ever.")
@click.option("--stall-after", "stall_after_s", default=30.0, show_default=True, type=click.FloatRange(0.1),
              help="Seconds without a run folded, while messages wait, before the worker logs a stall "
              "(where its fetcher and folds wait) and /health answers 503 stalled.")
@click.option("--burn-min-events", default=100, show_default=True, type=click.IntRange(1),
              help="Events an SLO burn alert's long window must hold before it may open (the SLOs: "
              "LEDGER_SLO_FILE, else the shipped ones).")
@click.option("--with-sink", is_flag=True, help="Also run the history sink in this process; with the embedded "
              "warehouse it owns chDB and serves reads to other processes (`ledger stack status` says where).")
@click.option("--loglevel", type=click.Choice(["critical", "error", "warn", "info", "debug"]), default="warn",
              show_default=True)
@click.pass_obj
def worker(settings, web_port, worker_id, store, heartbeat_timeout_s, reservation_timeout_s, spike_threshold,
           finished_retention_s, stall_after_s, burn_min_events, with_sink, loglevel) -> None:
    """Fold the session log into live state and serve it over HTTP (blocks until stopped).

    \b
    GET /sessions/{id}, /players/{id}, /live/concurrency?region=&platform=, /health, /metrics,
    and the browser UI at /ui/ (docs/ui.md).
    A second worker with another --worker-id and --web-port shares the partitions; a request
    for a key the other owns is routed to it.

    \b
    Example:
      ledger worker --with-sink
      ledger worker --worker-id worker-2 --web-port 6067
    """
    from streams.fold.run import run_worker

    if with_sink:
        _sink_in_background(settings)
    run_worker(settings, web_port=web_port, worker_id=worker_id, store=store, loglevel=loglevel,
               heartbeat_timeout_s=heartbeat_timeout_s, reservation_timeout_s=reservation_timeout_s,
               spike_threshold=spike_threshold,
               finished_retention_s=finished_retention_s, stall_after_s=stall_after_s,
               burn_min_events=burn_min_events)


def _sink_in_background(settings) -> None:
    """Run the sink in a thread of this process; when it ends, for any reason, the process ends
    with it, non-zero, so a supervisor restarts both (a worker without its sink is half-alive)."""
    from streams.runtime import exit_process
    from streams.sink.consumer import run_sink

    def sink_or_exit() -> None:
        code, why = EXIT_FOUND_PROBLEMS, "the history sink stopped"
        try:
            stats = run_sink(settings, stop=threading.Event())
            why = f"the history sink stopped: {stats.as_dict()}"
        except LedgerError as error:
            code, why = error.exit_code, str(error)
        except BaseException as error:  # noqa: BLE001 - a thread boundary: whatever kills the sink ends the process
            logging.getLogger("ledger.sink").critical("the history sink died", exc_info=error)
            why = f"the history sink died: {type(error).__name__}: {error}"
        exit_process(why, code)

    threading.Thread(target=sink_or_exit, name="ledger-sink", daemon=True).start()



@click.command("sink")
@click.option("--group-id", default="ledger-sink", show_default=True,
              help="Consumer group. A new group reads the topics from the beginning: a safe backfill, "
                   "since re-delivered events add no rows.")
@click.option("--batch-max-events", default=50_000, show_default=True, type=click.IntRange(1),
              help="Write a batch when this many events are waiting.")
@click.option("--batch-max-wait", "batch_max_wait_s", default=1.0, show_default=True, type=click.FloatRange(0.01),
              help="...or when the oldest has waited this many seconds.")
@click.pass_obj
def sink(settings, group_id, batch_max_events, batch_max_wait_s) -> None:
    """Write the session and ops topics into ClickHouse, committing offsets only after each insert.

    A re-delivered batch adds no rows; while ClickHouse is unreachable the sink pauses, retries
    with backoff and loses nothing. Stops on SIGINT or SIGTERM after the batch in hand.

    With the embedded warehouse (chDB) the sink owns it and serves reads to every other process:
    ClickHouse's HTTP interface, read-only, on 127.0.0.1:LEDGER_WAREHOUSE_HTTP_PORT (8123), behind
    LEDGER_API_TOKEN; `ledger report`, `ledger replay` and `ledger sql` use it on their own.

    \b
    Example:
      ledger sink
      ledger sink --group-id backfill-2026-11-24
      LEDGER_CLICKHOUSE_URL=clickhouse://ledger:…@127.0.0.1:9000/ledger ledger sink
    """
    from streams.runtime import settle_garbage_collector
    from streams.sink.consumer import run_sink

    settle_garbage_collector()
    stats = run_sink(settings, group_id=group_id, batch_max_events=batch_max_events,
                     batch_max_wait_s=batch_max_wait_s)
    err.print(f"sink stopped: {stats.as_dict()}")


@click.group("projections")
def projections() -> None:
    """The live projections (sessions, players, concurrency) the worker folds from the log."""


@projections.command("rebuild")
@click.option("--json", "as_json", is_flag=True, help="Print every rebuilt projection as JSON.")
@click.option("--allow-trimmed", is_flag=True,
              help="Exit 0 even when retention has deleted the start of the log (the result is partial).")
@click.pass_obj
def rebuild(settings, as_json, allow_trimmed) -> None:
    """Fold the session topic from its beginning with the worker's own folds, and show the result.

    The rebuilt state is what the live worker serves once it has read the same log. When
    retention has deleted the start of a partition (past LEDGER_SESSION_RETENTION_MS), the
    rebuild says which offsets are gone and exits 1: sessions begun before are incomplete.

    \b
    Example:
      ledger projections rebuild
      ledger projections rebuild --json > projections.json
    """
    from streams.fold.rebuild import rebuild_projections

    with Progress(TextColumn("rebuilding from the log"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=err, transient=True) as bar:
        task = bar.add_task("rebuild", total=None)
        rebuilt = rebuild_projections(settings, progress=lambda read, total: bar.update(task, completed=read,
                                                                                          total=total))
    document = rebuilt.to_dict()
    if not rebuilt.complete:
        gone = ", ".join(f"partition {p}: offsets 0..{first - 1}" for p, first in sorted(rebuilt.trimmed.items()))
        err.print(f"[bold]incomplete:[/] retention has deleted the start of {settings.session_topic} ({gone}); "
                  "sessions begun before are partial. A full rebuild past the hot window comes from the "
                  "history (docs/operations.md, Retention and disk).", highlight=False)
    if as_json:
        print_json(document)
    else:
        _print_rebuilt(settings, document)
    if not rebuilt.complete and not allow_trimmed:
        sys.exit(EXIT_FOUND_PROBLEMS)


def _print_rebuilt(settings, document: dict) -> None:
    table = Table(title=f"rebuilt from {document['messages']:,} messages of {settings.session_topic}")
    table.add_column("projection")
    table.add_column("entries", justify="right")
    table.add_row("sessions", f"{len(document['sessions']):,}")
    table.add_row("players", f"{len(document['players']):,}")
    table.add_row("unreadable messages (skipped)", f"{document['unreadable']:,}")
    for reason, count in document["unreadable_by_reason"].items():
        table.add_row(f"  {reason}", f"{count:,}")
    out.print(table)
