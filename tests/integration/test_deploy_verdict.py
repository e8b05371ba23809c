"""Deploy verdicts on small hand-built histories in a real chDB, and the gate's exit codes."""
from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import timedelta

import pytest

from analytics.deploy_verdict import judge_deploy
from analytics.errors import DeployWithoutBuild, UnknownDeploy
from analytics.migrate import migrate
from analytics.rows import write_events
from analytics.warehouse import ChdbWarehouse
from tests.support.factories import T0, ops_event, session_event
from tests.support.cli import outside_env


def session(start, build, region="eu-west", latency=40, queue_ms=2000, end="normal"):
    """requested, started (queue_ms), two heartbeats of ``latency`` ms 10 s apart, ended."""
    sid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{build}/{region}/{start.isoformat()}/{end}"))
    common = dict(session_id=sid, build=build, region=region)
    started = start + timedelta(milliseconds=queue_ms)
    return [
        session_event("requested", seq=1, occurred_at=start, **common),
        session_event("started", seq=2, occurred_at=started, queue_ms=queue_ms, **common),
        session_event("heartbeat", seq=3, occurred_at=started + timedelta(seconds=10), latency_ms=latency, **common),
        session_event("heartbeat", seq=4, occurred_at=started + timedelta(seconds=20), latency_ms=latency, **common),
        session_event("ended", seq=5, occurred_at=started + timedelta(seconds=30), reason=end, **common),
    ]


def deploy(build="2.0", deploy_id="DEP-9", regions=("eu-west",)):
    return [ops_event("deploy_started", occurred_at=T0, deploy_id=deploy_id, regions=regions, build=build),
            ops_event("deploy_finished", occurred_at=T0 + timedelta(minutes=5), deploy_id=deploy_id,
                      regions=regions, build=build)]


def sessions(n, build, first_minute=1, **kwargs):
    events = []
    for i in range(n):
        events += session(T0 + timedelta(minutes=first_minute, seconds=10 * i), build, **kwargs)
    return events


def bad_build_history():
    """60 baseline sessions (1.9, 40 ms, 1 error) and 60 canary sessions (2.0, 90 ms, 15
    errors) in eu-west; ten 2.0 sessions in us-east that all crash and five before the deploy
    are outside the comparison."""
    return [
        *deploy(),
        *sessions(59, "1.9"), *session(T0 + timedelta(minutes=30), "1.9", end="error"),
        *sessions(45, "2.0", latency=90),
        *sessions(15, "2.0", first_minute=20, latency=90, end="error"),
        *sessions(10, "2.0", region="us-east", end="server_crash"),
        *sessions(5, "2.0", first_minute=-10, end="error"),
    ]


def by_name(result):
    return {m.name: m for m in result.metrics}


def test_a_build_that_errors_more_and_lags_fails(warehouse):
    """Abnormal ends: canary 15/60 = 0.25, baseline 1/60 = 0.0167; pooled 16/120, spread
    sqrt(0.13333 * 0.86667 * 2/60) = 0.062063, z = 0.23333 / 0.062063 = 3.7596, p = 1.7e-4: High,
    and it is critical, so the score is 0: Fail. Latency: every canary session's p95 is 90 ms,
    every baseline's 40 ms, so every difference is 50 (Hodges-Lehmann 50, interval [50, 50]),
    the bound is 10% of the baseline median 40 = 4 ms: High. No session disconnected: disconnect
    rate 0 against 0 is a Pass and reconnect success has no sessions: NoData. Matchmaking is
    2000 ms on both sides: Pass."""
    write_events(warehouse, bad_build_history())

    result = judge_deploy(warehouse, "DEP-9")

    assert (result.build, result.regions) == ("2.0", ("eu-west",))
    assert (result.canary_sessions, result.baseline_sessions) == (60, 60)
    metrics = by_name(result)
    abnormal = metrics["abnormal_end_rate"]
    assert abnormal.result == "High"
    assert (abnormal.numbers["canary"], abnormal.numbers["baseline"]) == (0.25, pytest.approx(1 / 60))
    assert abnormal.numbers["p_value"] == pytest.approx(1.7e-4, rel=0.05)
    latency = metrics["heartbeat_latency_p95"]
    assert latency.result == "High"
    assert (latency.numbers["effect"], latency.numbers["allowed_shift"]) == (50.0, 4.0)
    assert (latency.numbers["canary"], latency.numbers["baseline"]) == (90.0, 40.0)
    assert metrics["disconnect_rate"].result == "Pass"
    assert metrics["reconnect_success"].result == "NoData"
    assert metrics["matchmaking_time_p95"].result == "Pass"
    assert (result.score, result.verdict) == (0.0, "Fail")


def test_a_build_like_the_others_passes_and_a_thin_one_has_no_data(warehouse):
    write_events(warehouse, [*deploy(), *sessions(60, "1.9"), *sessions(60, "2.0"),
                             *deploy(build="3.0", deploy_id="DEP-10"), *sessions(49, "3.0", first_minute=40)])

    result = judge_deploy(warehouse, "DEP-9")
    # four judged metrics all Pass (reconnect success: NoData) -> 100
    assert (result.score, result.verdict) == (100.0, "Pass")

    thin = judge_deploy(warehouse, "DEP-10")  # 49 canary sessions < 50
    assert (thin.canary_sessions, thin.verdict, thin.score) == (49, "NoData", None)
    assert {m.result for m in thin.metrics} == {"NoData"}


def test_an_unknown_deploy_or_one_without_a_build_is_refused(warehouse):
    write_events(warehouse, [ops_event("deploy_finished", occurred_at=T0, deploy_id="DEP-OLD")])

    with pytest.raises(UnknownDeploy):
        judge_deploy(warehouse, "DEP-NOPE")
    with pytest.raises(DeployWithoutBuild):
        judge_deploy(warehouse, "DEP-OLD")


def test_the_gate_exits_1_on_fail_3_on_no_data_2_on_an_unknown_deploy(tmp_path):
    state = tmp_path / "state"
    with ChdbWarehouse(state / "chdb") as history:
        migrate(history)
        write_events(history, [*bad_build_history(), *deploy(build="9.9", deploy_id="DEP-THIN")])
    env = outside_env()
    env["LEDGER_STATE_DIR"] = str(state)

    def gate(*args):
        return subprocess.run([sys.executable, "-m", "ledger.cli", "deploy", "verdict", *args],
                              env=env, capture_output=True, text=True, timeout=120)

    failed = gate("DEP-9", "--json")
    assert failed.returncode == 1, failed.stderr
    assert json.loads(failed.stdout)["verdict"] == "Fail"
    assert gate("DEP-THIN").returncode == 3
    unknown = gate("DEP-NOPE")
    assert unknown.returncode == 2 and "DEP-NOPE" in unknown.stderr
    shown = gate("DEP-9")  # for people: the table, then the score and verdict
    assert shown.returncode == 1 and "score 0 -> Fail" in shown.stdout
    watched = gate("DEP-9", "--watch", "1")  # a watch ends at the first Fail, so a rollout stops
    assert watched.returncode == 1 and watched.stdout.count("score 0 -> Fail") == 1


def test_the_html_report_shows_the_verdict_the_fleet_and_its_cost(warehouse, tmp_path):
    from analytics.html_report import write_html_report

    write_events(warehouse, [*bad_build_history(),
                             ops_event("fleet_scaled", occurred_at=T0, region="eu-west", servers=2,
                                       player_slots=20, hourly_cost=3.0)])

    html = write_html_report(warehouse, tmp_path / "r.html", T0, T0 + timedelta(hours=1)).read_text()

    verdicts = html[html.index("Deploy verdicts"):html.index("Fleet utilisation")]
    assert "DEP-9" in verdicts and "<td>Fail</td>" in verdicts and "<td>High</td>" in verdicts
    data = json.loads(html[html.index("id='report-data'>") + len("id='report-data'>"):].split("</script>")[0])
    utilisation = data["charts"]["chart-utilisation"]  # drawn beside the other three charts
    assert [s["label"] for s in utilisation["series"]] == ["eu-west"]
    assert "id='chart-utilisation'" in html and max(v for v in utilisation["series"][0]["values"]) > 0
    cost = html[html.index("Cost per player-hour"):]
    assert "eu-west" in cost and "USD" in cost
