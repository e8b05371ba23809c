"""`ledger replay` as an incident reviewer runs it: answers, exit codes, messages."""
from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest

from analytics.migrate import migrate
from analytics.rows import write_events
from analytics.warehouse import ChdbWarehouse
from streams.replay.reemit import reemit
from tests.support.cli import ledger, settings_env
from tests.support.factories import T0, session_script
from tests.support.kafka import read_topic
from tests.support.stories import incident_story


@pytest.fixture
def reviewer(test_settings):
    """The incident story in the history of a ledger configured like a user's, and its env."""
    dropped, lost, calm, ops = incident_story()
    with ChdbWarehouse(test_settings.chdb_path) as history:
        migrate(history)
        write_events(history, [*dropped, *lost, *calm, *ops])
    return test_settings, settings_env(test_settings), dropped


def test_a_session_timeline_prints_each_event_with_the_state_after_it(reviewer):
    _, env, dropped = reviewer

    result = ledger("replay", "session", dropped[0].session_id, "--json", env=env)

    assert result.returncode == 0, result.stderr
    replay = json.loads(result.stdout)
    assert replay["source"] == "history"
    assert [line["status"] for line in replay["timeline"]][-3:] == ["disconnected", "active", "ended"]
    assert replay["state"]["status"] == "ended"


def test_a_session_the_history_lacks_is_read_from_the_session_topic(reviewer):
    settings, env, _ = reviewer
    late = session_script(heartbeats=1, end=None)
    reemit(late, settings.bootstrap_servers, settings.session_topic, speed=None)

    result = ledger("replay", "session", late[0].session_id, env=env)

    assert result.returncode == 0, result.stderr
    assert "from kafka" in result.stdout
    assert result.stdout.count("active") >= 2


def test_an_unknown_session_exits_1_saying_where_it_looked(reviewer):
    _, env, _ = reviewer
    missing = str(uuid.uuid4())

    result = ledger("replay", "session", missing, env=env)

    assert result.returncode == 1
    assert missing in result.stderr and "history nor topic" in result.stderr


def test_an_incident_replays_with_its_impact_and_writes_its_page(reviewer, tmp_path):
    _, env, _ = reviewer
    page = tmp_path / "inc-7.html"

    result = ledger("replay", "incident", "INC-7", "--json", "--html", str(page), env=env)

    assert result.returncode == 0, result.stderr
    replay = json.loads(result.stdout)
    assert replay["incident"]["incident_id"] == "INC-7"
    assert sum(row["sessions_disrupted"] for row in replay["impact"]) == 2
    assert [e["what"] for e in replay["timeline"] if e["kind"] == "ops"][0] == "incident_opened"
    assert "<svg" in page.read_text()


def test_the_ledger_as_of_an_instant_counts_sessions_players_and_concurrency(reviewer):
    _, env, dropped = reviewer
    disconnect = next(e for e in dropped if e.event_type == "disconnected")

    result = ledger("replay", "window", "--at", disconnect.occurred_at.isoformat(), "--json", env=env)

    assert result.returncode == 0, result.stderr
    state = json.loads(result.stdout)
    assert state["sessions"]["count"] == 3 and state["players"]["count"] == 3
    assert state["live"] == 3


def test_a_window_is_reemitted_to_another_topic(reviewer, new_topic):
    settings, env, dropped = reviewer
    topic = new_topic(3)

    result = ledger("replay", "window", "--from", T0.isoformat(), "--to", (T0 + timedelta(hours=1)).isoformat(),
                    "--region", "eu-west", "--to-topic", topic, "--speed", "max", "--json", env=env)

    assert result.returncode == 0, result.stderr
    sent = json.loads(result.stdout)["sent"]
    back = read_topic(settings.bootstrap_servers, topic, sent)
    assert len(back) == sent > len(dropped)
    assert {event.region for _, _, event in back} == {"eu-west"}


@pytest.mark.parametrize("args, code, message", [
    (("incident", "INC-404"), 1, "INC-404"),
    (("window", "--from", "2030-01-01T00:00:00Z", "--to", "2030-01-02T00:00:00Z"), 1, "no events between"),
    (("window", "--from", "2025-03-14T13:00:00Z", "--to", "2025-03-14T12:00:00Z"), 2, "must be before"),
    (("window", "--from", "yesterday", "--to", "2025-03-14T12:00:00Z"), 2, "not an ISO 8601 instant"),
    (("session", str(uuid.UUID(int=7)), "--at", "noon"), 2, "not an ISO 8601 instant"),
    (("window", "--from", "2025-03-14T12:00:00Z"), 2, "needs --from and --to"),
    (("window", "--from", "2025-03-14T12:00:00Z", "--to", "2025-03-14T13:00:00Z", "--to-topic", "x",
      "--speed", "fast"), 2, "positive factor"),
])
def test_bad_questions_exit_2_and_empty_answers_exit_1(reviewer, args, code, message):
    _, env, _ = reviewer

    result = ledger("replay", *args, env=env)

    assert result.returncode == code, result.stdout + result.stderr
    assert message in " ".join(result.stderr.split())
