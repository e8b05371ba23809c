"""The HTML timeline page as a reviewer's browser shows it (headless Chromium)."""
from __future__ import annotations

import re
import shutil
import subprocess
from datetime import timedelta

import pytest

from analytics.replay import replay_incident, replay_window
from analytics.replay.timeline_page import write_timeline_page
from analytics.rows import write_events
from tests.support.factories import T0
from tests.support.stories import incident_story

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"


def rendered_dom(page, tmp_path, query: str = "") -> str:
    """The page's DOM after its scripts ran, as headless Chromium serialises it."""
    if not shutil.which(CHROMIUM):
        pytest.fail(f"Chromium is needed at {CHROMIUM}: apt-get install -y chromium (.ci/setup does)")
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'chromium-profile'}", "--run-all-compositor-stages-before-draw",
         "--virtual-time-budget=2000", "--dump-dom", page.as_uri() + query],
        capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def event_rows(dom: str) -> list[str]:
    return re.findall(r"<tr class=\"event[^\"]*\"[^>]*>", dom)


@pytest.fixture
def incident_page(warehouse, tmp_path):
    dropped, lost, calm, ops = incident_story()
    write_events(warehouse, [*dropped, *lost, *calm, *ops])
    window = replay_window(warehouse, T0, T0 + timedelta(minutes=10))
    return write_timeline_page(window, tmp_path / "window.html", "window around INC-7"), window


def test_the_page_renders_without_script_errors_with_its_chart_and_every_event(incident_page, tmp_path):
    page, window = incident_page

    dom = rendered_dom(page, tmp_path)

    assert 'data-ready="1"' in dom
    assert "data-js-error" not in dom
    assert "<svg" in dom and "<polyline" in dom
    rows = event_rows(dom)
    assert len(rows) == len(window.lifecycle_events) + len(window.ops)
    assert not any("hidden" in row for row in rows)


def test_a_region_filter_hides_the_other_regions_rows(incident_page, tmp_path):
    page, window = incident_page
    us_east = [r for r in window.lifecycle_events if r["region"] == "us-east"]

    dom = rendered_dom(page, tmp_path, "?region=us-east")

    visible = [row for row in event_rows(dom) if "hidden" not in row]
    assert len(visible) == len(us_east) > 0
    assert all('data-regions="us-east"' in row for row in visible)
    assert f'data-shown="{len(us_east)}"' in dom


def test_an_event_type_filter_keeps_only_that_type(incident_page, tmp_path):
    page, _ = incident_page

    dom = rendered_dom(page, tmp_path, "?type=disconnected")

    visible = [row for row in event_rows(dom) if "hidden" not in row]
    assert len(visible) == 1 and 'data-type="disconnected"' in visible[0]


def test_an_incident_page_marks_every_phase_on_its_time_axis(warehouse, tmp_path):
    dropped, lost, calm, ops = incident_story()
    write_events(warehouse, [*dropped, *lost, *calm, *ops])
    page = write_timeline_page(replay_incident(warehouse, "INC-7"), tmp_path / "inc.html", "INC-7")

    dom = rendered_dom(page, tmp_path)

    assert re.findall(r'data-phase="(\w+)"', dom) == ["opened", "acknowledged", "mitigated", "resolved"]
    assert "<h2>Impact</h2>" in dom
    assert 'data-ready="1"' in dom
