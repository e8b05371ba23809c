"""The states the worker wrote last, kept in memory in place of reading their records."""
from __future__ import annotations

import uuid

from projections.recent import RecentSessions
from projections.session_state import step
from tests.support.factories import session_script


def states(script):
    state, out = None, []
    for event in script:
        state = step(state, event).after
        out.append(state)
    return out


def sid(n):
    return str(uuid.UUID(int=n))


def test_the_state_put_last_is_the_one_got():
    recent = RecentSessions()
    first, second, third = states(session_script(sid(1), end=None))[:3]
    recent.put(0, first)
    recent.put(0, second)

    assert recent.get(sid(1)) is second
    assert recent.get(sid(2)) is None
    recent.put(0, third)
    assert recent.get(sid(1)) is third and len(recent) == 1


def test_a_finished_session_is_let_go():
    recent = RecentSessions()
    *live, ended = states(session_script(sid(1), end="normal"))
    recent.put(0, live[-1])
    recent.put(0, ended)

    assert recent.get(sid(1)) is None and len(recent) == 0


def test_the_least_recently_written_go_first_past_the_limit():
    recent = RecentSessions(limit=2)
    a, b, c = (states(session_script(sid(n), end=None))[1] for n in (1, 2, 3))
    recent.put(0, a)
    recent.put(0, b)
    recent.put(0, a)  # written again: now the newest
    recent.put(0, c)

    assert recent.get(sid(2)) is None
    assert recent.get(sid(1)) is a and recent.get(sid(3)) is c


def test_drop_forgets_the_partitions_given_and_clear_forgets_all():
    recent = RecentSessions()
    for n, partition in ((1, 0), (2, 1), (3, 2)):
        recent.put(partition, states(session_script(sid(n), end=None))[1])
    recent.drop([0, 2])

    assert [recent.get(sid(n)) is not None for n in (1, 2, 3)] == [False, True, False]
    recent.clear()
    assert len(recent) == 0
