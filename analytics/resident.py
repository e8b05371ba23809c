"""Give back the shared-library pages a process mapped while loading and does not use.

chDB's library is 555 MB. Loading it maps far more of its code and read-only data than a query
runs: 170 to 275 MiB of it are resident once the library is loaded (more when the file's pages
entered the page cache in large folios, as after ``pip install`` wrote it), of which a replay
over a million events touches about 110 MiB again. Those pages are clean copies of the file:
the kernel may drop them whenever it likes and reads them back from the page cache on the next
touch. ``release_library_pages`` drops them from this process at once (``MADV_DONTNEED``), so
its resident set is what it uses. Only private, read-only mappings of shared objects holding no
anonymous (copied-on-write) page are touched: their content is the file's, so nothing is lost.
See docs/warehouse.md, "Memory".
"""
from __future__ import annotations

import ctypes
import re
import sys
from typing import Iterable, NamedTuple

_MADV_DONTNEED = 4
_HEADER = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \S+\s*(.*)$")


class Span(NamedTuple):
    start: int
    end: int
    path: str


def clean_library_spans(smaps: Iterable[str]) -> list[Span]:
    """The mappings in ``smaps`` (lines of ``/proc/<pid>/smaps``) whose resident pages are all
    clean copies of a shared object: private, not writable, a ``.so`` file, no anonymous page.
    Pure."""
    spans: list[Span] = []
    current: Span | None = None
    for line in smaps:
        header = _HEADER.match(line)
        if header:
            start, end, perms, path = header.groups()
            private_read_only = perms[1] != "w" and perms[3] == "p"
            current = (Span(int(start, 16), int(end, 16), path.strip())
                       if private_read_only and _is_shared_object(path.strip()) else None)
        elif current is not None and line.startswith("Anonymous:"):
            if int(line.split()[1]) == 0:
                spans.append(current)
            current = None
    return spans


def _is_shared_object(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return path.startswith("/") and (name.endswith(".so") or ".so." in name)


def release_library_pages() -> int:
    """Drop this process's resident pages of its shared objects' clean mappings; the bytes of
    mapping advised (0 where ``/proc/self/smaps`` or ``madvise`` is not there)."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        with open("/proc/self/smaps", encoding="utf-8", errors="replace") as smaps:
            spans = clean_library_spans(smaps)
    except OSError:  # no procfs mounted: nothing to read, nothing released
        return 0
    libc = ctypes.CDLL(None, use_errno=True)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    libc.madvise.restype = ctypes.c_int
    released = 0
    for span in spans:
        # a mapping locked in memory refuses (EINVAL) and keeps its pages: that is its choice
        if libc.madvise(span.start, span.end - span.start, _MADV_DONTNEED) == 0:
            released += span.end - span.start
    return released
