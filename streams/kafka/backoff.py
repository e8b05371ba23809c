"""The one retry backoff: capped exponential with jitter. Every bounded or unbounded retry of
the readers (warehouse writes, opening the warehouse, writing dead letters) uses it."""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Backoff:
    """Capped exponential backoff with full jitter over the top half: delay in [d/2, d]."""

    initial_s: float = 0.2
    max_s: float = 10.0

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        ceiling = min(self.max_s, self.initial_s * 2 ** max(0, attempt - 1))
        return ceiling / 2 + rand() * ceiling / 2
