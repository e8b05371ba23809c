"""Reading the history back as events, in replay order, in bounded chunks.

The warehouse is passed in; nothing here opens one. Every query is a .sql file in analytics/queries/replay/.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.compute as pc

from analytics.row_events import event_from_row, ops_event_from_row
from analytics.sql import query_text
from analytics.warehouse import Warehouse
from projections import timeline_order
from projections.timestamps import from_millis
from schemas.models import OpsEvent, SessionEvent

DEFAULT_CHUNK = 20_000
"""Rows per page when streaming a window: bounds memory whatever the window's size."""

_BEFORE_EVERY_SESSION = ""  # session ids are UUIDs, so '' sorts before all of them
_INSTANTS = ("occurred_at", "last_heartbeat_at")


def sql(name: str) -> str:
    """The text of analytics/queries/replay/<name>.sql."""
    return query_text("replay", name)


def query(warehouse: Warehouse, name: str, **params: Any) -> list[dict[str, Any]]:
    return warehouse.query(sql(name), params, name=f"replay {name}")


@dataclass(frozen=True)
class Window:
    """A span of the history [from_, to), optionally one region."""

    from_: datetime
    to: datetime
    region: str = ""


def session_events_of(warehouse: Warehouse, session_id: str) -> list[SessionEvent]:
    """Every stored event of one session in timeline order (``projections.timeline_order``:
    by seq, verdicts at their instant); empty when the history has none."""
    table = warehouse.query_table(sql("session_events_of"), {"session_id": session_id},
                                  name="replay session_events_of")
    return timeline_order(events_of_columns(table))


def events_of_columns(table: pa.Table) -> Iterator[SessionEvent]:
    """The session events of ``table`` (session_events columns, read as columns), in its order. Pure."""
    columns = {name: table[name].to_pylist() for name in table.column_names
               if name not in _INSTANTS}
    for name in _INSTANTS:
        if name in table.column_names:
            columns[name] = _instants(table[name])
    names = list(columns)
    for values in zip(*columns.values()):
        yield event_from_row(dict(zip(names, values)))


def _instants(column: pa.ChunkedArray) -> list[datetime | None]:
    millis = pc.cast(column, pa.timestamp("ms", "UTC")).cast(pa.int64()).to_pylist()
    return [from_millis(ms) for ms in millis]


def _last(table: pa.Table, name: str) -> Any:
    return table[name][table.num_rows - 1].as_py()


def iter_session_pages(warehouse: Warehouse, window: Window,
                       chunk: int = DEFAULT_CHUNK) -> Iterator[pa.Table]:
    """Pages of session_events of ``window`` in replay order, as columns, each at most ``chunk`` rows."""
    after: tuple[datetime, str, int, str] = (window.from_, _BEFORE_EVERY_SESSION, 0, "")
    while True:
        page = warehouse.query_table(sql("session_events_page"), {
            "from_": window.from_, "until": window.to, "region": window.region,
            "after_at": after[0], "after_session": after[1], "after_seq": after[2],
            "after_event": after[3], "limit": chunk}, name="replay session_events_page")
        if not page.num_rows:
            return
        yield page
        if page.num_rows < chunk:
            return
        after = (_last(page, "occurred_at"), _last(page, "session_id"), _last(page, "seq"),
                 _last(page, "event_id"))


def iter_session_events(warehouse: Warehouse, window: Window,
                        chunk: int = DEFAULT_CHUNK) -> Iterator[SessionEvent]:
    """The session events of ``window`` in replay order (occurred_at, session, seq), streamed."""
    for page in iter_session_pages(warehouse, window, chunk):
        yield from events_of_columns(page)


def iter_pages_by_key(warehouse: Warehouse, until: datetime, region: str = "",
                      chunk: int = DEFAULT_CHUNK) -> Iterator[pa.Table]:
    """Pages of session_events that occurred before ``until``, in (session, seq) order, as columns."""
    after: tuple[str, int, str] = (_BEFORE_EVERY_SESSION, 0, "")
    while True:
        page = warehouse.query_table(sql("session_events_by_key_page"), {
            "until": until, "region": region, "after_session": after[0], "after_seq": after[1],
            "after_event": after[2], "limit": chunk}, name="replay session_events_by_key_page")
        if page.num_rows:
            yield page
        if page.num_rows < chunk:
            return
        after = (_last(page, "session_id"), _last(page, "seq"), _last(page, "event_id"))


def events_until(warehouse: Warehouse, at: datetime, region: str = "",
                 chunk: int = DEFAULT_CHUNK) -> Iterator[SessionEvent]:
    """Every session event that occurred at or before ``at``, session by session in seq order.

    Not in occurred_at order: the folds give the same state for any interleaving of sessions
    (docs/projections.md), and the table's own order reads each page straight from the index.
    """
    for page in iter_pages_by_key(warehouse, at + timedelta(milliseconds=1), region, chunk):
        yield from events_of_columns(page)


def ops_events(warehouse: Warehouse, window: Window, incident_id: str = "") -> list[OpsEvent]:
    """Ops events of ``window`` (or, with ``incident_id``, that incident's events), oldest first."""
    rows = query(warehouse, "ops_events_in_window", from_=window.from_, to=window.to,
                 incident_id=incident_id)
    return [ops_event_from_row(row) for row in rows]


def history_end(warehouse: Warehouse) -> datetime | None:
    """The last instant in the history, or None when it is empty."""
    row = query(warehouse, "history_end")[0]
    return row["last"] if row["n"] else None


def count_events(warehouse: Warehouse, window: Window) -> int:
    """How many session events ``window`` holds."""
    return int(query(warehouse, "count_in_window", from_=window.from_, until=window.to,
                     region=window.region)[0]["n"])
