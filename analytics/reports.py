"""Reliability metrics by name: each is one SQL file in analytics/queries/reports with bound parameters.

    run_report(warehouse, "mttr", from_=..., to=..., region="eu-west")

Definitions are in docs/metrics.md. Parameters: ``from_``/``to`` (aware datetimes, the
period [from_, to)), ``region``/``platform`` (default: all), ``incident_id``,
``window_minutes`` (change failure rate, default 60), ``follow_days`` (post-incident churn,
default 7), ``include_planned`` (1: count drills and maintenance windows too; default 0).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from analytics.errors import BadReportParameter, UnknownReport
from analytics.sql import query_text
from analytics.warehouse import Warehouse


_PERIOD = ("from_", "to")
_FILTERS = {"region": "", "platform": ""}
_INCIDENT_FILTERS = {"region": "", "include_planned": 0}


@dataclass(frozen=True)
class Report:
    name: str
    question: str
    required: tuple[str, ...]
    defaults: dict[str, Any]
    query_file: str
    finish: Callable[[list[dict[str, Any]], dict[str, Any]], list[dict[str, Any]]] | None = None

    @property
    def sql(self) -> str:
        return query_text("reports", self.query_file)


def _fill_minutes(rows: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every minute of the period, zero where no session was live."""
    seen = {row["minute"]: row["concurrent"] for row in rows}
    minute = _ceil_minute(params["from_"])
    filled = []
    while minute < params["to"]:
        filled.append({"minute": minute, "concurrent": seen.get(minute, 0)})
        minute += timedelta(minutes=1)
    return filled


def _peak(rows: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
    """The highest per-minute concurrency of the period and the first minute it was reached."""
    filled = _fill_minutes(rows, params)
    if not filled:
        return [{"minute": None, "peak_concurrent": 0}]
    top = max(filled, key=lambda row: (row["concurrent"], -row["minute"].timestamp()))
    return [{"minute": top["minute"], "peak_concurrent": top["concurrent"]}]


def _ceil_minute(instant: datetime) -> datetime:
    floor = instant.replace(second=0, microsecond=0)
    return floor if floor == instant else floor + timedelta(minutes=1)


REPORTS: dict[str, Report] = {
    report.name: report
    for report in [
        Report("mttr", "How long do incidents take to resolve?", _PERIOD, _INCIDENT_FILTERS, "mttr.sql"),
        Report("mtta", "How long until an incident is acknowledged?", _PERIOD, _INCIDENT_FILTERS, "mtta.sql"),
        Report("mtbf", "How long between incidents?", _PERIOD, _INCIDENT_FILTERS, "mtbf.sql"),
        Report("incident_milestones", "How long to detect, acknowledge, mitigate and resolve "
               "(mean, p50, p90)?", _PERIOD, {"region": "", "include_planned": 0},
               "incident_milestones.sql"),
        Report("change_failure_rate", "What share of deploys is followed by an incident?", _PERIOD,
               {"region": "", "window_minutes": 60}, "change_failure_rate.sql"),
        Report("error_rate", "What share of sessions ends abnormally (and availability)?", _PERIOD,
               {**_FILTERS, "include_planned": 0}, "error_rate.sql"),
        Report("latency", "What latency do players see, by region and platform?", _PERIOD,
               _FILTERS, "latency.sql"),
        Report("concurrency", "How many sessions were live, minute by minute?", _PERIOD,
               _FILTERS, "concurrency.sql", _fill_minutes),
        Report("concurrency_peak", "What was the peak of concurrent sessions?", _PERIOD,
               _FILTERS, "concurrency.sql", _peak),
        Report("churn", "Which share of active players did not come back next period?", _PERIOD,
               _FILTERS, "churn.sql"),
        Report("post_incident_churn", "Did players hit by an incident churn more than others?",
               ("incident_id",), {"follow_days": 7}, "post_incident_churn.sql"),
        Report("minute_rollup", "What happened minute by minute (starts, disconnects, latency)?",
               _PERIOD, _FILTERS, "minute_rollup.sql"),
        Report("uptime", "What share of minutes was each region up (no sev1/sev2 incident or "
               "paging burn)?", _PERIOD, _INCIDENT_FILTERS, "uptime.sql"),
        Report("incidents", "Which incidents overlap the period?", _PERIOD, {}, "incidents_in_period.sql"),
        Report("incident_impact", "Whom did an incident hurt, and how much?", ("incident_id",), {},
               "incident_impact.sql"),
    ]
}
REPORTS["availability"] = REPORTS["error_rate"]


def report_names() -> list[str]:
    return sorted(REPORTS)


def run_report(warehouse: Warehouse, name: str, **params: Any) -> list[dict[str, Any]]:
    """Run report ``name`` with its parameters; rows as dicts (columns documented in its SQL)."""
    report = REPORTS.get(name)
    if report is None:
        raise UnknownReport(name, report_names())
    bound = _check_params(report, params)
    rows = warehouse.query(report.sql, bound, name=name)
    return report.finish(rows, bound) if report.finish else rows


def _check_params(report: Report, params: dict[str, Any]) -> dict[str, Any]:
    allowed = set(report.required) | set(report.defaults)
    for key in params:
        if key not in allowed:
            raise BadReportParameter(report.name, key, f"is not a parameter; it takes {sorted(allowed)}")
    for key in report.required:
        if params.get(key) is None:
            raise BadReportParameter(report.name, key, "is required")
    bound = {**report.defaults, **{k: v for k, v in params.items() if v is not None}}
    for key in _PERIOD:
        if key in bound:
            value = bound[key]
            if not isinstance(value, datetime) or value.tzinfo is None:
                raise BadReportParameter(report.name, key, "must be a timezone-aware datetime")
            bound[key] = value.astimezone(timezone.utc)
    if "from_" in bound and bound["from_"] >= bound["to"]:
        raise BadReportParameter(report.name, "to", "must be later than from_")
    return bound
