"""The SQL the ledger runs: one query per file under analytics/queries/<area>/<name>.sql.

Areas: ``reports`` (one file per metric), ``replay`` (history read back as events and
timelines), ``loadgen`` (what the demo counts back from a load run).
"""
from __future__ import annotations

from functools import cache
from pathlib import Path

QUERIES = Path(__file__).with_name("queries")


@cache
def query_text(area: str, name: str) -> str:
    """The text of ``queries/<area>/<name>.sql`` (``name`` with or without ``.sql``)."""
    return (QUERIES / area / f"{name.removesuffix('.sql')}.sql").read_text(encoding="utf-8")
