"""The vendored chart library ships whole, with its licence, and inlines safely into a page."""
from __future__ import annotations

import re

from analytics.charts import ASSETS, HERE, UPLOT_VERSION, asset, inline_assets


def test_every_chart_asset_exists_and_is_text():
    for name in ASSETS:
        assert asset(name).strip(), f"chart asset {name} is empty"


def test_uplot_keeps_its_licence_and_says_where_it_came_from():
    licence = (HERE / "vendor" / "uplot" / "LICENSE").read_text(encoding="utf-8")
    readme = (HERE / "vendor" / "uplot" / "README.md").read_text(encoding="utf-8")
    assert licence.startswith("The MIT License") and "Leon Sorokin" in licence
    assert f"| version | {UPLOT_VERSION} |" in readme
    assert f"uplot-{UPLOT_VERSION}.tgz" in readme


def test_the_vendored_file_is_the_version_the_readme_names():
    banner = re.match(r"/\*! https://github.com/leeoniya/uPlot \(v([0-9.]+)\) \*/", asset("uPlot.iife.min.js"))
    assert banner and banner.group(1) == UPLOT_VERSION


def test_inlined_assets_cannot_close_their_own_element():
    inlined = inline_assets()
    body = inlined.replace("</style>", "").replace("</script>", "")
    assert "</" not in body
    assert inlined.count("<script>") == 2 and inlined.count("<style>") == 1
