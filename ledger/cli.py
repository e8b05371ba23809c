"""`ledger`: the one command-line entry point.

Each subcommand is a thin shell: it reads the settings, builds what it needs, calls the code
that does the work, and prints a table for people or JSON for machines (`--json`).

Exit codes: 0 success; 1 the work ran and found a problem (rejected events, incompatible
schemas); 2 bad usage or input; 3 a required part (Java, Maven, broker, ClickHouse) is
unavailable.
"""
from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.table import Table

from ledger.commands.common import (
    EXIT_BAD_INPUT,
    EXIT_FOUND_PROBLEMS,
    EXIT_UNAVAILABLE,
    clickhouse_url,
    describe_history,
    err,
    fail,
    open_history,
    out,
    print_json,
    redact_url,
)
from schemas.errors import LedgerError
from streams.errors import SettingsError
from streams.settings import Settings, load_settings


class LedgerGroup(click.Group):
    """A group whose commands turn the project's own errors into a message and an exit code.

    The exit code is the error's kind's (schemas/errors.py): 2 invalid input or an invalid
    message, 3 unavailable, 1 fatal; never which package raised it.
    """

    def invoke(self, ctx):
        from kafka.errors import KafkaError

        try:
            return super().invoke(ctx)
        except LedgerError as error:
            fail(str(error), error.exit_code)
        except KafkaError as error:  # a client error no stage translated: Kafka did not answer
            from streams.kafka.config import explain_unreachable

            fail(explain_unreachable(ctx.obj, error), EXIT_UNAVAILABLE)


@click.group(cls=LedgerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--env-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Read LEDGER_* settings from this file as well as the environment.")
@click.option("-v", "--verbose", is_flag=True, help="Log everything, client libraries included (secrets redacted).")
@click.pass_context
def main(ctx: click.Context, env_file: Path | None, verbose: bool) -> None:
    """Session Ledger: an event-sourced ledger of player sessions.

    \b
    Kafka holds the log (Avro), Faust folds it into live state, ClickHouse keeps the history.
    Settings come from LEDGER_* environment variables; defaults run everything locally.

    \b
    Example:
      ledger stack up && ledger smoke
    """
    from streams.logs import configure_logging

    try:
        ctx.obj = load_settings(env_file)
    except SettingsError as error:  # raised before LedgerGroup.invoke can translate it
        fail(str(error), error.exit_code)
    configure_logging(ctx.obj, verbose=verbose)


# -- ledger stack ----------------------------------------------------------------------------


@main.group()
def stack() -> None:
    """Run the local stack: a real Kafka broker (KRaft) and the embedded ClickHouse (chDB)."""


def _broker(settings: Settings):
    from ledger.stack import LocalBroker, config_from_settings

    return LocalBroker(config_from_settings(settings))


def _cluster(settings: Settings, brokers: int | None = None):
    """The local cluster when one was started (or ``brokers`` > 1 asks for one), else None."""
    from ledger.stack import CLUSTER_DIR, LocalCluster, cluster_from_settings

    recorded = LocalCluster.read_record(settings.state_dir / CLUSTER_DIR)
    wanted = brokers if brokers is not None else settings.brokers
    if wanted > 1 or (recorded and brokers is None):
        return cluster_from_settings(settings, wanted if wanted > 1 else None)
    return None


@stack.command("up")
@click.option("--brokers", type=click.IntRange(1, 9), default=None,
              help="Nodes to run: 1 (the default, LEDGER_BROKERS) or a replicated cluster, e.g. 3.")
@click.option("--warehouse-owner", is_flag=True,
              help="Also start a standalone owner of the embedded warehouse (`ledger warehouse serve`), so "
                   "reports, replay, `ledger sql` and ClickHouse clients read it before any sink runs.")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.pass_obj
def stack_up(settings: Settings, brokers: int | None, warehouse_owner: bool, as_json: bool) -> None:
    """Start the broker (a no-op when it already runs), create the topics, migrate the warehouse.

    \b
    Example:
      ledger stack up
      ledger stack up --warehouse-owner   # reads served at 127.0.0.1:8123 (ClickHouse HTTP) at once
      ledger stack up --brokers 3     # three KRaft nodes on 9092/9094/9096, topics replicated 3x
      LEDGER_BROKER_PORT=19092 LEDGER_CONTROLLER_PORT=19093 ledger stack up
    """
    brokers = brokers or settings.brokers
    if brokers > 1:
        _stack_up_cluster(settings, brokers, as_json, warehouse_owner)
        return
    broker = _broker(settings)
    with err.status("starting the local stack") as spinner:
        status = broker.up(on_step=lambda message: spinner.update(message))
        created, changes = _create_and_align_topics(settings, status.bootstrap)
        warehouse_line = _migrate_warehouse(settings)
        owner = _start_owner(settings, spinner) if warehouse_owner else None
    if as_json:
        print_json({"broker": status.as_dict(), "topics_created": created,
                    "topic_configs_changed": [change.as_dict() for change in changes], "warehouse": warehouse_line,
                    "warehouse_owner": owner.as_dict() if owner else None})
        return
    out.print(f"Kafka {status.version} listening on [bold]{status.bootstrap}[/] (pid {status.pid})")
    if created:
        out.print(f"created topics: {', '.join(created)}")
    for change in changes:
        out.print(f"retention of {change.topic}: {change.key} {change.before or '(broker default)'} -> {change.after}")
    out.print(f"warehouse: {warehouse_line}")
    if owner:
        out.print(f"warehouse reads: {_owner_line(owner)}")


def _start_owner(settings: Settings, spinner):
    from ledger.child import settings_env
    from ledger.stack import start_warehouse_owner

    if clickhouse_url(settings):
        fail("--warehouse-owner is for the embedded warehouse; LEDGER_CLICKHOUSE_URL names a server, which "
             "serves its own reads", EXIT_BAD_INPUT)
    spinner.update("starting the warehouse owner")
    return start_warehouse_owner(settings, settings_env(settings, warehouse=True))


def _owner_line(owner) -> str:
    return f"{owner.url} (ClickHouse HTTP, read-only) served by the {owner.role} owner, pid {owner.pid}"


def _stack_up_cluster(settings: Settings, brokers: int, as_json: bool, warehouse_owner: bool = False) -> None:
    cluster = _cluster(settings, brokers)
    with err.status(f"starting a {brokers}-node local cluster") as spinner:
        status = cluster.up(on_step=lambda message: spinner.update(message))
        created, changes = _create_and_align_topics(settings, cluster.bootstrap)
        warehouse_line = _migrate_warehouse(settings)
        owner = _start_owner(settings, spinner) if warehouse_owner else None
    if as_json:
        print_json({"cluster": status.as_dict(), "topics_created": created,
                    "topic_configs_changed": [change.as_dict() for change in changes], "warehouse": warehouse_line,
                    "warehouse_owner": owner.as_dict() if owner else None})
        return
    for node_id, node in status.nodes:
        out.print(f"node {node_id}: Kafka {node.version} listening on [bold]{node.bootstrap}[/] (pid {node.pid})")
    if cluster.bootstrap != settings.bootstrap_servers:
        out.print(f"clients: export LEDGER_BROKERS={brokers} (or LEDGER_BOOTSTRAP_SERVERS={cluster.bootstrap})")
    if created:
        out.print(f"created topics: {', '.join(created)}")
    for change in changes:
        out.print(f"retention of {change.topic}: {change.key} {change.before or '(broker default)'} -> {change.after}")
    out.print(f"warehouse: {warehouse_line}")
    if owner:
        out.print(f"warehouse reads: {_owner_line(owner)}")


def _migrate_warehouse(settings: Settings) -> str:
    from analytics.migrate import migrate
    from analytics.retention import WarehouseRetention, apply_retention

    owner = _warehouse_owner(settings)
    if owner is not None:  # it migrated the warehouse when it opened it
        return f"{describe_history(settings)}, owned by the {owner.role} (pid {owner.pid}), which migrates it"
    with open_history(settings, migrate=False) as warehouse:
        applied = migrate(warehouse)
        changes = apply_retention(warehouse, WarehouseRetention.from_settings(settings))
    ttls = "".join(f", TTL of {c.table}: {c.before or 'none'} -> {c.after or 'none'}" for c in changes)
    return f"{describe_history(settings)} ({len(applied)} migration(s) applied{ttls})"


@stack.command("down")
@click.pass_obj
def stack_down(settings: Settings) -> None:
    """Stop the local broker, or every node of the local cluster, cleanly, and the standalone
    warehouse owner if one runs (a sink owning the warehouse is left alone). Their data stays;
    `ledger stack up` (with the same --brokers) brings them back."""
    from ledger.stack import stop_warehouse_owner

    owner_pid = stop_warehouse_owner(settings.state_dir)
    if owner_pid:
        out.print(f"standalone warehouse owner stopped (pid {owner_pid})")
    cluster = _cluster(settings)
    if cluster is not None:
        stopped = cluster.down()
        out.print(f"stopped nodes {', '.join(map(str, stopped))}" if stopped else "no cluster node was running")
    stopped = _broker(settings).down()
    if stopped or cluster is None:
        out.print("broker stopped" if stopped else "no broker was running")


@stack.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.pass_obj
def stack_status(settings: Settings, as_json: bool) -> None:
    """Say what runs, where, and since when. Exits 3 when the broker is not reachable.

    For a cluster: every node, the controller quorum and the under-replicated partitions.
    """
    cluster = _cluster(settings)
    if cluster is not None:
        _cluster_status(settings, cluster.status(), as_json, cluster.bootstrap)
        return
    status = _broker(settings).status()
    owner = _warehouse_owner(settings)
    retention = _retention(settings, status.bootstrap if status.reachable else None)
    if as_json:
        print_json({**status.as_dict(), "warehouse_owner": owner.as_dict() if owner else None,
                    "retention": retention})
    else:
        table = Table(title="local stack")
        for column in ("part", "state", "where", "since"):
            table.add_column(column)
        state = "reachable" if status.reachable else ("running, not answering" if status.running else "stopped")
        table.add_row(f"kafka {status.version}", state, status.bootstrap,
                      status.since.isoformat() if status.since else "-")
        url = clickhouse_url(settings)
        table.add_row("clickhouse", "server" if url else "embedded (chDB)",
                      redact_url(url) if url else str(settings.chdb_path), "-")
        if not url:
            table.add_row(*_owner_row(owner))
        out.print(table)
        _print_retention(retention)
    if not status.reachable:
        sys.exit(EXIT_UNAVAILABLE)


def _retention(settings: Settings, bootstrap: str | None) -> dict:
    """What each layer keeps, as the broker and the warehouse say (not as the settings say):
    {"topics": {name: {config: value}} or {"error": ...}, "warehouse_ttls": {table: clause} or {"error": ...}}."""
    from analytics.errors import AnalyticsError
    from analytics.retention import read_ttls
    from streams.errors import BrokerUnreachable
    from streams.fold.options import worker_topics
    from streams.kafka.describe import topic_configs
    from streams.kafka.topics import ledger_topics

    result: dict = {}
    if bootstrap is None:
        result["topics"] = {"error": "the broker is not reachable"}
    else:
        names = [*ledger_topics(settings), *worker_topics(settings, settings.partitions)]
        try:
            found = topic_configs(settings.model_copy(update={"bootstrap_servers": bootstrap}))
        except BrokerUnreachable as error:
            result["topics"] = {"error": str(error)}
        else:
            result["topics"] = {name: found[name] for name in names if name in found}
    if not clickhouse_url(settings) and not settings.chdb_path.exists():
        result["warehouse_ttls"] = {"error": f"no warehouse at {settings.chdb_path} yet"}
        return result
    try:
        with open_history(settings, migrate=False) as history:
            result["warehouse_ttls"] = read_ttls(history)
    except AnalyticsError as error:
        result["warehouse_ttls"] = {"error": str(error)}
    return result


def _millis(value: str | None) -> str:
    """A topic config in ms as people read it: "-1" for ever, else days, hours, minutes or seconds."""
    if value is None:
        return "-"
    ms = int(value)
    if ms < 0:
        return "for ever"
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("min", 60_000), ("s", 1000)):
        if ms >= size and ms % size == 0:
            return f"{ms // size} {unit}"
    return f"{ms} ms"


def _mebibytes(value: str | None) -> str:
    return "-" if value is None else f"{int(value) / 2**20:g} MiB"


def _print_retention(retention: dict) -> None:
    topics = retention["topics"]
    if "error" in topics:
        out.print(f"topic retention: {topics['error']}")
    else:
        table = Table(title="retention (from the broker)")
        for column in ("topic", "cleanup.policy", "retention", "segment.ms", "segment.bytes"):
            table.add_column(column)
        for name, configs in topics.items():
            table.add_row(name, configs.get("cleanup.policy", "-"), _millis(configs.get("retention.ms")),
                          _millis(configs.get("segment.ms")), _mebibytes(configs.get("segment.bytes")))
        out.print(table)
    ttls = retention["warehouse_ttls"]
    if "error" in ttls:
        out.print(f"warehouse TTLs: {ttls['error']}")
    else:
        table = Table(title="warehouse TTLs (from the engine)")
        table.add_column("table")
        table.add_column("TTL")
        for name, clause in ttls.items():
            table.add_row(name, clause or "none: kept for ever")
        out.print(table)


def _warehouse_owner(settings: Settings):
    """The process that owns the embedded warehouse and serves its reads, or None."""
    from analytics.serve.owner import read_owner

    return None if clickhouse_url(settings) else read_owner(settings.state_dir)


def _owner_row(owner) -> tuple[str, str, str, str]:
    if owner is None:
        return ("warehouse owner", "none", "each command opens chDB itself", "-")
    return ("warehouse owner", f"{owner.role}, pid {owner.pid}", f"{owner.url} (ClickHouse HTTP, read-only)",
            owner.started_at)


def _cluster_status(settings: Settings, status, as_json: bool, bootstrap: str) -> None:
    owner = _warehouse_owner(settings)
    retention = _retention(settings, bootstrap if status.reachable else None)
    if as_json:
        print_json({**status.as_dict(), "warehouse_owner": owner.as_dict() if owner else None,
                    "retention": retention})
    else:
        table = Table(title="local cluster")
        for column in ("node", "state", "where", "pid", "since"):
            table.add_column(column)
        for node_id, node in status.nodes:
            state = "reachable" if node.reachable else ("running, not answering" if node.running else "stopped")
            if node.reachable and node_id not in status.registered:
                state = "running, not registered"
            table.add_row(str(node_id), state, node.bootstrap, str(node.pid or "-"),
                          node.since.isoformat() if node.since else "-")
        out.print(table)
        quorum = status.quorum
        if quorum:
            voters = ", ".join(f"{v['node_id']} (log end {v['log_end_offset']})" for v in quorum["voters"])
            out.print(f"controller quorum: leader {quorum['leader']}, epoch {quorum['epoch']}, voters {voters}")
        else:
            out.print("controller quorum: no node answered")
        if status.under_replicated:
            out.print(f"[bold]{len(status.under_replicated)} under-replicated partition(s):[/]")
            for item in status.under_replicated:
                out.print(f"  {item['topic']}[{item['partition']}] leader {item['leader']} "
                          f"replicas {item['replicas']} in sync {item['isr']}")
        else:
            out.print("under-replicated partitions: none")
        if owner is not None:
            out.print(f"warehouse reads: {_owner_line(owner)}")
        _print_retention(retention)
    if not status.reachable:
        sys.exit(EXIT_UNAVAILABLE)


# -- ledger topics ----------------------------------------------------------------------------


@main.group()
def topics() -> None:
    """The ledger's Kafka topics (names from LEDGER_*_TOPIC)."""


@topics.command("create")
@click.option("--json", "as_json", is_flag=True, help="Print what was created and changed as JSON.")
@click.pass_obj
def topics_create(settings: Settings, as_json: bool) -> None:
    """Create the session, ops, dead-letter and erasure topics where missing, each with its retention
    from the settings (LEDGER_*_RETENTION_MS, LEDGER_SEGMENT_*), and bring the retention configs of
    existing ones, and of the worker's own topics, to the settings. Prints what it changed.

    \b
    Example:
      LEDGER_BOOTSTRAP_SERVERS=kafka:9092 ledger topics create
      LEDGER_SESSION_RETENTION_MS=259200000 ledger topics create   # a 3-day hot window
    """
    created, changes = _create_and_align_topics(settings, settings.bootstrap_servers)
    if as_json:
        print_json({"created": created, "changed": [change.as_dict() for change in changes]})
        return
    out.print(f"created: {', '.join(created)}" if created else "all topics already exist")
    for change in changes:
        before = change.before if change.before is not None else "(broker default)"
        out.print(f"changed {change.topic}: {change.key} {before} -> {change.after}")
    if not changes:
        out.print("retention configs already as the settings say")


def _create_and_align_topics(settings: Settings, bootstrap: str) -> tuple[list, list]:
    """Create the ledger's topics where missing; bring the retention of the ledger's and the worker's
    existing topics to the settings. Returns (names created, ConfigChange list)."""
    from streams.fold.options import worker_topics
    from streams.kafka.config import kafka_python_options
    from streams.kafka.topics import align_topics, ensure_topics, ledger_topics, replication_options

    client = kafka_python_options(settings)
    wanted = ledger_topics(settings)
    created = ensure_topics(bootstrap, wanted, client_options=client, **replication_options(settings))
    changes = align_topics(bootstrap, {**wanted, **worker_topics(settings, settings.partitions)},
                           client_options=client)
    return created, changes


# -- ledger schemas ---------------------------------------------------------------------------


@main.group()
def schemas() -> None:
    """The event contract: Avro schemas for every version in schemas/avro."""


@schemas.command("check")
@click.option("--root", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Check this catalogue directory instead of the shipped one.")
@click.option("--transitive", is_flag=True, help="Check each version against every earlier one, not just the last.")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
def schemas_check(root: Path | None, transitive: bool, as_json: bool) -> None:
    """Check every schema version is backward and forward compatible with the previous one.

    Exits 1 naming the schema, versions, direction and field of each incompatibility.

    \b
    Example:
      ledger schemas check
      ledger schemas check --root ./my-catalogue --transitive
    """
    from schemas.catalogue import load_catalogue
    from schemas.compat import check

    catalogue = load_catalogue(root)
    findings = check(catalogue, transitive=transitive)
    if as_json:
        print_json([finding.__dict__ for finding in findings])
    elif findings:
        for finding in findings:
            out.print(f"[red]incompatible[/] {finding}", highlight=False)
    else:
        out.print("every schema version is backward and forward compatible with the one before it")
    if findings:
        sys.exit(EXIT_FOUND_PROBLEMS)


# -- ledger emit ------------------------------------------------------------------------------


@main.command()
@click.argument("source", type=click.File("r"), default="-")
@click.option("--producer", default="ledger-emit", show_default=True,
              help="Producer name recorded on events that do not carry one.")
@click.option("--flush-timeout", default=30.0, show_default=True, help="Seconds to wait for the broker at the end.")
@click.option("--max-rate", type=click.FloatRange(min=0.1), default=None,
              help="At most this many events per second (default: as fast as the broker takes them).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def emit(settings: Settings, source, producer: str, flush_timeout: float, max_rate: float | None,
         as_json: bool) -> None:
    """Emit JSON lines (a file, or - for stdin) of session or ops events.

    Each line is validated before anything is sent; a bad line is reported with its line
    number and field, the others are still emitted. Lines over 256 KiB and events over 64 KiB
    encoded are refused. While the broker is unreachable events go
    to a local spool and are sent when it returns. Exits 1 if any line was rejected.

    \b
    Example:
      echo '{"event_type": "heartbeat", "session_id": "…", ...}' | ledger emit
      ledger emit events.jsonl --json
    """
    from streams.emit.lines import bounded_lines, emit_json_lines
    from streams.emit.emitter import SessionEmitter

    emitter = SessionEmitter.from_settings(settings, producer=producer)
    try:
        report = emit_json_lines(bounded_lines(source), emitter, max_rate=max_rate)
        emitter.flush(flush_timeout)
        stats = emitter.stats
    finally:
        emitter.close()
    if as_json:
        print_json({**report.as_dict(), "stats": stats.__dict__ if hasattr(stats, "__dict__") else stats})
    else:
        out.print(f"sent {report.sent}, rejected {len(report.rejected)}")
        for rejection in report.rejected[:50]:
            out.print(f"  [red]rejected[/] {rejection}", highlight=False)
        if len(report.rejected) > 50:
            out.print(f"  ... and {len(report.rejected) - 50} more (use --json for all)")
    if not report.ok:
        sys.exit(EXIT_FOUND_PROBLEMS)


# -- ledger warehouse -------------------------------------------------------------------------


@main.group()
def warehouse() -> None:
    """The ClickHouse history: chDB on disk by default, a server when LEDGER_CLICKHOUSE_URL is set."""


@warehouse.command("migrate")
@click.pass_obj
def warehouse_migrate(settings: Settings) -> None:
    """Apply the numbered migrations that have not run yet (recorded in schema_migrations).

    \b
    Example:
      ledger warehouse migrate
      LEDGER_CLICKHOUSE_URL=clickhouse://default@127.0.0.1:9000/ledger ledger warehouse migrate
    """
    out.print(_migrate_warehouse(settings))


@warehouse.command("serve")
@click.pass_obj
def warehouse_serve(settings: Settings) -> None:
    """Own the embedded warehouse and serve reads to every other process (blocks until stopped).

    ClickHouse's HTTP interface, read-only, on 127.0.0.1:LEDGER_WAREHOUSE_HTTP_PORT (8123),
    behind LEDGER_API_TOKEN when set. A sink that starts takes the warehouse over (it stops this
    process); `ledger stack up --warehouse-owner` starts this in the background.

    \b
    Example:
      ledger warehouse serve &
      curl -H "Authorization: Bearer $LEDGER_API_TOKEN" 'http://127.0.0.1:8123/?query=SELECT+count()+FROM+session_events'
    """
    import signal
    import threading

    from analytics.serve.owner import STANDALONE, open_owned, read_owner

    if clickhouse_url(settings):
        fail("LEDGER_CLICKHOUSE_URL names a ClickHouse server, which serves its own reads", EXIT_BAD_INPUT)
    current = read_owner(settings.state_dir)
    if current is not None:
        out.print(f"already served: {_owner_line(current)}")
        return
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with open_owned(settings, role=STANDALONE) as owned:  # migrated before it serves
        owner = getattr(owned, "owner", None)
        if owner is None:
            fail("the warehouse is open but its HTTP interface did not start (see the log above)")
        err.print(f"serving reads: {_owner_line(owner)}")
        stop.wait()
    err.print("warehouse owner stopped")


# -- ledger smoke -----------------------------------------------------------------------------


@main.command()
@click.option("--sessions", default=20, show_default=True, type=click.IntRange(1, 10_000),
              help="How many five-event sessions to send round the loop.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def smoke(settings: Settings, sessions: int, as_json: bool) -> None:
    """Round-trip events through the real parts: emit -> Kafka -> decode -> ClickHouse -> query.

    Exits 1 when anything produced is not consumed, decoded and stored exactly once.

    \b
    Example:
      ledger stack up && ledger smoke --sessions 50
    """
    from ledger.smoke import run_smoke

    with open_history(settings) as history:
        with err.status("round trip through Kafka and ClickHouse"):
            result = run_smoke(settings.bootstrap_servers, settings.session_topic, history, sessions)
    if as_json:
        print_json(result.as_dict())
    else:
        table = Table(title=f"smoke round trip {result.run_id}")
        table.add_column("step")
        table.add_column("events", justify="right")
        table.add_column("seconds", justify="right")
        table.add_row("produced to Kafka (acks=all)", str(result.produced), str(result.timings_s["produce"]))
        table.add_row("consumed and decoded", str(result.consumed), str(result.timings_s["consume+decode"]))
        table.add_row("rows in ClickHouse (inserted twice)", str(result.rows_in_history),
                      str(result.timings_s["insert+query"]))
        out.print(table)
        out.print("[bold green]ok[/]: every event came back once, unchanged" if result.ok
                  else "[bold red]mismatch[/]: see the counts above")
    if not result.ok:
        sys.exit(EXIT_FOUND_PROBLEMS)


def _register_command_modules() -> None:
    """Subcommand groups kept in ledger/commands/, one module per group."""
    from importlib import import_module

    for module_name, command_name in _COMMAND_MODULES:
        main.add_command(getattr(import_module(f"ledger.commands.{module_name}"), command_name))


_COMMAND_MODULES: list[tuple[str, str]] = [  # (module in ledger/commands, click command in it)
    ("report", "report"),
    ("loadgen", "loadgen"),
    ("demo", "demo"),
    ("replay", "replay"),
    ("bench", "bench"),
    ("run", "worker"),
    ("run", "sink"),
    ("run", "projections"),
    ("deadletters", "dead_letters"),
    ("sql", "sql"),
    ("player", "player"),
    ("deploy", "deploy"),
    ("capacity", "capacity"),
    ("slo", "slo"),
]
_register_command_modules()


if __name__ == "__main__":  # pragma: no cover
    main()
