"""The stall watch: when a quiet intake counts as stalled, and what its report names.

The worker story that stalls for real (a topic refusing the worker's updates, on the real
broker) is in tests/faults/test_worker_faults.py, what the consumer counts in
test_worker_intake.py; here the rules and the report.
"""
from __future__ import annotations

import asyncio

from faust.types import TP

from streams.fold.stall import find_stall, waiting_messages
from streams.fold.stall_report import awaits_of, describe


def test_a_quiet_intake_is_stalled_only_while_messages_wait_and_the_worker_is_settled():
    waiting = {"t[0]": 5}

    assert find_stall(quiet_s=31, waiting=waiting, settled=True, after_s=30).messages == 5
    assert find_stall(quiet_s=29, waiting=waiting, settled=True, after_s=30) is None
    assert find_stall(quiet_s=31, waiting={}, settled=True, after_s=30) is None
    assert find_stall(quiet_s=31, waiting=waiting, settled=False, after_s=30) is None


def test_messages_wait_between_the_next_offset_to_fold_and_the_end_of_the_partition():
    a, b, c, d = TP("t", 0), TP("t", 1), TP("u", 0), TP("u", 1)

    waiting = waiting_messages({a: 10, b: 7, c: None, d: 3}, {a: 14, b: 7, c: 9, d: None})

    assert waiting == {"t[0]": 4}  # b is folded to its end; c and d are not known


def test_the_report_names_what_waits_and_each_task_s_chain_of_awaits():
    async def inner(event):
        await event.wait()

    async def outer(event):
        await inner(event)

    async def scene():
        event = asyncio.Event()
        waiting_task = asyncio.ensure_future(outer(event))
        done_task = asyncio.ensure_future(asyncio.sleep(0))
        await asyncio.sleep(0.01)
        chain = awaits_of(waiting_task)
        report = describe(find_stall(quiet_s=40, waiting={"t[2]": 3}, settled=True, after_s=30),
                          [("fetcher", waiting_task), ("fold of t[2]", done_task)], {"generation": 4})
        event.set()
        await waiting_task
        return chain, report

    chain, report = asyncio.run(scene())

    assert [line.rsplit(" in ", 1)[-1] for line in chain[:2]] == ["outer", "inner"]
    assert "wait" in chain[2] and chain[-1].startswith("waiting on")
    assert report.splitlines()[0] == "intake stalled: no run folded for 40 s while 3 message(s) wait on t[2]"
    assert "state: generation=4" in report
    assert "fetcher awaits:" in report and " in inner" in report
    assert "fold of t[2]: finished (returned)" in report
