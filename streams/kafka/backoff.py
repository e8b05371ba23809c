"""The one retry backoff: capped exponential with jitter, a value defined once with its presets.

Every retry loop of the stages takes one of the presets (or a ``Backoff`` passed in) and asks
it for the pause before attempt ``n``; none keeps constants of its own.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Backoff:
    """Capped exponential backoff with full jitter over the top half: delay in [d/2, d], where
    d = ``initial_s`` * 2^(attempt-1), at most ``max_s``. Seconds throughout."""

    initial_s: float = 0.2
    max_s: float = 10.0

    def ceiling(self, attempt: int) -> float:
        """The longest pause before attempt ``attempt`` (1 is the first retry)."""
        return min(self.max_s, self.initial_s * 2 ** max(0, attempt - 1))

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """The pause before attempt ``attempt``: between half the ceiling and the ceiling."""
        ceiling = self.ceiling(attempt)
        return ceiling / 2 + rand() * ceiling / 2


WAREHOUSE = Backoff(initial_s=0.2, max_s=10.0)
"""Writes to the warehouse and opening it: a database restart takes seconds to tens of seconds."""

DEAD_LETTERS = Backoff(initial_s=0.2, max_s=10.0)
"""Sending one dead letter again, a bounded number of times (LEDGER_DEAD_LETTER_ATTEMPTS)."""

FOLD_RUN = Backoff(initial_s=0.5, max_s=5.0)
"""Folding a worker run again after its own sends failed: the partition waits, nothing skips."""

PRODUCE = Backoff(initial_s=0.2, max_s=5.0)
"""Offering a message the producer refused again (the worker's table and topic sends)."""

SPOOL_DRAIN = Backoff(initial_s=0.5, max_s=5.0)
"""Replaying the emitter's spool while the broker still does not take it."""
