"""The prober asks only for the oldest pending probe of each partition, and measures every probe."""
from __future__ import annotations

import pytest

from bench.probe import PartitionHeads, Probe


def probe(number: int, partition: int, emitted_at: float, seq: int = 5) -> Probe:
    return Probe(number, partition, f"session-{number}", seq, emitted_at)


def test_only_the_oldest_probe_of_each_partition_is_asked_for():
    heads = PartitionHeads(poll_s=0.01, give_up_s=30)
    for number, (partition, at) in enumerate([(0, 1.0), (0, 1.1), (1, 1.2), (0, 1.3)]):
        heads.add(probe(number, partition, at))
    due, first = heads.next_due()
    assert (due, first.number) == (1.0, 0)
    heads.answered(first, last_seq=None, now=1.25)  # not visible yet: asked again at 1.26
    due, second = heads.next_due()
    assert (due, second.number) == (1.2, 2)  # partition 1's head; partition 0's later ones wait
    assert len(heads) == 4


def test_once_a_head_is_seen_the_next_of_its_partition_is_asked_for_at_once():
    heads = PartitionHeads(poll_s=0.01, give_up_s=30)
    heads.add(probe(0, 3, 1.0))
    heads.add(probe(1, 3, 1.1))
    _, head = heads.next_due()
    heads.answered(head, last_seq=5, now=1.5)
    due, following = heads.next_due()
    assert (due, following.number) == (1.5, 1)
    heads.answered(following, last_seq=9, now=1.501)
    assert heads.lags == pytest.approx([0.5, 0.401])
    assert heads.next_due() is None and len(heads) == 0


def test_a_seq_below_the_probes_is_not_seen_and_a_probe_past_give_up_is_missed():
    heads = PartitionHeads(poll_s=0.01, give_up_s=2.0)
    heads.add(probe(0, 0, 1.0, seq=7))
    _, head = heads.next_due()
    heads.answered(head, last_seq=6, now=1.2)
    assert heads.lags == [] and heads.missed == 0
    due, head = heads.next_due()
    assert due == pytest.approx(1.21)
    heads.answered(head, last_seq=6, now=3.5)
    assert heads.missed == 1 and heads.next_due() is None
