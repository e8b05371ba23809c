"""Sessions with personal data, and what the warehouse says of them, for the erasure stories."""
from __future__ import annotations

from datetime import timedelta

from analytics.reports import run_report
from tests.support.factories import T0, session_event, session_script

PERSONAL = ("player_id", "party_id", "trace_id", "matchmaking_ticket")
"""The columns whose values name a person (the id, or a link to other records of them)."""


def sessions_of(player_id: str, count: int, start=T0) -> list:
    """``count`` sessions of ``player_id``, each with a party, a trace and a matchmaking ticket
    that contain the id (so a search for the id finds them too)."""
    events = []
    for number in range(count):
        script = session_script(player_id=player_id, start=start + timedelta(minutes=10 * number),
                                heartbeats=2, disconnect_and_reconnect=number % 2 == 0,
                                party_id=f"party-of-{player_id}", trace_id=f"trace-of-{player_id}-{number}")
        first = script[0]
        script[0] = session_event("requested", session_id=first.session_id, seq=1,
                                  occurred_at=first.occurred_at, player_id=player_id,
                                  party_id=first.party_id, trace_id=first.trace_id,
                                  matchmaking_ticket=f"ticket-of-{player_id}-{number}")
        events.extend(script)
    return events


def rows_naming(warehouse, player_id: str) -> int:
    """Rows of every table and view of the warehouse with a personal column that contains
    ``player_id``."""
    found = 0
    tables = [r["name"] for r in warehouse.query(
        "SELECT name FROM system.tables WHERE database = currentDatabase() "
        "AND engine NOT IN ('MaterializedView') AND NOT startsWith(name, '.')")]
    for table in tables:
        columns = [c["name"] for c in warehouse.query("DESCRIBE TABLE {t:Identifier}", {"t": table})]
        for column in columns:
            if column in PERSONAL:
                found += warehouse.query(
                    f"SELECT count() AS n FROM {table} WHERE position(toString({column}), {{id:String}}) > 0",
                    {"id": player_id})[0]["n"]
    return found


def figures(warehouse, start=T0) -> dict:
    """What the reports say of the whole history: none may move with an erasure."""
    window = {"from_": start - timedelta(hours=1), "to": start + timedelta(hours=2)}
    return {
        "summary": warehouse.query(
            "SELECT count() AS sessions, uniqExact(player_id) AS players, "
            "countIf(status = 'ended') AS ended FROM session_summary")[0],
        "events": warehouse.query("SELECT count() AS n, uniqExact(player_id) AS players "
                                  "FROM session_events FINAL")[0],
        "churn": run_report(warehouse, "churn", from_=start - timedelta(hours=1),
                            to=start + timedelta(minutes=30)),
        "error_rate": run_report(warehouse, "error_rate", **window),
        "concurrency": run_report(warehouse, "concurrency", **window),
        "minute_rollup": run_report(warehouse, "minute_rollup", **window),
    }
