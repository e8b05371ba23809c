"""The UI's pure parts: which assets it serves, its history cache, live totals, and where its
history comes from when nobody owns the warehouse."""
from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter

from analytics.errors import WarehouseUnavailable
from streams.fold.ui.history import history_reader
from streams.fold.ui.live import _totals, metric_samples
from streams.fold.ui.views import PAGES, STATIC, HistoryCache, _asset
from streams.settings import load_settings


def test_the_pages_and_the_charts_assets_are_served_and_nothing_else():
    for name in ("uPlot.iife.min.js", "uPlot.min.css", "charts.js", "charts.css", "ui.js", "ui.css"):
        found = _asset(name)
        assert found is not None and found[0], name
    assert _asset("ui.js")[1] == "application/javascript" and _asset("ui.css")[1] == "text/css"
    for name in ("overview.html", "..", "LICENSE", "README.md", "__init__.py", "views.py"):
        assert _asset(name) is None, name
    assert all((STATIC / page).is_file() for page in PAGES.values())


def test_every_page_loads_only_this_workers_assets():
    for page in PAGES.values():
        html = (STATIC / page).read_text(encoding="utf-8")
        assert "http" not in html and "//" not in html.replace("<!doctype html>", "")
        assert html.count('src="/ui/static/') == 3


def test_the_history_cache_answers_within_its_time_and_per_filter():
    cache = HistoryCache(ttl_s=2.0)
    cache.put(("eu-west", ""), 100.0, {"n": 1})

    assert cache.get(("eu-west", ""), 101.5) == {"n": 1}
    assert cache.get(("eu-west", ""), 102.0) is None
    assert cache.get(("", ""), 100.5) is None


def test_live_totals_add_up_the_segments_of_each_region():
    segments = [{"region": "eu-west", "platform": "pc", "live": 3, "active": 2, "disconnected": 1},
                {"region": "eu-west", "platform": "xbox", "live": 1, "active": 1, "disconnected": 0},
                {"region": "us-east", "platform": "pc", "live": 2, "active": 2, "disconnected": 0}]

    assert _totals(segments, "region") == [
        {"region": "eu-west", "live": 4, "active": 3, "disconnected": 1},
        {"region": "us-east", "live": 2, "active": 2, "disconnected": 0}]


def test_metric_samples_read_a_registry_by_sample_name():
    registry = CollectorRegistry()
    letters = Counter("ledger_dead_lettered", "letters", ["reason"], registry=registry)
    letters.labels("bad_magic").inc(3)

    assert metric_samples(registry)["ledger_dead_lettered_total"] == [({"reason": "bad_magic"}, 3.0)]


def test_without_an_owner_the_history_is_unavailable_and_chdb_is_not_opened(tmp_path):
    settings = load_settings(state_dir=tmp_path / "state")

    with pytest.raises(WarehouseUnavailable, match="ledger worker --with-sink"):
        with history_reader(settings):
            pass
    assert not settings.chdb_path.exists()
