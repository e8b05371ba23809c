"""`ledger replay session|incident|window`: what happened, from the history (or the log), for
incident reviewers.

Exit codes: 0 done; 1 nothing to replay (unknown session or incident, an empty window); 2 bad
input (an unparseable instant, --from not before --to, a bad --speed); 3 Kafka or ClickHouse
unavailable.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from ledger.commands.common import (
    EXIT_BAD_INPUT, EXIT_FOUND_PROBLEMS, err, fail, open_history, out, print_json,
)
from ledger.commands.report import parse_instant

KAFKA_LOOKBACK = timedelta(days=7)
SESSIONS_PRINTED = 20


@click.group("replay")
def replay() -> None:
    """Replay the past: a session's timeline, an incident or a window, the ledger as of an instant.

    \b
    Exit codes: 1 nothing to replay (unknown id, empty window), 2 bad input.
    Definitions are in docs/replay.md.
    """


# -- ledger replay session ---------------------------------------------------------------------


@replay.command("session")
@click.argument("session_id")
@click.option("--at", metavar="INSTANT", help="Replay up to this instant only (ISO 8601, UTC if no offset).")
@click.option("--source", type=click.Choice(["auto", "history", "kafka"]), default="auto", show_default=True,
              help="auto: ClickHouse, and the session topic when the history does not have the session.")
@click.option("--since", metavar="INSTANT",
              help="Kafka: scan from the first offset at this instant (default: 7 days before --at or now).")
@click.option("--json", "as_json", is_flag=True, help="Print the timeline and final state as JSON.")
@click.pass_obj
def replay_session_command(settings, session_id, at, source, since, as_json) -> None:
    """One session's timeline: each event with the state after it (status, server, seq, anomalies).

    \b
    Example:
      ledger replay session 3f2b8c1e-9a4d-4c1b-8f0e-2d6a7b9c1e5f
      ledger replay session 3f2b8c1e-9a4d-4c1b-8f0e-2d6a7b9c1e5f --at 2026-11-24T18:05:00Z --json
    """
    from analytics.replay import SessionNotFound, replay_session, session_events_of
    from analytics.replay.heartbeat_ttl import NEVER, heartbeats_before

    at_instant = parse_instant(at, "--at")
    since_instant = parse_instant(since, "--since")
    events, origin, before = [], "history", NEVER
    if source in ("auto", "history"):
        with open_history(settings) as warehouse:
            events = session_events_of(warehouse, session_id)
            before = heartbeats_before(warehouse)
    if not events and source in ("auto", "kafka"):
        events, origin = _from_kafka(settings, session_id, since_instant or
                                     (at_instant or datetime.now(timezone.utc)) - KAFKA_LOOKBACK), "kafka"
    if not events:
        where = {"history": "the ClickHouse history", "kafka": f"topic {settings.session_topic!r}",
                 "auto": f"the ClickHouse history nor topic {settings.session_topic!r}"}[source]
        raise SessionNotFound(session_id, where)
    result = replay_session(session_id, events, origin, at_instant,
                            before if origin == "history" else NEVER)
    if result is None:
        fail(f"session {session_id} has no events at or before {at_instant.isoformat()}; "
             f"its first event occurred at {min(e.occurred_at for e in events).isoformat()}",
             EXIT_FOUND_PROBLEMS)
    if as_json:
        print_json(result.as_dict())
        return
    table = Table(title=f"session {session_id} (from {origin})")
    for column in ("occurred_at", "seq", "event", "outcome", "status", "server", "last_seq", "anomalies"):
        table.add_column(column)
    for line in result.lines:
        table.add_row(_time(line.occurred_at), str(line.seq), line.event_type, line.outcome, line.status,
                      line.server_id or "-", str(line.last_seq), "; ".join(line.anomalies) or "-")
    out.print(table)


def _from_kafka(settings, session_id, since):
    from streams.replay.source import session_events_from_kafka

    with err.status(f"scanning {settings.session_topic} from {since.isoformat()}"):
        scan = session_events_from_kafka(settings.bootstrap_servers, settings.session_topic, session_id, since)
    if scan.unreadable:
        err.print(f"{scan.unreadable} unreadable message(s) skipped (see the dead-letter topic)")
    from streams.kafka.erasures import read_erasures

    erased = read_erasures(settings)  # the topic still holds erased ids: never show them
    return [erased.anonymise_event(event) for event in scan.events]


# -- ledger replay incident ---------------------------------------------------------------------


@replay.command("incident")
@click.argument("incident_id")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the self-contained HTML timeline page here.")
@click.option("--json", "as_json", is_flag=True, help="Print the replay as JSON.")
@click.pass_obj
def replay_incident_command(settings, incident_id, html_path, as_json) -> None:
    """An incident from opening to resolution: its ops events with per-minute disconnects,
    reconnects and timeouts in its regions, the sessions affected, and its customer impact.

    \b
    Example:
      ledger replay incident INC-42
      ledger replay incident INC-42 --html /tmp/inc-42.html
    """
    from analytics.replay import replay_incident

    with open_history(settings) as warehouse:
        result = replay_incident(warehouse, incident_id)
    _show_window(result, f"incident {incident_id}", html_path, as_json)


# -- ledger replay window -----------------------------------------------------------------------


@replay.command("window")
@click.option("--from", "from_", metavar="INSTANT", help="Start of the window (ISO 8601, UTC if no offset).")
@click.option("--to", metavar="INSTANT", help="End of the window, exclusive.")
@click.option("--region", default="", help="Only this region (e.g. eu-west).")
@click.option("--at", metavar="INSTANT",
              help="Instead: the state of every projection (sessions, players, concurrency) as of this instant.")
@click.option("--to-topic", metavar="TOPIC", help="Re-emit the window's session events to this topic.")
@click.option("--speed", default="max", show_default=True,
              help="With --to-topic: how many times faster than it happened; 0 or max = as fast as possible.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the self-contained HTML timeline page here.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def replay_window_command(settings, from_, to, region, at, to_topic, speed, html_path, as_json) -> None:
    """A window of the history: ops events with per-minute disconnects, reconnects and timeouts by
    region, and the sessions affected; or the ledger as of an instant (--at); or the window's
    events sent again to another topic (--to-topic, --speed).

    \b
    Example:
      ledger replay window --from 2026-11-24T18:00:00Z --to 2026-11-24T19:00:00Z --region eu-west
      ledger replay window --at 2026-11-24T18:30:00Z --json
      ledger replay window --from 2026-11-24T18:00Z --to 2026-11-24T19:00Z --to-topic replay-1 --speed 60
    """
    if at is not None:
        if from_ or to or to_topic or html_path:
            fail("--at replays the whole ledger up to one instant; it takes no --from, --to, "
                 "--to-topic or --html", EXIT_BAD_INPUT)
        _as_of(settings, parse_instant(at, "--at"), region, as_json)
        return
    if not from_ or not to:
        fail("a window needs --from and --to (or --at for the state at one instant)", EXIT_BAD_INPUT)
    start, end = parse_instant(from_, "--from"), parse_instant(to, "--to")
    if start >= end:
        fail(f"--from ({start.isoformat()}) must be before --to ({end.isoformat()})", EXIT_BAD_INPUT)
    if to_topic:
        _reemit(settings, start, end, region, to_topic, _speed(speed), as_json)
        return
    from analytics.replay import replay_window

    with open_history(settings) as warehouse:
        result = replay_window(warehouse, start, end, region)
    _show_window(result, f"window {_time(start)} to {_time(end)}" + (f" in {region}" if region else ""),
                 html_path, as_json)


def _speed(text: str) -> float | None:
    if text.strip().lower() in ("max", "0"):
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0 or value != value or value == float("inf"):
        fail(f"--speed {text!r} must be a positive factor (e.g. 10 for ten times faster) or max",
             EXIT_BAD_INPUT)
    return value


def _as_of(settings, at: datetime, region: str, as_json: bool) -> None:
    from analytics.replay import counts_as_of

    with open_history(settings) as warehouse, err.status("folding the history") as status:
        state = counts_as_of(warehouse, at, region=region,
                             on_event=lambda n: status.update(f"folding the history: {n:,} events"))
    summary = state.summary()
    if as_json:
        print_json(summary)
        return
    out.print(f"the ledger as of {_time(at)}: {summary['events_folded']:,} events folded")
    out.print(f"sessions: {summary['sessions']['count']:,} "
              f"({', '.join(f'{k} {v:,}' for k, v in summary['sessions']['by_status'].items()) or 'none'})")
    out.print(f"players: {summary['players']['count']:,}, "
              f"{summary['players']['with_open_sessions']:,} with an open session")
    table = Table(title=f"concurrency: {summary['live']:,} live")
    for column in ("region", "platform", "active", "disconnected", "live"):
        table.add_column(column)
    for row in summary["concurrency"]:
        table.add_row(row["region"], row["platform"], str(row["active"]), str(row["disconnected"]),
                      str(row["live"]))
    out.print(table)


def _reemit(settings, start, end, region, topic, speed, as_json) -> None:
    from analytics.replay import EmptyWindow, Window, iter_session_events
    from analytics.replay.history import count_events
    from streams.replay.reemit import reemit
    from streams.kafka.topics import ensure_topics, replication_options

    if topic == settings.session_topic:
        fail(f"--to-topic {topic!r} is the live session topic: every event would be delivered twice. "
             "Choose another topic", EXIT_BAD_INPUT)
    window = Window(start, end, region)
    with open_history(settings) as warehouse:
        total = count_events(warehouse, window)
        if not total:
            raise EmptyWindow(start, end, region)
        created = ensure_topics(settings.bootstrap_servers, {topic: settings.partitions},
                                **replication_options(settings))
        if created:
            err.print(f"created topic {topic} ({settings.partitions} partitions)")
        with Progress(TextColumn(f"re-emitting to {topic}"), BarColumn(), MofNCompleteColumn(),
                      TimeRemainingColumn(), console=err, transient=as_json) as progress:
            task = progress.add_task("reemit", total=total)
            report = reemit(iter_session_events(warehouse, window), settings.bootstrap_servers, topic, speed,
                            on_sent=lambda n: progress.update(task, completed=n))
    if as_json:
        print_json(report.as_dict())
    else:
        out.print(f"re-emitted {report.sent:,} events to {topic} in {report.seconds:.2f}s "
                  f"(window of {report.window_seconds:.0f}s, speed {speed or 'max'})")


# -- showing a window --------------------------------------------------------------------------


def _show_window(result, title: str, html_path: Path | None, as_json: bool) -> None:
    if html_path is not None:
        from analytics.replay.timeline_page import write_timeline_page

        html_path.parent.mkdir(parents=True, exist_ok=True)
        written = write_timeline_page(result, html_path, title)
        err.print(f"wrote {written}")
    if as_json:
        print_json(result.as_dict())
        return
    timeline = Table(title=title)
    for column in ("at", "kind", "region", "what", "detail"):
        timeline.add_column(column)
    for entry in result.entries:
        detail = ", ".join(f"{k}={v}" for k, v in entry.detail.items() if v not in (None, "", []))
        timeline.add_row(_time(entry.at), entry.kind, entry.region, entry.what, detail)
    out.print(timeline)
    affected = Table(title=f"sessions affected: {len(result.sessions_affected)}"
                           + (" (first shown)" if len(result.sessions_affected) > SESSIONS_PRINTED else ""))
    for column in ("session_id", "player_id", "region", "platform", "disconnects", "timeouts", "first_disrupted_at"):
        affected.add_column(column)
    for row in result.sessions_affected[:SESSIONS_PRINTED]:
        affected.add_row(row["session_id"], row["player_id"], row["region"], row["platform"],
                         str(row["disconnects"]), str(row["timeouts"]), _time(row["first_disrupted_at"]))
    out.print(affected)
    if result.impact:
        impact = Table(title="impact")
        for column in result.impact[0]:
            impact.add_column(column)
        for row in result.impact:
            impact.add_row(*(str(v) for v in row.values()))
        out.print(impact)


def _time(instant: datetime | None) -> str:
    return instant.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] if instant else "-"
