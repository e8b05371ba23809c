"""The owner record: found while its process lives, ignored once it is gone."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from analytics.serve.owner import OWNER_FILE, Owner, held_by_another_process, read_owner


def _record(state_dir, pid):
    owner = Owner(pid=pid, role="sink", url="http://127.0.0.1:8123", chdb_path=str(state_dir / "chdb"),
                  started_at="2026-11-24T18:00:00+00:00")
    (state_dir / OWNER_FILE).write_text(json.dumps(owner.as_dict()))
    return owner


def test_the_record_of_a_live_owner_is_read(tmp_path):
    owner = _record(tmp_path, os.getpid())

    assert read_owner(tmp_path) == owner


def test_the_record_of_an_owner_that_died_is_ignored(tmp_path):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    _record(tmp_path, int(gone.stdout))

    assert read_owner(tmp_path) is None


def test_no_record_or_a_torn_one_means_no_owner(tmp_path):
    assert read_owner(tmp_path) is None
    (tmp_path / OWNER_FILE).write_text('{"pid": ')
    assert read_owner(tmp_path) is None


def test_a_directory_nobody_opened_is_not_held(tmp_path):
    assert not held_by_another_process(tmp_path / "chdb")

