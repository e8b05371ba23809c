"""`ledger report` over a real chDB history, as a data engineer runs it."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from analytics.migrate import migrate
from analytics.rows import write_events
from analytics.warehouse import ChdbWarehouse
from tests.support.factories import T0, ops_event, session_script
from tests.support.cli import outside_env


def ledger(state_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = outside_env()
    env["LEDGER_STATE_DIR"] = str(state_dir)
    return subprocess.run([sys.executable, "-m", "ledger.cli", "report", *args], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    """A state directory whose chDB holds two incidents and a few sessions (then closed again)."""
    state = tmp_path / "state"
    events = [
        ops_event("incident_opened", occurred_at=T0, incident_id="INC-7"),
        ops_event("incident_resolved", occurred_at=T0 + timedelta(minutes=30), incident_id="INC-7"),
        ops_event("incident_opened", occurred_at=T0 + timedelta(hours=2), incident_id="INC-8"),
        ops_event("incident_resolved", occurred_at=T0 + timedelta(hours=2, minutes=90), incident_id="INC-8"),
        *session_script(start=T0, heartbeats=2),
        *session_script(start=T0 + timedelta(minutes=1), heartbeats=2, end="server_crash", platform="xbox"),
    ]
    with ChdbWarehouse(state / "chdb") as warehouse:
        migrate(warehouse)
        write_events(warehouse, events)
    return state


def test_mttr_over_the_whole_history_is_the_mean_of_30_and_90_minutes(state_dir):
    result = ledger(state_dir, "mttr", "--json")
    assert result.returncode == 0, result.stderr
    [row] = json.loads(result.stdout)
    assert (row["incidents"], row["resolved"]) == (2, 2)
    assert row["mttr_s"] == pytest.approx(60 * 60)  # (30 + 90) / 2 minutes


def test_error_rate_as_csv_counts_the_crashed_session(state_dir):
    result = ledger(state_dir, "error_rate", "--csv")
    assert result.returncode == 0, result.stderr
    header, *lines = result.stdout.strip().splitlines()
    assert "error_rate" in header.split(",")
    row = dict(zip(header.split(","), lines[0].split(",")))
    assert float(row["error_rate"]) == pytest.approx(0.5)  # one of two ended sessions crashed


def test_bad_periods_and_foreign_options_are_refused_with_exit_2(state_dir):
    backwards = ledger(state_dir, "mttr", "--from", "2025-03-15T00:00:00Z", "--to", "2025-03-14T00:00:00Z")
    assert backwards.returncode == 2 and "must be before --to" in backwards.stderr
    not_an_instant = ledger(state_dir, "mttr", "--from", "last tuesday")
    assert not_an_instant.returncode == 2 and "not an ISO 8601 instant" in not_an_instant.stderr
    wrong_option = ledger(state_dir, "mttr", "--incident", "INC-7")
    assert wrong_option.returncode == 2 and "does not take --incident" in wrong_option.stderr


def test_incident_impact_without_its_incident_is_bad_input_too(state_dir):
    missing = ledger(state_dir, "incident_impact")
    assert missing.returncode == 2, missing.stderr
    assert "'incident_id' is required" in missing.stderr


def test_an_empty_history_says_so(tmp_path):
    result = ledger(tmp_path / "empty", "mttr")
    assert result.returncode == 1
    assert "history is empty" in result.stderr


def test_the_html_report_renders_its_charts_in_headless_chromium(state_dir, tmp_path):
    page = tmp_path / "report.html"
    result = ledger(state_dir, "html", "--out", str(page))
    assert result.returncode == 0, result.stderr
    chromium = shutil.which("chromium")
    assert chromium, "Chromium is needed to check the HTML report; `bash .ci/setup` installs it"
    profile = tmp_path / "chromium-profile"
    rendered = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--virtual-time-budget=2000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=60)
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    dom = rendered.stdout
    assert 'data-ready="1"' in dom and "data-js-error" not in dom
    assert dom.count('class="uplot') >= 3, "the concurrency, disconnect and latency charts"
    assert "Concurrent sessions" in dom and "INC-7" in dom and "player-minutes lost" in dom
    screenshot = tmp_path / "report.png"
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", f"--screenshot={screenshot}", "--window-size=1200,1600", page.as_uri()],
        capture_output=True, text=True, timeout=60, check=True)
    assert screenshot.stat().st_size > 10_000, "a blank page would compress to almost nothing"


def ledger_slo(state_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = outside_env()
    env["LEDGER_STATE_DIR"] = str(state_dir)
    return subprocess.run([sys.executable, "-m", "ledger.cli", "slo", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_slo_status_gives_the_budget_of_each_shipped_slo(state_dir):
    """Two sessions ended, one by a server crash: session success 1/2. Target 0.995: the budget
    is 2 x 0.005 = 0.01 events, 1 consumed: 10,000 % consumed, remaining 0.01 - 1 = -0.99."""
    result = ledger_slo(state_dir, "status", "--json", "--at", "2025-03-14T16:00:00Z")
    assert result.returncode == 0, result.stderr
    rows = {row["slo"]: row for row in json.loads(result.stdout)}
    assert set(rows) == {"session-success", "reconnect-success", "heartbeat-latency", "matchmaking-time"}
    success = rows["session-success"]
    assert (success["events"], success["bad"], success["sli_value"]) == (2, 1, 0.5)
    assert success["budget_total"] == pytest.approx(0.01)
    assert success["budget_remaining"] == pytest.approx(-0.99)
    assert success["budget_consumed_pct"] == pytest.approx(10_000.0)
    assert success["planned_included"] is False


def test_a_bad_slo_file_is_refused_naming_the_field(state_dir, tmp_path):
    bad = tmp_path / "slos.yaml"
    bad.write_text("apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: x}\n")
    result = ledger_slo(state_dir, "status", "--slo-file", str(bad))
    assert result.returncode == 2
    assert "spec.indicator.spec.metricSource is required" in " ".join(result.stderr.split())


def test_report_slo_per_day_and_the_planned_flag(state_dir):
    result = ledger(state_dir, "slo", "--json")
    assert result.returncode == 0, result.stderr
    success = [row for row in json.loads(result.stdout) if row["slo"] == "session-success"]
    assert [(row["day"][:10], row["events"], row["bad"]) for row in success] == [("2025-03-14", 2, 1)]
    assert ledger(state_dir, "mttr", "--include-planned", "--json").returncode == 0
    refused = ledger(state_dir, "latency", "--include-planned")
    assert refused.returncode == 2 and "does not take --include-planned" in refused.stderr
