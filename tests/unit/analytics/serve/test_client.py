"""A remote warehouse reads only: writes are refused before anything is sent."""
from __future__ import annotations

import pytest

from analytics.errors import ReadRefused
from analytics.serve.client import RemoteWarehouse, _message_of, _name_of


def test_writes_are_refused_without_a_request():
    remote = RemoteWarehouse("http://127.0.0.1:9")  # the discard port: nothing listens there

    with pytest.raises(ReadRefused, match="READONLY"):
        remote.execute("CREATE TABLE x (a UInt8) ENGINE = Memory", name="create x")
    with pytest.raises(ReadRefused, match="READONLY"):
        remote.insert_rows("session_events", ["event_id"], [("e-1",)])


def test_a_clickhouse_error_line_is_read_back_into_its_name_and_message():
    line = "Code: 164. DB::Exception: Cannot execute DROP query: read-only. (READONLY)"

    assert _name_of(line) == "READONLY"
    assert _message_of(line) == "Cannot execute DROP query: read-only"
