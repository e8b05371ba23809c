"""The batch writer stores and sends the bytes Faust's own table path would (table_writes.py)."""
from __future__ import annotations

import faust
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.fold.app import _encoded
from streams.fold.table_writes import TableWriter, encode_key

HOSTILE_KEYS = ["a", "9f1c-uuid-like", 'quote"inside', "back\\slash", "é-ünïcode", "日本語",
                "emoji-🎮", "tab\there", "new\nline", "", " ", "nul\x00byte", "\u2028sep"]


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    app = faust.App("table-writes-test", store="rocksdb://", autodiscover=False,
                    datadir=str(tmp_path_factory.mktemp("faust")))
    return app.Table("sessions", schema=_encoded(), value_type=bytes, partitions=3)


def faust_key(table, key: str) -> bytes:
    """The bytes the table's store keeps and its changelog carries for ``key`` (the table's key
    serializer, through the app's serializer registry, as Faust's stores encode keys)."""
    return table.app.serializers.dumps_key(table.key_type, key, serializer=table.key_serializer)


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_keys_are_encoded_as_the_table_store_encodes_them(table, key):
    assert encode_key(key) == faust_key(table, key)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_key_is_encoded_as_the_table_store_encodes_it(table, key):
    assert encode_key(key) == faust_key(table, key)


def test_values_pass_through_as_the_bytes_given(table):
    value = b'{"x":1}'
    assert table.app.serializers.dumps_value(table.value_type, value, serializer=table.value_serializer) == value


def test_a_table_with_other_serializers_is_refused(tmp_path):
    app = faust.App("table-writes-refused", store="memory://", autodiscover=False, datadir=str(tmp_path))
    json_values = faust.Schema(key_type=str, key_serializer="raw", value_serializer="json")
    table = app.Table("counts", schema=json_values, value_type=int, partitions=1)
    with pytest.raises(ValueError, match="counts.*raw"):
        TableWriter(app, table, "source")
