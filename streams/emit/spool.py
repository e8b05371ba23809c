"""A durable local queue of Kafka messages that could not be sent yet.

The spool is a directory of append-only segment files. Every record gets an offset, counting up
from 0 for the life of the directory, and is stored as::

    u32 payload length | u32 CRC-32 of the payload | payload = u32 key length, key, value

A process killed in the middle of an append leaves a torn record at the end of the newest
segment; opening the spool finds it (short or failing its CRC) and cuts it off, so earlier
records are never affected. A bad record anywhere else is real damage and raises
``SpoolCorrupt`` instead of being skipped.

Writes reach the operating system at once (a killed process loses nothing) and are fsynced in
batches — every ``fsync_every`` records, when ``fsync_interval_s`` has passed (checked on
append and by ``sync_if_due``), and on close — so a machine crash loses at most that window.

Delivery is tracked by one number, the *committed* offset: every record below it has been
acknowledged by the broker. ``ack(upto)`` moves it past ``upto`` and persists it atomically
(write, fsync, rename), so a restarted process replays only what was not acknowledged.
At-least-once: a crash between the broker's acknowledgement and ``ack`` replays a few
records again, which downstream readers drop by ``event_id``. Segments whose records are all
acknowledged are deleted.

One writer and one reader (the drain) may use a spool from different threads.
"""
from __future__ import annotations

import os
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from streams.errors import BadStreamsOption, SpoolClosed, SpoolCorrupt

SEGMENT_MAGIC = b"LSPOOL01"
SEGMENT_SUFFIX = ".seg"
COMMITTED_FILE = "committed"

_HEADER = struct.Struct("<II")
_KEY_LENGTH = struct.Struct("<I")
_COMMITTED = struct.Struct("<QI")


@dataclass(frozen=True, slots=True)
class SpoolRecord:
    """One spooled message and its offset in the spool."""

    offset: int
    key: bytes
    value: bytes


@dataclass(slots=True)
class _Segment:
    base: int           # offset of the segment's first record
    path: Path
    count: int = 0      # records in the segment
    size: int = 0       # bytes in the file, header included

    @property
    def end(self) -> int:
        """The offset the next record after this segment's last would get."""
        return self.base + self.count


class Spool:
    """Append-only, crash-safe, acknowledged-position-tracking queue in ``directory``."""

    def __init__(
        self,
        directory: Path | str,
        *,
        segment_bytes: int = 16 * 1024 * 1024,
        fsync_every: int = 1000,
        fsync_interval_s: float = 0.2,
    ) -> None:
        if segment_bytes < 1024:
            raise BadStreamsOption("segment_bytes", segment_bytes, "at least 1024")
        self.directory = Path(directory)
        self.segment_bytes = segment_bytes
        self.fsync_every = fsync_every
        self.fsync_interval_s = fsync_interval_s
        self.truncated_bytes = 0
        """Bytes of a torn final record cut off when the spool was opened."""
        self._lock = threading.Lock()
        self._unsynced = 0
        self._last_sync = time.monotonic()
        self._fd: int | None = None
        self._closed = False
        self.directory.mkdir(parents=True, exist_ok=True)
        self._segments = self._load_segments()
        self._committed = self._load_committed()
        self._next = max(self._segments[-1].end if self._segments else 0, self._committed)
        self._delete_acknowledged_segments()

    # --- the writer's side ----------------------------------------------------------------

    def append(self, key: bytes, value: bytes) -> int:
        """Store one message; returns its offset. Durable against a process kill on return."""
        payload = _KEY_LENGTH.pack(len(key)) + key + value
        record = _HEADER.pack(len(payload), zlib.crc32(payload)) + payload
        with self._lock:
            self._ensure_open()
            segment = self._writable_segment(len(record))
            _write_all(self._fd, record)
            segment.count += 1
            segment.size += len(record)
            offset = self._next
            self._next += 1
            self._unsynced += 1
            if self._unsynced >= self.fsync_every or self._sync_overdue():
                self._sync()
            return offset

    def sync_if_due(self) -> None:
        """Fsync appended records if the batching interval has passed (called by a timer)."""
        with self._lock:
            if self._unsynced and self._sync_overdue() and self._fd is not None:
                self._sync()

    def close(self) -> None:
        """Fsync everything appended and release the open segment. Idempotent."""
        with self._lock:
            if self._fd is not None:
                self._sync()
                os.close(self._fd)
                self._fd = None
            self._closed = True

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- the reader's side ----------------------------------------------------------------

    @property
    def committed(self) -> int:
        """Every record with an offset below this one has been acknowledged."""
        return self._committed

    @property
    def end(self) -> int:
        """The offset the next appended record will get."""
        return self._next

    @property
    def pending(self) -> int:
        """How many records are spooled and not yet acknowledged."""
        with self._lock:
            return self._next - self._committed

    def replay(self, start: int | None = None, limit: int | None = None) -> Iterator[SpoolRecord]:
        """Unacknowledged records in append order, from ``start`` (default: the committed offset).

        Yields what was appended before the call (up to ``limit`` records); records appended
        while iterating are left for the next call.
        """
        with self._lock:
            start = self._committed if start is None else max(start, self._committed)
            stop = self._next if limit is None else min(self._next, start + limit)
            plan = [(s.base, s.path, s.size) for s in self._segments if s.end > start and s.base < stop]
        for base, path, size in plan:
            yield from _read_segment(path, base, size, start, stop)

    def ack(self, upto: int) -> None:
        """Mark every record with an offset up to and including ``upto`` as delivered."""
        with self._lock:
            committed = min(upto + 1, self._next)
            if committed <= self._committed:
                return
            self._write_committed(committed)
            self._committed = committed
            self._delete_acknowledged_segments()

    # --- internals ------------------------------------------------------------------------

    def _ensure_open(self) -> None:
        if self._closed:
            raise SpoolClosed(self.directory)

    def _writable_segment(self, record_size: int) -> _Segment:
        segment = self._segments[-1] if self._segments else None
        if segment is not None and self._fd is None and segment.end == self._next:
            self._fd = os.open(segment.path, os.O_WRONLY | os.O_APPEND)
        if segment is None or segment.end != self._next or (
            segment.count and segment.size + record_size > self.segment_bytes
        ):
            segment = self._start_segment()
        return segment

    def _start_segment(self) -> _Segment:
        if self._fd is not None:
            self._sync()
            os.close(self._fd)
        path = self.directory / f"{self._next:020d}{SEGMENT_SUFFIX}"
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC, 0o644)
        _write_all(self._fd, SEGMENT_MAGIC)
        os.fsync(self._fd)
        _fsync_directory(self.directory)
        segment = _Segment(self._next, path, 0, len(SEGMENT_MAGIC))
        self._segments.append(segment)
        return segment

    def _sync_overdue(self) -> bool:
        return time.monotonic() - self._last_sync >= self.fsync_interval_s

    def _sync(self) -> None:
        os.fsync(self._fd)
        self._unsynced = 0
        self._last_sync = time.monotonic()

    def _delete_acknowledged_segments(self) -> None:
        keep = []
        for segment in self._segments:
            if segment.end <= self._committed:
                if self._fd is not None and segment is self._segments[-1]:
                    os.close(self._fd)
                    self._fd = None
                segment.path.unlink(missing_ok=True)
            else:
                keep.append(segment)
        self._segments = keep

    def _load_segments(self) -> list[_Segment]:
        paths = sorted(self.directory.glob(f"*{SEGMENT_SUFFIX}"))
        segments = []
        for index, path in enumerate(paths):
            try:
                base = int(path.stem)
            except ValueError:
                raise SpoolCorrupt(path, "a segment file name must be its first offset") from None
            last = index == len(paths) - 1
            segment = _scan_segment(path, base, tolerate_torn_tail=last)
            if segments and segments[-1].end != segment.base:
                raise SpoolCorrupt(
                    path, f"starts at offset {base} but the previous segment ends at "
                    f"{segments[-1].end}; records are missing between them")
            if last and segment.size < path.stat().st_size:
                self.truncated_bytes = path.stat().st_size - segment.size
                os.truncate(path, segment.size)
                _fsync_file(path)
            segments.append(segment)
        return segments

    def _load_committed(self) -> int:
        path = self.directory / COMMITTED_FILE
        oldest = self._segments[0].base if self._segments else 0
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return oldest
        if len(data) != _COMMITTED.size:
            raise SpoolCorrupt(path, f"holds {len(data)} bytes instead of {_COMMITTED.size}")
        committed, crc = _COMMITTED.unpack(data)
        if zlib.crc32(data[:8]) != crc:
            raise SpoolCorrupt(path, "fails its checksum")
        return max(committed, oldest) if self._segments else committed

    def _write_committed(self, committed: int) -> None:
        data = struct.pack("<Q", committed)
        data += struct.pack("<I", zlib.crc32(data))
        temporary = self.directory / (COMMITTED_FILE + ".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, self.directory / COMMITTED_FILE)
        _fsync_directory(self.directory)


def _scan_segment(path: Path, base: int, *, tolerate_torn_tail: bool) -> _Segment:
    """Count a segment's valid records; stop at a torn tail if allowed, else raise."""
    data = path.read_bytes()
    if len(data) < len(SEGMENT_MAGIC):
        if tolerate_torn_tail and SEGMENT_MAGIC.startswith(data):
            _rewrite_magic(path)
            return _Segment(base, path, 0, len(SEGMENT_MAGIC))
        raise SpoolCorrupt(path, f"is {len(data)} bytes, too short for its header")
    if data[: len(SEGMENT_MAGIC)] != SEGMENT_MAGIC:
        raise SpoolCorrupt(path, f"does not start with {SEGMENT_MAGIC!r}")
    position, count = len(SEGMENT_MAGIC), 0
    while position < len(data):
        problem = _check_record(data, position)
        if problem:
            if tolerate_torn_tail:
                break
            raise SpoolCorrupt(path, f"record {base + count} at byte {position} {problem}")
        length, _ = _HEADER.unpack_from(data, position)
        position += _HEADER.size + length
        count += 1
    return _Segment(base, path, count, position)


def _check_record(data: bytes, position: int) -> str | None:
    if position + _HEADER.size > len(data):
        return "is cut short in its header"
    length, crc = _HEADER.unpack_from(data, position)
    body = data[position + _HEADER.size: position + _HEADER.size + length]
    if len(body) < length:
        return f"is cut short: {len(body)} of {length} bytes"
    if zlib.crc32(body) != crc or length < _KEY_LENGTH.size:
        return "fails its checksum"
    return None


def _read_segment(path: Path, base: int, size: int, start: int, stop: int) -> Iterator[SpoolRecord]:
    with open(path, "rb") as file:
        data = file.read(size)
    position, offset = len(SEGMENT_MAGIC), base
    while position < size and offset < stop:
        problem = _check_record(data, position)
        if problem:
            raise SpoolCorrupt(path, f"record {offset} at byte {position} {problem}")
        length, _ = _HEADER.unpack_from(data, position)
        body_at = position + _HEADER.size
        position = body_at + length
        if offset >= start:
            (key_length,) = _KEY_LENGTH.unpack_from(data, body_at)
            key_at = body_at + _KEY_LENGTH.size
            yield SpoolRecord(offset, data[key_at: key_at + key_length], data[key_at + key_length: position])
        offset += 1


def _rewrite_magic(path: Path) -> None:
    path.write_bytes(SEGMENT_MAGIC)
    _fsync_file(path)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
