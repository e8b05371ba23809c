"""The dead-letter limit: how many letters a reader may write before it stops. Pure.

A bad deploy of a producer must not quietly send everything to the dead-letter topic. As
Arroyo's DLQ limit does, a reader stops with ``DeadLetterLimitExceeded`` when it dead-letters

- more than ``max_per_minute`` messages within any 60 s, or
- more than ``max_fraction`` of about the last ``window`` messages it read, once it has read
  at least ``min_messages`` of them (so one bad message among the first few does not count
  as half the traffic).

The limit is one value (``DeadLetterLimit``), read from the settings, and every reader counts
with a ``LetterCount``.
"""
from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass

from streams.errors import BadStreamsOption, DeadLetterLimitExceeded

MINUTE_S = 60.0


@dataclass(frozen=True)
class DeadLetterLimit:
    """When a reader stops dead-lettering and stops instead (the module doc); 0 turns a rule off."""

    max_per_minute: int = 1000
    max_fraction: float = 0.5
    window: int = 1000
    """Messages the fraction is taken over (about: whole runs are counted)."""
    min_messages: int = 100
    """Messages read in the window before the fraction applies."""

    def __post_init__(self) -> None:
        if self.max_per_minute < 0 or not 0 <= self.max_fraction <= 1 or self.window < 1 \
                or self.min_messages < 0:
            raise BadStreamsOption("dead-letter limit", self, "max_per_minute >= 0, 0 <= max_fraction <= 1, "
                                   "window >= 1, min_messages >= 0")

    @classmethod
    def from_settings(cls, settings) -> DeadLetterLimit:
        return cls(max_per_minute=settings.dead_letter_max_per_minute,
                   max_fraction=settings.dead_letter_max_fraction,
                   window=settings.dead_letter_window,
                   min_messages=settings.dead_letter_min_messages)


class LetterCount:
    """What one reader read and dead-lettered, checked against its limit at each ``observe``."""

    def __init__(self, limit: DeadLetterLimit, reader: str) -> None:
        self.limit = limit
        self.reader = reader
        self._recent: deque[tuple[float, str]] = deque()  # (when, reason) of letters within a minute
        self._runs: deque[tuple[int, Counter[str]]] = deque()  # (messages, reasons) per observation
        self._messages = 0
        self._window: Counter[str] = Counter()

    def observe(self, messages: int, reasons: list[str], now: float) -> None:
        """Count ``messages`` read, of which ``reasons`` (one per letter) were dead-lettered, at
        ``now`` (monotonic seconds). Raises ``DeadLetterLimitExceeded`` past the limit."""
        letters = Counter(reasons)
        self._runs.append((messages, letters))
        self._messages += messages
        self._window.update(letters)
        while len(self._runs) > 1 and self._messages - self._runs[0][0] >= self.limit.window:
            dropped, reasons_dropped = self._runs.popleft()
            self._messages -= dropped
            self._window.subtract(reasons_dropped)
        for reason in reasons:
            self._recent.append((now, reason))
        while self._recent and self._recent[0][0] <= now - MINUTE_S:
            self._recent.popleft()
        if reasons:
            self._check()

    def _check(self) -> None:
        limit = self.limit
        if limit.max_per_minute and len(self._recent) > limit.max_per_minute:
            raise DeadLetterLimitExceeded(
                self.reader, f"more than {limit.max_per_minute} dead letters within a minute",
                dict(Counter(reason for _, reason in self._recent)))
        letters = sum(self._window.values())
        if limit.max_fraction < 1 and self._messages >= max(1, limit.min_messages) \
                and letters > limit.max_fraction * self._messages:
            raise DeadLetterLimitExceeded(
                self.reader, f"{letters} of the last {self._messages} messages dead-lettered, over "
                f"the limit of {limit.max_fraction:.0%}", {r: n for r, n in self._window.items() if n})
