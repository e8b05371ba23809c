"""Session records as the worker's table keeps them: written by ``to_bytes``, and every record
an earlier worker wrote still read (an upgraded worker keeps its sessions)."""
from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from projections.errors import BadStateRecord
from projections.fold import fold_session
from projections.session_state import RECORD_VERSION, SessionState
from schemas.models import SessionEvent
from schemas.records import session_record
from tests.support.factories import session_script

RECORDS = Path(__file__).parent / "records"


def test_a_version_2_record_with_held_events_and_a_verdict_reads_as_the_fold_says():
    written = json.loads((RECORDS / "session_v2.json").read_text())
    delivered = [SessionEvent.model_validate(e) for e in written["delivered"]]
    stored = written["record"].encode()

    state = SessionState.from_bytes(stored)

    assert json.loads(stored)["v"] == 2
    assert state == fold_session(delivered)
    assert state.pending and all(type(r).__name__ == "SessionRecord" for r in state.pending)
    assert state.pending == tuple(session_record(e) for e in delivered if e.seq > state.last_seq)
    assert state.verdict is not None
    assert SessionState.from_bytes(state.to_bytes()) == state


def test_a_record_is_a_versioned_array_of_every_field():
    state = fold_session(session_script(heartbeats=2, end="normal"))

    row = orjson.loads(state.to_bytes())

    assert row[0] == RECORD_VERSION == 3
    assert len(row) == 1 + len(SessionState.__dataclass_fields__)
    assert SessionState.from_bytes(state.to_bytes()) == state
    assert SessionState.from_bytes(orjson.dumps(state.to_dict())) == state


@pytest.mark.parametrize("damage, field", [
    (lambda row: row.__setitem__(0, 9), "v"),
    (lambda row: row.pop(), "(record)"),
    (lambda row: row.__setitem__(10, "lost"), "status"),
    (lambda row: row.__setitem__(16, "noon"), "started_at"),
])
def test_a_damaged_record_is_refused_naming_the_field(damage, field):
    row = orjson.loads(fold_session(session_script(heartbeats=1)).to_bytes())
    damage(row)

    with pytest.raises(BadStateRecord) as refused:
        SessionState.from_bytes(orjson.dumps(row))

    assert f"'{field}'" in str(refused.value)


def test_bytes_that_are_not_json_are_refused():
    with pytest.raises(BadStateRecord):
        SessionState.from_bytes(b"\x00not json")


def test_the_folds_field_positions_name_the_fields_they_stand_for():
    from projections import session_state

    positions = {name[1:].lower(): value for name, value in vars(session_state).items()
                 if name.startswith("_") and name[1:].isupper() and isinstance(value, int)
                 and name[1:].lower() in session_state._FIELD_INDEX}

    assert len(positions) == len(session_state._FIELD_NAMES) - 1  # all but session_id
    assert positions == {name: session_state._FIELD_INDEX[name] for name in positions}
