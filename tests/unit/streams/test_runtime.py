"""The worker and the sink keep the garbage collector off the objects they loaded at start-up."""
from __future__ import annotations

import gc

from streams.runtime import GC_THRESHOLDS, settle_garbage_collector


def test_what_the_worker_loaded_is_frozen_and_collections_are_rarer():
    thresholds = gc.get_threshold()
    loaded = object.__new__(type("Loaded", (), {}))  # a tracked object that lives on
    try:
        settle_garbage_collector()
        assert gc.get_freeze_count() >= 1
        assert not any(loaded is o for o in gc.get_objects())  # frozen: out of every generation
        assert gc.get_threshold() == GC_THRESHOLDS
        assert GC_THRESHOLDS[0] > thresholds[0]
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
