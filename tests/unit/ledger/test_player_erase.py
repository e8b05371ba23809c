"""The erasure receipt's arithmetic: when each topic's last copy goes, and what is pending."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from ledger.commands.player import _kafka_layer, _pending
from projections.erasure import Receipt

T0 = datetime(2026, 12, 1, 12, tzinfo=timezone.utc)
DAY_MS = 86_400_000


def test_a_deleting_topic_keeps_the_last_event_one_segment_plus_the_retention():
    layer = _kafka_layer("session-events", "events",
                         {"cleanup.policy": "delete", "retention.ms": str(7 * DAY_MS), "segment.ms": str(DAY_MS)}, T0)
    assert layer["last_copy_by"] == (T0 + timedelta(days=8)).isoformat()
    assert not layer["kept_for_ever"]


def test_a_topic_that_keeps_everything_is_named_as_kept_for_ever():
    layer = _kafka_layer("session-events", "events", {"cleanup.policy": "delete", "retention.ms": "-1"}, T0)
    assert layer["kept_for_ever"] and layer["last_copy_by"] is None
    assert "retention.ms=-1" in layer["note"]


def test_a_compacted_changelog_keeps_the_tombstone_key_for_delete_retention():
    layer = _kafka_layer("ledger-x-players-changelog", "changelog",
                         {"cleanup.policy": "compact", "segment.ms": str(3_600_000),
                          "min.compaction.lag.ms": "0", "delete.retention.ms": str(DAY_MS)}, T0)
    assert layer["last_copy_by"] == (T0 + timedelta(hours=25)).isoformat()


def _receipt(layer: str, partitions=()) -> Receipt:
    return Receipt(key="k" * 64, layer=layer, instance="i", done_at=T0, partitions=tuple(partitions))


def test_pending_names_the_partitions_no_worker_confirmed_and_the_history():
    assert _pending([], 3) == ["worker tables (session partitions 0, 1, 2)", "history"]
    assert _pending([_receipt("worker", [0, 2]), _receipt("history")], 3) == [
        "worker tables (session partitions 1)"]
    assert _pending([_receipt("worker", [0]), _receipt("worker", [1, 2]), _receipt("history")], 3) == []
