"""Giving back the clean pages of shared objects: which mappings qualify, and a real process
whose resident set falls while its libraries keep working."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from analytics.resident import Span, clean_library_spans

SMAPS = """\
7f0000000000-7f0000100000 r--p 00000000 fd:00 11 /venv/lib/chdb/_chdb.abi3.so
Size:               1024 kB
Rss:                 512 kB
Anonymous:             0 kB
7f0000100000-7f0000300000 r-xp 00100000 fd:00 11 /venv/lib/chdb/_chdb.abi3.so
Rss:                2048 kB
Anonymous:             0 kB
7f0000300000-7f0000310000 r--p 00300000 fd:00 11 /venv/lib/chdb/_chdb.abi3.so
Rss:                  64 kB
Anonymous:            64 kB
7f0000310000-7f0000320000 rw-p 00310000 fd:00 11 /venv/lib/chdb/_chdb.abi3.so
Anonymous:             8 kB
7f0000400000-7f0000500000 r-xp 00000000 fd:00 12 /usr/lib/x86_64-linux-gnu/libc.so.6
Anonymous:             0 kB
7f0000600000-7f0000700000 r--s 00000000 fd:00 13 /usr/lib/shared.so
Anonymous:             0 kB
7f0000800000-7f0000900000 r--p 00000000 fd:00 14 /data/part/data.bin
Anonymous:             0 kB
7f0000a00000-7f0000b00000 rw-p 00000000 00:00 0 
Anonymous:          1024 kB
7ffd00000000-7ffd00001000 r-xp 00000000 00:00 0                          [vdso]
Anonymous:             0 kB
"""


def test_only_private_read_only_shared_objects_without_copied_pages_qualify():
    assert clean_library_spans(SMAPS.splitlines(keepends=True)) == [
        Span(0x7f0000000000, 0x7f0000100000, "/venv/lib/chdb/_chdb.abi3.so"),
        Span(0x7f0000100000, 0x7f0000300000, "/venv/lib/chdb/_chdb.abi3.so"),
        Span(0x7f0000400000, 0x7f0000500000, "/usr/lib/x86_64-linux-gnu/libc.so.6"),
    ]


CHILD = """
import json, pyarrow as pa, pyarrow.compute as pc
from analytics.resident import release_library_pages

def file_kib():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("RssFile:"))

pc.sum(pa.array(range(1000)))
before = file_kib()
released = release_library_pages()
after = file_kib()
total = pc.sum(pa.array(range(1000))).as_py()
print(json.dumps({"before": before, "after": after, "released": released, "total": total}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/smaps")
def test_a_process_gives_back_its_library_pages_and_its_libraries_still_run():
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True)
    figures = json.loads(done.stdout)
    assert figures["released"] > 0
    assert figures["after"] < figures["before"] / 2, figures
    assert figures["total"] == sum(range(1000))
