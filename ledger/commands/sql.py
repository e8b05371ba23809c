"""`ledger sql "SELECT ..."`: one read-only query over the history, in any ClickHouse output format."""
from __future__ import annotations

import sys

import click

from ledger.commands.common import clickhouse_url, open_history, out, print_json, through_owner


@click.command("sql")
@click.argument("query")
@click.option("--format", "fmt", metavar="FORMAT", default=None,
              help="A ClickHouse output format (JSONEachRow, CSVWithNames, Pretty, Parquet, ...). Default: "
                   "PrettyCompactMonoBlock on a terminal, TabSeparatedWithNames otherwise; a FORMAT "
                   "clause in the query wins.")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="A value for a {NAME:Type} placeholder in the query (repeatable).")
@click.pass_obj
def sql(settings, query, fmt, params) -> None:
    """Run one read-only query (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN, EXISTS) over the history.

    QUERY is the SQL, or - to read it from stdin. Writes and DDL are refused (exit 2). It runs
    where the history is: on the embedded warehouse, through the process that owns it when one
    does (the sink), bounded by LEDGER_WAREHOUSE_QUERY_TIMEOUT_S and _MAX_RESULT_ROWS/_BYTES.

    \b
    Example:
      ledger sql "SELECT region, count() FROM session_events GROUP BY region"
      ledger sql "SELECT * FROM incidents" --format JSONEachRow
      ledger sql "SELECT count() FROM session_events WHERE region = {r:String}" --param r=eu-west
      echo "SHOW TABLES" | ledger sql -
    """
    from analytics.serve.protocol import check_read_only
    from analytics.errors import BadReportParameter

    text = sys.stdin.read() if query == "-" else query
    check_read_only(text)
    values = {}
    for item in params:
        name, sep, value = item.partition("=")
        if not sep or not name.isidentifier():
            raise BadReportParameter("sql", item, "must be NAME=VALUE, e.g. --param region=eu-west")
        values[name] = value
    fmt = fmt or ("PrettyCompactMonoBlock" if sys.stdout.isatty() else "TabSeparatedWithNames")
    if clickhouse_url(settings):
        _on_server(settings, text, values, fmt)
        return
    remote = through_owner(settings)
    if remote is not None:
        with remote:
            output = remote.formatted(text, values, name="ledger sql", fmt=fmt)
    else:
        output = _on_embedded(settings, text, values, fmt)
    sys.stdout.buffer.write(output)
    sys.stdout.buffer.flush()


def _on_embedded(settings, text: str, values: dict, fmt: str) -> bytes:
    """Open the embedded warehouse here and run the query on a read-only connection with the
    same bounds the owner applies."""
    from analytics.errors import QueryFailed
    from analytics.serve.protocol import ReadRequest
    from analytics.serve.server import ReadConnections, ReadLimits

    with open_history(settings) as warehouse:
        connections = ReadConnections(warehouse.path, ReadLimits.from_settings(settings))
        try:
            return connections.run(ReadRequest(sql=text, format=fmt, params=values))
        except RuntimeError as error:
            raise QueryFailed("ledger sql", str(error).strip().splitlines()[0]) from error
        finally:
            connections.close()


def _on_server(settings, text: str, values: dict, fmt: str) -> None:
    """A ClickHouse server over the native protocol returns rows, not formatted text: JSON lines
    for the JSON formats, a table otherwise."""
    from rich.table import Table

    with open_history(settings, migrate=False) as warehouse:
        rows = warehouse.query(text, values, name="ledger sql")
    if fmt.startswith("JSON"):
        print_json(rows)
        return
    table = Table()
    for column in (rows[0] if rows else ["(no rows)"]):
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row.values()))
    out.print(table)
