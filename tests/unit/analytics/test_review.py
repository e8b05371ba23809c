"""The review documents' pure parts: the narrative written from an incident's figures, and the
chart shapes the pages draw."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from analytics.review import ceil_minute, chart, minute_axis, narrate, replay_commands, series_chart

OPENED = datetime(2026, 11, 24, 15, 40, tzinfo=timezone.utc)


def minute(offset: int) -> datetime:
    return OPENED + timedelta(minutes=offset)


def incident(**phases) -> dict:
    return {"incident_id": "INC-42", "severity": "sev2", "title": "Game servers crashing", "regions": ["eu-west"],
            "opened_at": OPENED, **{f"{k}_at": v for k, v in phases.items()}}


def minutes(disconnects: dict[int, int], timeouts: dict[int, int] | None = None) -> list[dict]:
    return [{"minute": minute(m), "disconnects": disconnects.get(m, 0), "timeouts": (timeouts or {}).get(m, 0)}
            for m in range(-15, 20)]


IMPACT = [
    {"region": "eu-west", "platform": "pc", "cross_play": True, "sessions_disrupted": 5, "unique_players": 4,
     "player_minutes_lost": 30.5},
    {"region": "eu-west", "platform": "xbox", "cross_play": False, "sessions_disrupted": 2, "unique_players": 2,
     "player_minutes_lost": 4.0},
]
CHURN = [{"cohort": "disrupted", "players": 6, "churned": 3, "churn_rate": 0.5},
         {"cohort": "undisrupted", "players": 10, "churned": 1, "churn_rate": 0.1}]


def test_the_narrative_tells_the_peak_against_the_minutes_before_and_what_it_cost():
    # 15 quiet minutes before with 3 disconnects in all (0.2 a minute), 33 at 15:41
    rows = minutes({-10: 1, -5: 2, 1: 33, 2: 12}, timeouts={3: 4})
    deploy = {"deploy_id": "DEP-1", "service": "gameserver", "version": "2.1", "started_at": minute(-9),
              "outcome": "failure"}

    lines = narrate(incident(acknowledged=minute(3), mitigated=minute(7), resolved=minute(12)),
                    rows, IMPACT, CHURN, [deploy], ["eu-west"])

    assert lines[0] == "INC-42 (sev2, eu-west) was opened at 15:40 UTC: Game servers crashing."
    assert lines[1] == "Deploy DEP-1 (gameserver 2.1) started at 15:31, 9 min before; outcome: failure."
    assert lines[2] == "At 15:41 disconnects in eu-west rose to 33 a minute (from 0.2 a minute in the 15 minutes before)."
    assert lines[3] == "4 session(s) timed out while it lasted."
    assert lines[4] == "Acknowledged after 3 min, mitigated after 7 min, resolved after 12 min."
    assert lines[5] == "7 sessions of 6 players were disrupted, 34.5 player-minutes lost; most on pc (5 sessions)."
    assert lines[6] == "50% of the disrupted players did not come back, against 10% of the undisrupted."


def test_an_open_incident_without_disruption_says_so():
    lines = narrate(incident(), minutes({}), [], [], [], ["eu-west"])

    assert "It is still open." in lines
    assert "No session was disrupted in its regions." in lines
    assert not any("rose to" in line or "Deploy" in line for line in lines)


def test_disconnects_after_the_resolution_are_not_the_incidents_peak():
    lines = narrate(incident(resolved=minute(5)), minutes({2: 4, 10: 50}), IMPACT, CHURN, [], ["eu-west"])

    assert any(line.startswith("At 15:42 disconnects in eu-west rose to 4 a minute") for line in lines)


def test_the_replay_commands_cover_the_incident_its_window_per_region_and_a_session():
    commands = replay_commands("INC-42", OPENED, minute(12), ["eu-west", "us-east"], [{"session_id": "s-1"}])

    assert commands[0] == "ledger replay incident INC-42"
    assert "ledger replay window --from 2026-11-24T15:25:00Z --to 2026-11-24T16:07:00Z --region us-east" in commands
    assert commands[-1] == "ledger replay session s-1"


def test_a_chart_has_one_series_per_value_summed_per_minute_and_zero_where_none():
    axis = minute_axis(minute(0), minute(3))
    rows = [{"minute": minute(0), "region": "eu-west", "concurrent": 2},
            {"minute": minute(0), "region": "eu-west", "concurrent": 3},  # another platform, same region
            {"minute": minute(2), "region": "us-east", "concurrent": 1},
            {"minute": minute(9), "region": "us-east", "concurrent": 7}]  # outside the axis

    spec = chart(axis, rows, "region", "concurrent")

    assert spec["x"] == [m.timestamp() for m in axis]
    assert spec["series"] == [{"label": "eu-west", "values": [5, 0, 0]}, {"label": "us-east", "values": [0, 0, 1]}]


def test_a_measure_missing_for_a_minute_is_a_gap_not_a_zero():
    axis = minute_axis(minute(0), minute(2))
    spec = series_chart(axis, [{"minute": minute(1), "p50": 40.0}], ("p50",), missing=None)

    assert spec["series"][0]["values"] == [None, 40.0]


def test_the_minute_axis_starts_at_the_first_whole_minute():
    assert ceil_minute(minute(0) + timedelta(seconds=1)) == minute(1)
    assert minute_axis(minute(0) + timedelta(seconds=1), minute(3)) == [minute(1), minute(2)]
