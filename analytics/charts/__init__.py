"""The charts every HTML page of the ledger draws: uPlot (vendored, MIT) and ``charts.js``.

``charts.js`` defines ``LedgerCharts.time(element, spec)``: a time-series chart with values on
hover, drag-to-zoom on time (double-click zooms out), a legend, and dashed marks at instants
(incident milestones). A spec is plain JSON::

    {"title": "...", "x": [epoch seconds...], "series": [{"label": "eu-west", "values": [...]}],
     "marks": [{"at": epoch seconds, "label": "opened"}], "height": 220}

The worker's UI serves these files under ``/ui/static/``; ``ledger report html`` inlines them
(``inline_assets``) so a report file is one self-contained page. vendor/uplot/README.md says
which uPlot this is and where it came from.
"""
from __future__ import annotations

from functools import cache
from pathlib import Path

HERE = Path(__file__).parent
UPLOT_VERSION = "1.6.32"
ASSETS = {
    "uPlot.iife.min.js": HERE / "vendor" / "uplot" / "uPlot.iife.min.js",
    "uPlot.min.css": HERE / "vendor" / "uplot" / "uPlot.min.css",
    "charts.js": HERE / "charts.js",
    "charts.css": HERE / "charts.css",
}
"""Files a page needs for its charts, by the name they are served under."""


@cache
def asset(name: str) -> str:
    """The text of chart asset ``name`` (a key of ``ASSETS``); KeyError for any other name."""
    return ASSETS[name].read_text(encoding="utf-8")


def inline_assets() -> str:
    """``<style>`` and ``<script>`` elements holding uPlot and charts.js, for a page that must
    load nothing (the HTML report). ``</`` cannot occur in them: checked by the tests."""
    return (f"<style>{asset('uPlot.min.css')}\n{asset('charts.css')}</style>"
            f"<script>{asset('uPlot.iife.min.js')}</script><script>{asset('charts.js')}</script>")
