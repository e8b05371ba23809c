"""The browser UI as a reviewer sees it: headless Chromium on the pages of a real run.

The demo runs once for the module with ``serve``: the real broker, the sink (which owns the
chDB warehouse and serves its reads) and the worker keep running while the stories look at the
worker's /ui/ pages, with an API token set. Each story writes screenshots to one temporary
directory (its path is printed) so a person can look at what the browser drew.
"""
from __future__ import annotations

import json
import queue
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timezone

import pytest

from ledger.demo import run_demo
from schemas.models import SessionEvent
from streams.emit.emitter import SessionEmitter
from streams.kafka.topics import ensure_topics, ledger_topics
from streams.settings import load_settings
from tests.support.browser import Browser
from tests.support.factories import session_script

pytestmark = pytest.mark.kafka

TOKEN = "review-room-token"
DEMO_WAIT_S = 600


@pytest.fixture(scope="module")
def ui_settings(kafka_broker, tmp_path_factory):
    suffix = uuid.uuid4().hex[:8]
    settings = load_settings(
        state_dir=tmp_path_factory.mktemp("ui") / "state", bootstrap_servers=kafka_broker.bootstrap,
        session_topic=f"ui-sessions-{suffix}", ops_topic=f"ui-ops-{suffix}",
        dead_letter_topic=f"ui-dead-letter-{suffix}", partitions=3, api_token=TOKEN,
    )
    ensure_topics(kafka_broker.bootstrap, ledger_topics(settings))
    return settings


@pytest.fixture(scope="module")
def served(ui_settings):
    """The demo's result while its worker and sink keep serving (``run_demo(serve=...)``)."""
    handed, stop, failed = queue.Queue(), threading.Event(), []

    def serve(result) -> None:
        handed.put(result)
        stop.wait()

    def run() -> None:
        try:
            run_demo(ui_settings, players=40, duration_s=600.0, seed=3, time_scale=60, serve=serve)
        except BaseException as error:  # noqa: BLE001 - handed to the test thread, which raises it
            failed.append(error)
        finally:
            handed.put(None)

    thread = threading.Thread(target=run, name="demo-serving", daemon=True)
    thread.start()
    result = handed.get(timeout=DEMO_WAIT_S)
    if result is None:
        raise failed[0] if failed else AssertionError("the demo ended without serving")
    assert result.serving and result.incident_url
    yield result
    stop.set()
    thread.join(timeout=120)
    assert not thread.is_alive(), "the demo did not stop what it started"


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    directory = tmp_path_factory.mktemp("ui-screenshots")
    print(f"\nscreenshots of the UI: {directory}")
    return directory


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    chromium = Browser(tmp_path_factory.mktemp("chromium-profile"))
    yield chromium
    chromium.close()


def base_url(served) -> str:
    return served.incident_url.split("/ui/")[0]


def api(served, path: str, token: str | None = TOKEN) -> tuple[int, dict, dict]:
    request = urllib.request.Request(base_url(served) + path)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}"), dict(error.headers)


def emit(settings, events: list[SessionEvent]) -> None:
    emitter = SessionEmitter.from_settings(settings, producer="ui-test")
    try:
        for event in events:
            emitter.emit(event)
        emitter.flush()
    finally:
        emitter.close()


def live_total(browser) -> int:
    return int(browser.text("#live-total").replace(",", "") or -1)


def test_the_overview_draws_live_counts_history_charts_incidents_and_pipeline_health(served, browser, shots):
    browser.open(f"{base_url(served)}/ui/#token={TOKEN}")
    browser.wait_for("Number(document.getElementById('chart-region').dataset.series) > 0", what="the region chart")

    assert browser.evaluate("document.body.dataset.jsError || ''") == ""
    assert browser.evaluate("location.hash") == "", "the token stays out of the address bar"
    assert live_total(browser) >= 0
    assert browser.evaluate("document.querySelectorAll('#chart-region canvas').length") == 1
    assert int(browser.evaluate("document.getElementById('chart-disruptions').dataset.series")) == 3
    incident = served.incident["incident_id"]
    assert browser.evaluate(f"!!document.querySelector('#incidents a[href=\"/ui/incidents/{incident}\"]')")
    assert "resolved +" in browser.text("#incidents")
    assert browser.text("#slo") == "no SLO is burning"  # the shipped SLOs are judged; none burns here
    assert browser.text("#pipeline-status") == "ok"
    assert "history written up to" in browser.text("#pipeline")
    browser.screenshot(shots / "overview.png")


def test_the_live_overview_changes_when_new_events_are_emitted_without_a_reload(served, browser, ui_settings,
                                                                                shots):
    browser.open(f"{base_url(served)}/ui/?every=1")
    browser.evaluate("window.stillTheSamePage = true")
    before, updates = live_total(browser), int(browser.evaluate("document.body.dataset.updates"))
    time.sleep(2)
    assert live_total(browser) == before, "nothing was emitted yet: the count holds"

    now = datetime.now(timezone.utc)
    sessions = [session_script(player_id=f"ui-player-{i}", start=now, heartbeats=1, end=None, region="ui-test")
                for i in range(3)]
    emit(ui_settings, [event for script in sessions for event in script])

    browser.wait_for(f"Number(document.getElementById('live-total').textContent.replace(/,/g, '')) === {before + 3}",
                     what=f"{before + 3} live sessions")
    assert browser.evaluate("window.stillTheSamePage === true"), "the page changed without reloading"
    assert int(browser.evaluate("document.body.dataset.updates")) > updates
    assert "ui-test" in browser.text("#live-regions")
    browser.screenshot(shots / "overview-after-emit.png")


def test_filters_change_what_the_overview_and_the_incident_page_show(served, browser, shots):
    region = served.incident["region"]
    browser.open(f"{base_url(served)}/ui/")
    browser.wait_for("Number(document.getElementById('chart-region').dataset.series) > 1", what="every region")
    browser.evaluate(f"(function () {{ var s = document.getElementById('region'); s.value = {json.dumps(region)};"
                     " s.dispatchEvent(new Event('change')); })()")
    browser.wait_for("document.getElementById('chart-region').dataset.series === '1'", what="one region's chart")
    rows = browser.evaluate("Array.from(document.querySelectorAll('#live-regions tbody tr td:first-child'))"
                            ".map(function (td) { return td.textContent; })")
    assert set(rows) <= {region}
    assert browser.evaluate("location.search") == f"?region={region}"
    browser.screenshot(shots / "overview-one-region.png")

    status, whole, _ = api(served, f"/ui/api/incidents/{served.incident['incident_id']}")
    assert status == 200
    platforms = sorted({row["platform"] for row in whole["impact"]})
    platform = platforms[0]
    browser.open(f"{served.incident_url}?platform={platform}")
    browser.wait_for(f"document.getElementById('platform').value === {json.dumps(platform)}", what="the filter")
    shown = {td for td in browser.evaluate(
        "Array.from(document.querySelectorAll('#impact tbody tr td:nth-child(2)')).map(function (t) "
        "{ return t.textContent; })")}
    assert shown == {platform}
    minutes_lost = float(browser.text("#impact-minutes").replace(",", ""))
    assert minutes_lost < whole["impact_totals"]["player_minutes_lost"] or len(platforms) == 1
    browser.screenshot(shots / "incident-one-platform.png")


def test_the_incident_page_tells_the_story_from_the_data(served, browser, shots):
    incident = served.incident
    browser.open(served.incident_url)

    assert browser.evaluate("document.body.dataset.jsError || ''") == ""
    narrative = browser.text("#narrative")
    assert f"{incident['incident_id']} (" in narrative and incident["region"] in narrative
    assert "player-minutes lost" in narrative
    assert browser.evaluate("document.querySelectorAll('#milestones li').length") == 4
    assert browser.evaluate("document.getElementById('chart-replay').dataset.series") == "4"
    totals = served.impact_totals
    assert int(browser.text("#impact-sessions")) == totals["sessions_disrupted"]
    assert browser.evaluate("document.querySelectorAll('#churn tbody tr').length") == len(served.churn)
    assert incident["deploy_id"] in browser.text("#deploys")
    commands = browser.text("#commands")
    assert f"ledger replay incident {incident['incident_id']}" in commands
    assert "ledger replay window --from" in commands
    assert browser.evaluate("document.querySelectorAll('#affected a').length") > 0
    browser.screenshot(shots / "incident.png")


def test_the_session_page_marks_the_ledgers_own_events(served, browser, ui_settings, shots):
    script = session_script(start=datetime.now(timezone.utc), heartbeats=2, end="timed_out", region="ui-test")
    session_id = script[0].session_id
    emit(ui_settings, script)
    deadline = time.monotonic() + 60
    while api(served, f"/ui/api/sessions/{session_id}")[0] != 200:
        assert time.monotonic() < deadline, "the sink did not write the session within a minute"
        time.sleep(0.5)

    browser.open(f"{base_url(served)}/ui/sessions/{session_id}")

    assert browser.evaluate("document.querySelectorAll('#timeline tbody tr').length") == len(script)
    derived = browser.evaluate("Array.from(document.querySelectorAll('#timeline tr.derived'))"
                               ".map(function (r) { return r.textContent; })")
    assert len(derived) == 1 and "timed_out" in derived[0] and "derived" in derived[0]
    browser.screenshot(shots / "session.png")


def test_the_pages_are_open_but_their_data_needs_the_token_and_nothing_comes_from_elsewhere(served):
    status, body, _ = api(served, "/ui/api/overview", token=None)
    assert status == 401 and body["error"] == "unauthorized"
    assert api(served, "/ui/api/overview", token="not-the-token")[0] == 401
    with urllib.request.urlopen(base_url(served) + "/ui/", timeout=30) as response:
        page = response.read().decode()
        policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy and "script-src 'self'" in policy
    assert "http" not in page.replace('href="/ui/', "")
    status, body, _ = api(served, "/ui/api/overview?region=Not%20A%20Region")
    assert status == 400 and body["error"] == "bad_query"
