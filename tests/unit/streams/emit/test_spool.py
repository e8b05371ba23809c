"""The spool keeps unsent messages in order across crashes and restarts, and forgets acked ones."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.emit.spool import Spool
from streams.errors import SpoolClosed, SpoolCorrupt


def messages(spool: Spool) -> list[tuple[int, bytes, bytes]]:
    return [(r.offset, r.key, r.value) for r in spool.replay()]


def segment_files(directory) -> list[str]:
    return sorted(p.name for p in directory.glob("*.seg"))


def test_replay_returns_messages_in_append_order_with_their_offsets(tmp_path):
    with Spool(tmp_path) as spool:
        offsets = [spool.append(b"s-%d" % (i % 3), b"event-%d" % i) for i in range(5)]

        assert offsets == [0, 1, 2, 3, 4]
        assert messages(spool) == [(i, b"s-%d" % (i % 3), b"event-%d" % i) for i in range(5)]
        assert spool.pending == 5


def test_a_reopened_spool_replays_what_the_last_process_appended(tmp_path):
    with Spool(tmp_path) as spool:
        for i in range(3):
            spool.append(b"k", b"v%d" % i)

    with Spool(tmp_path) as reopened:
        assert [r.value for r in reopened.replay()] == [b"v0", b"v1", b"v2"]
        assert reopened.append(b"k", b"v3") == 3


def test_acked_messages_are_not_replayed_after_a_restart(tmp_path):
    with Spool(tmp_path) as spool:
        for i in range(10):
            spool.append(b"k", b"v%d" % i)
        spool.ack(6)

    with Spool(tmp_path) as reopened:
        assert reopened.committed == 7
        assert [r.offset for r in reopened.replay()] == [7, 8, 9]


def test_offsets_keep_counting_after_everything_was_acked_and_deleted(tmp_path):
    with Spool(tmp_path) as spool:
        spool.append(b"k", b"a")
        spool.append(b"k", b"b")
        spool.ack(1)
        assert segment_files(tmp_path) == []

    with Spool(tmp_path) as reopened:
        assert reopened.pending == 0
        assert reopened.append(b"k", b"c") == 2
        assert messages(reopened) == [(2, b"k", b"c")]


def test_a_torn_final_write_is_cut_off_and_earlier_records_survive(tmp_path):
    with Spool(tmp_path) as spool:
        for i in range(4):
            spool.append(b"session", b"event-%d" % i)
    [segment] = tmp_path.glob("*.seg")
    whole = segment.read_bytes()
    with Spool(tmp_path) as spool:
        spool.append(b"session", b"the event being written when the power went")
    segment.write_bytes(segment.read_bytes()[: len(whole) + 13])

    with Spool(tmp_path) as reopened:
        assert reopened.truncated_bytes == 13
        assert [r.value for r in reopened.replay()] == [b"event-%d" % i for i in range(4)]
        assert reopened.append(b"session", b"next") == 4
        assert [r.value for r in reopened.replay()][-1] == b"next"


def test_a_final_record_with_garbage_instead_of_its_bytes_is_cut_off(tmp_path):
    with Spool(tmp_path) as spool:
        spool.append(b"k", b"good")
        spool.append(b"k", b"xxxxxxxxxxxxxxxxxxxx")
    [segment] = tmp_path.glob("*.seg")
    data = bytearray(segment.read_bytes())
    data[-5:] = b"\x00" * 5
    segment.write_bytes(bytes(data))

    with Spool(tmp_path) as reopened:
        assert [r.value for r in reopened.replay()] == [b"good"]


def test_a_process_killed_mid_stream_loses_nothing_it_had_appended(tmp_path):
    script = textwrap.dedent(f"""
        import os, sys
        from streams.emit.spool import Spool
        spool = Spool({str(tmp_path)!r}, fsync_every=10_000, fsync_interval_s=60)
        for i in range(500):
            spool.append(b"k%d" % (i % 7), b"v%d" % i)
        sys.stdout.write("appended\\n"); sys.stdout.flush()
        os.kill(os.getpid(), 9)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)

    assert done.returncode == -9 and done.stdout == b"appended\n"
    with Spool(tmp_path) as reopened:
        assert [r.value for r in reopened.replay()] == [b"v%d" % i for i in range(500)]


def test_damage_before_the_final_segment_raises_instead_of_skipping_events(tmp_path):
    with Spool(tmp_path, segment_bytes=1024) as spool:
        for i in range(40):
            spool.append(b"k", b"%050d" % i)
    first = tmp_path / segment_files(tmp_path)[0]
    data = bytearray(first.read_bytes())
    data[20] ^= 0xFF
    first.write_bytes(bytes(data))

    with pytest.raises(SpoolCorrupt, match="fails its checksum"):
        Spool(tmp_path)


def test_segments_stay_bounded_and_fully_acked_ones_are_deleted(tmp_path):
    with Spool(tmp_path, segment_bytes=1024) as spool:
        for i in range(100):
            spool.append(b"k", b"%050d" % i)
        files = segment_files(tmp_path)
        assert len(files) > 5
        assert all((tmp_path / name).stat().st_size <= 1024 for name in files)

        spool.ack(49)

        remaining = segment_files(tmp_path)
        assert len(remaining) < len(files)
        assert [r.offset for r in spool.replay()] == list(range(50, 100))


def test_replay_can_start_later_and_stop_early(tmp_path):
    with Spool(tmp_path, segment_bytes=1024) as spool:
        for i in range(60):
            spool.append(b"k", b"%050d" % i)

        assert [r.offset for r in spool.replay(start=25, limit=10)] == list(range(25, 35))


def test_ack_beyond_the_end_only_acknowledges_what_exists(tmp_path):
    with Spool(tmp_path) as spool:
        spool.append(b"k", b"a")
        spool.ack(100)
        assert spool.committed == 1
        assert spool.append(b"k", b"b") == 1
        assert [r.value for r in spool.replay()] == [b"b"]


def test_appending_to_a_closed_spool_says_so(tmp_path):
    spool = Spool(tmp_path)
    spool.close()

    with pytest.raises(SpoolClosed, match="closed"):
        spool.append(b"k", b"v")


def test_records_reach_disk_in_fsync_batches(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    with Spool(tmp_path, fsync_every=10, fsync_interval_s=3600) as spool:
        spool.append(b"k", b"first")  # opening the segment syncs it once
        synced.clear()
        for i in range(29):
            spool.append(b"k", b"v")
        assert len(synced) == 3
    assert len(synced) >= 4  # and close syncs the rest


@settings(max_examples=30, deadline=None)
@given(
    batches=st.lists(
        st.tuples(st.lists(st.binary(max_size=300), max_size=20), st.integers(0, 25)),
        max_size=8,
    )
)
def test_whatever_the_appends_and_acks_a_restart_replays_exactly_the_unacked_suffix(tmp_path_factory, batches):
    directory = tmp_path_factory.mktemp("spool")
    expected: list[tuple[int, bytes]] = []
    for values, acks in batches:
        with Spool(directory, segment_bytes=2048) as spool:
            for value in values:
                expected.append((spool.append(b"key", value), value))
            unacked = [e for e in expected if e[0] >= spool.committed]
            if unacked and acks:
                upto = unacked[min(acks, len(unacked)) - 1][0]
                spool.ack(upto)
                expected = [e for e in expected if e[0] > upto]
        with Spool(directory, segment_bytes=2048) as reopened:
            assert [(r.offset, r.value) for r in reopened.replay()] == expected
