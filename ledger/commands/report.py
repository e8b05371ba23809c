"""`ledger report <metric>`: the reliability metrics over the ClickHouse history, as tables, JSON or CSV."""
from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone
from pathlib import Path

import click
from rich.table import Table

from ledger.commands.common import EXIT_BAD_INPUT, fail, open_history, out, print_json

_ALWAYS = ("list", "html", "slo", "capacity", "cost")
_COMPUTED = {
    "capacity": "Per region and minute: concurrent sessions, player slots, utilisation, headroom.",
    "cost": "What did the fleet cost per player-hour, how much sat idle, by region and platform?",
}


def parse_instant(value: str | None, option: str) -> datetime | None:
    """An ISO 8601 instant; one without an offset is taken as UTC."""
    if value is None:
        return None
    try:
        instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        fail(f"{option} {value!r} is not an ISO 8601 instant (e.g. 2026-11-24T18:00:00Z)", EXIT_BAD_INPUT)
    return instant if instant.tzinfo else instant.replace(tzinfo=timezone.utc)


def history_period(warehouse) -> tuple[datetime, datetime] | None:
    """[minute of the first event, last event + 1 minute) over session and ops events; None when history is empty."""
    row = warehouse.query(
        "SELECT min(t) AS first, max(t) AS last, count() AS n FROM ("
        " SELECT occurred_at AS t FROM session_events UNION ALL SELECT occurred_at AS t FROM ops_events)",
        name="history period",
    )[0]
    if not row["n"]:
        return None
    return row["first"].replace(second=0, microsecond=0), row["last"] + timedelta(minutes=1)


def _metric_names() -> list[str]:
    from analytics.reports import report_names

    return [*_ALWAYS, *report_names()]


@click.command("report")
@click.argument("metric", type=click.Choice(_metric_names(), case_sensitive=False), metavar="METRIC")
@click.option("--from", "from_", metavar="INSTANT", help="Start of the period (ISO 8601, UTC if no offset). "
              "Default: the first event in the history.")
@click.option("--to", metavar="INSTANT", help="End of the period, exclusive. Default: a minute after the last event.")
@click.option("--region", default=None, help="Only this region (e.g. eu-west).")
@click.option("--platform", default=None, help="Only this platform (pc, playstation, xbox, switch, ios, android, cloud).")
@click.option("--incident", "incident_id", default=None, help="The incident id (incident_impact, post_incident_churn).")
@click.option("--window-minutes", type=click.IntRange(1, 7 * 24 * 60), default=None,
              help="change_failure_rate: an incident this soon after a deploy counts against it (default 60).")
@click.option("--follow-days", type=click.IntRange(1, 365), default=None,
              help="post_incident_churn: days after the incident in which a player must return (default 7).")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="html: where to write the report (default: <state_dir>/reports/report.html).")
@click.option("--slo-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="slo: OpenSLO v1 YAML file of the SLOs (default: the shipped one).")
@click.option("--include-planned", is_flag=True,
              help="Count planned work (maintenance windows, drills) too: slo, availability/error_rate, "
                   "mttr, mtta, mtbf, incident_milestones, uptime leave it out by default.")
@click.option("--json", "as_json", is_flag=True, help="Print rows as JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print rows as CSV.")
@click.pass_obj
def report(settings, metric, from_, to, region, platform, incident_id, window_minutes, follow_days,
           out_path, slo_file, include_planned, as_json, as_csv) -> None:
    """Answer a reliability question from the history: METRIC is one of the names below.

    \b
    `ledger report list` says what each metric answers; definitions are in docs/metrics.md.
    `ledger report html` writes one self-contained HTML page with the key charts.

    \b
    Example:
      ledger report mttr --from 2026-11-01T00:00:00Z --to 2026-11-24T00:00:00Z
      ledger report latency --region eu-west --json
      ledger report incident_impact --incident INC-42
      ledger report html --out /tmp/ledger.html
      ledger report slo --from 2026-11-01T00:00:00Z --to 2026-11-08T00:00:00Z
      ledger report cost --from 2026-11-01T00:00:00Z --to 2026-11-08T00:00:00Z
    """
    from analytics.reports import REPORTS

    if metric == "list":
        listed = {**{name: r.question for name, r in REPORTS.items()}, **_COMPUTED}
        _print_rows([{"metric": name, "question": question} for name, question in sorted(listed.items())],
                    "reports", as_json, as_csv)
        return
    start, end = parse_instant(from_, "--from"), parse_instant(to, "--to")
    with open_history(settings) as warehouse:
        if start is None or end is None:
            bounds = history_period(warehouse)
            if bounds is None:
                fail("the history is empty: nothing has been written to ClickHouse yet "
                     "(run `ledger demo`, or the sink with `ledger sink`)", 1)
            start, end = start or bounds[0], end or bounds[1]
        if start >= end:
            fail(f"--from ({start.isoformat()}) must be before --to ({end.isoformat()})", EXIT_BAD_INPUT)
        if metric == "html":
            from analytics.html_report import write_html_report

            path = out_path or settings.state_dir / "reports" / "report.html"
            path.parent.mkdir(parents=True, exist_ok=True)
            written = write_html_report(warehouse, path, start, end)
            out.print(f"wrote {written}")
            return
        if metric == "slo":
            from analytics.slo import load_slos, slo_by_day

            rows = [row for s in load_slos(slo_file or settings.slo_file)
                    for row in slo_by_day(warehouse, s, start, end, include_planned=include_planned)]
            _print_rows(rows, "slo: each SLO's SLI and budget spent, per UTC day", as_json, as_csv)
            return
        if metric in _COMPUTED:
            if platform is not None or incident_id or window_minutes or follow_days or include_planned or \
                    (region is not None and metric == "cost"):
                fail(f"{metric} takes only --from, --to" + (" and --region" if metric == "capacity" else ""),
                     EXIT_BAD_INPUT)
            if metric == "capacity":
                from analytics.capacity import capacity_minutes

                rows = capacity_minutes(warehouse, start, end, region or "")
            else:
                from analytics.cost import cost_report

                rows = cost_report(warehouse, start, end)
        else:
            spec = REPORTS[metric]
            offered = {"from_": start, "to": end, "region": region, "platform": platform,
                       "incident_id": incident_id, "window_minutes": window_minutes, "follow_days": follow_days,
                       "include_planned": 1 if include_planned else None}
            accepted = set(spec.required) | set(spec.defaults)
            ignored = [k for k in ("region", "platform", "incident_id", "window_minutes", "follow_days",
                                   "include_planned")
                       if offered[k] is not None and k not in accepted]
            if ignored:
                fail(f"{metric} does not take {', '.join('--' + k.replace('_id', '').replace('_', '-') for k in ignored)}",
                     EXIT_BAD_INPUT)
            from analytics.reports import run_report

            rows = run_report(warehouse, metric, **{k: v for k, v in offered.items() if k in accepted})
    question = _COMPUTED[metric] if metric in _COMPUTED else REPORTS[metric].question
    _print_rows(rows, f"{metric}: {question}", as_json, as_csv)


def _print_rows(rows: list[dict], title: str, as_json: bool, as_csv: bool) -> None:
    if as_json:
        print_json(rows)
        return
    if as_csv:
        buffer = io.StringIO()
        if rows:
            writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        click.echo(buffer.getvalue(), nl=False)
        return
    table = Table(title=title)
    columns = list(rows[0]) if rows else ["(no rows)"]
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(_cell(row[c]) for c in columns))
    out.print(table)


def _cell(value) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)
