"""Reading the history while a real sink process owns the embedded warehouse: the ledger's own
commands, clickhouse-connect and curl, all through the owner's read-only ClickHouse HTTP interface."""
from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import timedelta

import clickhouse_connect  # a dev extra: ClickHouse's official HTTP client, as users connect
import pytest

from analytics.migrate import migrate
from analytics.rows import write_events
from analytics.serve.owner import held_by_another_process, read_owner
from analytics.warehouse import ChdbWarehouse
from ledger.child import ChildProcess, wait_until
from streams.replay.reemit import reemit
from tests.support.cli import ledger, settings_env
from tests.support.factories import session_script
from tests.support.stories import incident_story

TOKEN = "owner-test-token"


def _sessions_in_history(owner_url: str, session_id: str) -> int:
    client = clickhouse_connect.get_client(host="127.0.0.1", port=int(owner_url.rsplit(":", 1)[1]),
                                           password=TOKEN)
    return client.query("SELECT count() FROM session_events WHERE session_id = {sid:String}",
                        parameters={"sid": session_id}).result_rows[0][0]


@pytest.fixture
def running_sink(test_settings, tmp_path):
    """The incident story in the history, a real `ledger sink` process owning it and writing a
    new session from Kafka; yields (settings, env for the CLI, the story and the new session,
    the owner record)."""
    dropped, lost, calm, ops = incident_story()
    with ChdbWarehouse(test_settings.chdb_path) as history:
        migrate(history)
        write_events(history, [*dropped, *lost, *calm, *ops])
    env = {**settings_env(test_settings), "LEDGER_CLICKHOUSE_PATH": str(test_settings.chdb_path),
           "LEDGER_API_TOKEN": TOKEN, "LEDGER_WAREHOUSE_HTTP_PORT": "0",
           "LEDGER_WAREHOUSE_MAX_RESULT_ROWS": "2500", "LEDGER_WAREHOUSE_QUERY_TIMEOUT_S": "3"}
    sink = ChildProcess(["-m", "ledger.cli", "sink", "--group-id", f"owner-{uuid.uuid4().hex[:8]}"],
                        tmp_path / "sink.log", env=env)
    with sink:
        owner = wait_until(lambda: read_owner(test_settings.state_dir), timeout_s=60,
                           what="the sink serving reads")
        late = session_script(heartbeats=2)
        reemit(late, test_settings.bootstrap_servers, test_settings.session_topic, speed=None)
        wait_until(lambda: _sessions_in_history(owner.url, late[0].session_id) == len(late), timeout_s=60,
                   what="the sink writing the new session")
        yield test_settings, env, (dropped, lost, calm, ops, late), owner
        assert sink.alive(), sink.log_tail()
        assert sink.stop() == 0, sink.log_tail()
    assert read_owner(test_settings.state_dir) is None  # the record goes with its owner


def test_replay_and_report_read_through_the_sink_that_owns_the_warehouse(running_sink):
    settings, env, (dropped, *_), owner = running_sink
    assert owner.role == "sink"

    replay = ledger("replay", "session", dropped[0].session_id, "--json", env=env)
    mttr = ledger("report", "mttr", "--json", env=env)

    assert replay.returncode == 0, replay.stderr
    assert json.loads(replay.stdout)["state"]["status"] == "ended"
    assert "reading through the warehouse's owner (sink" in " ".join(replay.stderr.split())
    assert mttr.returncode == 0, mttr.stderr
    assert json.loads(mttr.stdout)[0]["incidents"] == 1


def test_time_travel_reads_columns_through_the_owner(running_sink):
    """`replay window --at` reads Arrow pages through the owner and counts what folding the same
    events in this process counts."""
    from analytics.replay.as_of import fold_events

    _, env, (dropped, lost, calm, _, late), _ = running_sink
    at = calm[0].occurred_at + timedelta(minutes=3)
    events = sorted((e for e in [*dropped, *lost, *calm, *late] if e.occurred_at <= at), key=lambda e: e.occurred_at)

    result = ledger("replay", "window", "--at", at.isoformat(), "--json", env=env)

    assert result.returncode == 0, result.stderr
    through_owner = json.loads(result.stdout)
    expected = fold_events(events, at).summary()
    assert through_owner["sessions"] == expected["sessions"]
    assert through_owner["live"] == expected["live"] >= 1


def test_ledger_sql_reads_in_any_format_and_refuses_writes(running_sink):
    _, env, (dropped, lost, calm, *_), _ = running_sink

    counted = ledger("sql", "SELECT region, uniqExact(session_id) AS sessions FROM session_events "
                     "WHERE region = {r:String} GROUP BY region", "--param", "r=eu-west",
                     "--format", "JSONEachRow", env=env)
    write = ledger("sql", "INSERT INTO ops_events SELECT * FROM ops_events", env=env)

    assert counted.returncode == 0, counted.stderr
    assert json.loads(counted.stdout) == {"region": "eu-west", "sessions": 3}  # dropped, lost, the new one
    assert write.returncode == 2
    assert "READONLY" in write.stderr


def test_clickhouse_connect_runs_selects_and_is_refused_writes(running_sink):
    _, _, (dropped, *_), owner = running_sink
    port = int(owner.url.rsplit(":", 1)[1])
    client = clickhouse_connect.get_client(host="127.0.0.1", port=port, username="default", password=TOKEN)

    rows = client.query("SELECT seq, event_type FROM session_events FINAL WHERE session_id = {sid:String} "
                        "ORDER BY seq", parameters={"sid": dropped[0].session_id}).result_rows
    with pytest.raises(clickhouse_connect.driver.exceptions.DatabaseError, match="READONLY"):
        client.command("DROP TABLE session_events")
    with pytest.raises(clickhouse_connect.driver.exceptions.DatabaseError, match="READONLY"):
        client.command("INSERT INTO ops_events SELECT * FROM ops_events")

    assert [seq for seq, _ in rows] == [e.seq for e in dropped]
    assert rows[0][1] == dropped[0].event_type.value


def test_curl_reads_with_the_token_only(running_sink):
    _, _, _, owner = running_sink

    def curl(*args):
        return subprocess.run(["curl", "-s", "-w", "\n%{http_code}", *args], capture_output=True, text=True,
                              timeout=30).stdout.rsplit("\n", 1)

    by_url = curl("-H", f"Authorization: Bearer {TOKEN}",
                  f"{owner.url}/?query=SELECT+count()+FROM+incidents&default_format=JSONEachRow")
    by_body = curl("-u", f"default:{TOKEN}", f"{owner.url}/?database=system",
                   "--data-binary", "SELECT name FROM tables WHERE name = 'one' FORMAT CSV")
    chunked = curl("-H", f"X-ClickHouse-Key: {TOKEN}", "-H", "Transfer-Encoding: chunked", owner.url,
                   "--data-binary", "SELECT 40 + 2")
    without = curl(f"{owner.url}/?query=SELECT+1")
    drop = curl("-H", f"Authorization: Bearer {TOKEN}", owner.url, "--data-binary", "DROP TABLE incidents")

    assert [by_url[0].strip(), by_url[1]] == ['{"count()":1}', "200"]
    assert [by_body[0].strip(), by_body[1]] == ['"one"', "200"]
    assert [chunked[0].strip(), chunked[1]] == ["42", "200"]
    assert without[1] == "401" and "AUTHENTICATION_FAILED" in without[0]
    assert drop[1] == "403" and drop[0].startswith("Code: 164.")


def test_each_read_is_bounded_in_rows_and_time(running_sink):
    _, env, _, _ = running_sink

    too_many = ledger("sql", "SELECT number FROM numbers(5000)", env=env)
    too_long = ledger("sql", "SELECT count() FROM numbers(100000000000) WHERE cityHash64(number) = 0", env=env)
    lifted = ledger("sql", "SELECT number FROM numbers(5000) SETTINGS max_result_rows = 0", env=env)

    assert too_many.returncode == 3 and "TOO_MANY_ROWS_OR_BYTES" in too_many.stderr
    assert too_long.returncode == 3 and "TIMEOUT_EXCEEDED" in too_long.stderr
    assert lifted.returncode == 3 and "Cannot modify 'max_result_rows'" in " ".join(lifted.stderr.split())


def test_stack_status_says_who_owns_the_warehouse_and_where(running_sink):
    _, env, _, owner = running_sink

    status = ledger("stack", "status", "--json", env=env)  # the stack's own broker is not up: exit 3

    assert json.loads(status.stdout)["warehouse_owner"] == owner.as_dict()


def test_a_sink_takes_the_warehouse_over_from_a_standalone_owner(test_settings, tmp_path):
    env = {**settings_env(test_settings), "LEDGER_CLICKHOUSE_PATH": str(test_settings.chdb_path),
           "LEDGER_WAREHOUSE_HTTP_PORT": "0"}
    standalone = ChildProcess(["-m", "ledger.cli", "warehouse", "serve"], tmp_path / "owner.log", env=env)
    sink = ChildProcess(["-m", "ledger.cli", "sink"], tmp_path / "sink.log", env=env)
    with standalone:
        first = wait_until(lambda: read_owner(test_settings.state_dir), timeout_s=60, what="a standalone owner")
        before = ledger("sql", "SELECT count() FROM session_events", env=env)
        with sink:
            second = wait_until(lambda: (o := read_owner(test_settings.state_dir)) and o.role == "sink" and o,
                                timeout_s=60, what="the sink taking the warehouse over")
            assert standalone.wait(timeout_s=30) == 0, standalone.log_tail()
            after = ledger("sql", "SELECT count() FROM session_events", env=env)
            assert sink.stop() == 0, sink.log_tail()

    assert first.role == "standalone"
    assert second.pid != first.pid
    assert before.returncode == after.returncode == 0, before.stderr + after.stderr
    assert before.stdout.strip().splitlines()[-1] == after.stdout.strip().splitlines()[-1] == "0"



def test_the_stack_starts_and_stops_a_standalone_owner(test_settings):
    from ledger.child import settings_env as child_env
    from ledger.stack import start_warehouse_owner, stop_warehouse_owner

    env = {**child_env(test_settings, warehouse=True), "LEDGER_WAREHOUSE_HTTP_PORT": "0"}
    started = start_warehouse_owner(test_settings, env)
    try:
        again = start_warehouse_owner(test_settings, env)  # `stack up` twice: the same owner
        status = ledger("stack", "status", "--json", env={**settings_env(test_settings), **env})
        sql = ledger("sql", "SELECT count() AS n FROM session_events", "--format", "JSONEachRow",
                     env={**settings_env(test_settings), **env})
    finally:
        stopped = stop_warehouse_owner(test_settings.state_dir)

    assert started.role == "standalone" and again == started
    assert json.loads(status.stdout)["warehouse_owner"]["pid"] == started.pid
    assert json.loads(sql.stdout) == {"n": 0}, sql.stderr
    assert stopped == started.pid and read_owner(test_settings.state_dir) is None


def test_a_directory_this_process_holds_is_not_held_by_another(tmp_path):
    with ChdbWarehouse(tmp_path / "chdb"):
        assert not held_by_another_process(tmp_path / "chdb")


def test_a_directory_another_process_holds_is_held(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import sys; from chdb import session; "
                               f"s = session.Session({str(tmp_path / 'chdb')!r}); print('open', flush=True); "
                               "sys.stdin.read()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        assert held_by_another_process(tmp_path / "chdb")
    finally:
        holder.communicate("", timeout=60)


def test_a_process_holding_chdb_without_serving_reads_is_named_not_waited_for(test_settings):
    holder = subprocess.Popen([sys.executable, "-c", "import sys; from chdb import session; "
                               f"s = session.Session({str(test_settings.chdb_path)!r}); print('open', flush=True); "
                               "sys.stdin.read()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        result = ledger("report", "mttr", env={**settings_env(test_settings),
                                                "LEDGER_CLICKHOUSE_PATH": str(test_settings.chdb_path)})
    finally:
        holder.communicate("", timeout=60)

    assert result.returncode == 3
    assert "open in another process that does not serve reads" in " ".join(result.stderr.split())


def test_rows_through_the_owner_are_the_rows_read_in_place(test_settings):
    from analytics.serve.client import RemoteWarehouse
    from analytics.serve.owner import open_owned
    from streams.settings import load_settings

    dropped, lost, calm, ops = incident_story()
    settings = load_settings(state_dir=test_settings.state_dir, warehouse_http_port=0)
    sql = "SELECT * FROM session_events FINAL WHERE region = {region:String} ORDER BY session_id, seq"
    with open_owned(settings) as owned:
        write_events(owned, [*dropped, *lost, *calm, *ops])
        in_place = owned.query(sql, {"region": "eu-west"})
        with RemoteWarehouse(owned.owner.url) as remote:
            through = remote.query(sql, {"region": "eu-west"})
            incidents = remote.query("SELECT * FROM incidents")

    assert len(in_place) == len(dropped) + len(lost)
    assert through == in_place  # same columns, same Python values (aware UTC datetimes, lists, None)
    assert [row["incident_id"] for row in incidents] == ["INC-7"]
