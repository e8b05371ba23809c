"""The disk guard: a worker or sink stops taking new work while its state dir's filesystem is
nearly full, and resumes by itself once space comes back.

A process that fills its disk dies mid-write (RocksDB, chDB), and may leave its state broken. The
guard holds the intake instead: nothing new is read, so nothing new is written, no offset is
committed for work not done, and the lag grows until space is freed. Hysteresis keeps it from
flapping: it holds below ``threshold`` bytes free and lets go only at ``threshold`` plus the
resume margin.

``DiskPolicy`` and ``DiskPolicy.holds`` are pure (the figures are passed in); ``DiskGuard`` reads
the filesystem with ``shutil.disk_usage`` at most once per ``check_every_s`` and logs each change.
"""
from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streams.errors import BadStreamsOption

log = logging.getLogger("ledger.disk")

MIB = 1024 * 1024


@dataclass(frozen=True)
class DiskPolicy:
    """How much free space a state dir needs: at least ``min_free_bytes`` and at least
    ``min_free_fraction`` of the filesystem (the larger wins; 0 turns a rule off, both 0 turn the
    guard off). Once holding, the guard lets go at the threshold plus ``resume_margin_bytes``."""

    min_free_bytes: int = 1024 * MIB
    min_free_fraction: float = 0.05
    resume_margin_bytes: int = 256 * MIB
    check_every_s: float = 5.0

    def __post_init__(self) -> None:
        if self.min_free_bytes < 0 or not 0 <= self.min_free_fraction < 1 \
                or self.resume_margin_bytes < 0 or self.check_every_s <= 0:
            raise BadStreamsOption("disk guard", self, "min_free_bytes >= 0, 0 <= min_free_fraction < 1, "
                                   "resume_margin_bytes >= 0, check_every_s > 0")

    @classmethod
    def from_settings(cls, settings: Any) -> DiskPolicy:
        return cls(min_free_bytes=settings.disk_min_free_mb * MIB,
                   min_free_fraction=settings.disk_min_free_fraction,
                   resume_margin_bytes=settings.disk_resume_margin_mb * MIB,
                   check_every_s=settings.disk_check_interval_s)

    @property
    def enabled(self) -> bool:
        return self.min_free_bytes > 0 or self.min_free_fraction > 0

    def threshold(self, total_bytes: int) -> int:
        """Bytes that must stay free on a filesystem of ``total_bytes``."""
        return max(self.min_free_bytes, int(total_bytes * self.min_free_fraction))

    def holds(self, holding: bool, free_bytes: int, total_bytes: int) -> bool:
        """Whether the intake is held after a reading of ``free_bytes`` of ``total_bytes``, given
        whether it was ``holding`` before: below the threshold it holds; holding, it goes on
        holding until free space reaches the threshold plus the resume margin."""
        if not self.enabled:
            return False
        threshold = self.threshold(total_bytes)
        if holding:
            return free_bytes < threshold + self.resume_margin_bytes
        return free_bytes < threshold


@dataclass(frozen=True)
class DiskReading:
    """One look at the filesystem holding ``path``."""

    path: str
    free_bytes: int
    total_bytes: int
    threshold_bytes: int

    def as_dict(self) -> dict[str, Any]:
        """What /health and the sink's status show."""
        return {"path": self.path, "free_bytes": self.free_bytes, "threshold_bytes": self.threshold_bytes}


class DiskGuard:
    """Watches the filesystem of ``path`` for ``who`` (``worker``, ``sink``), as ``policy`` says.

    ``holding(now)`` is what the intake asks before each fetch: it reads the filesystem only when
    ``check_every_s`` passed since the last reading (``now`` is ``time.monotonic()``), logs a
    warning when the guard starts holding and an info line when it lets go. A filesystem that
    cannot be read is logged and the last decision stands.
    """

    def __init__(self, path: Path, policy: DiskPolicy, who: str) -> None:
        self.path = Path(path)
        self.policy = policy
        self.who = who
        self.held = False
        self.reading: DiskReading | None = None
        self.pauses = 0
        """How many times the guard started holding."""
        self._checked_at: float | None = None

    def holding(self, now: float) -> bool:
        if self._checked_at is None or now - self._checked_at >= self.policy.check_every_s:
            self._checked_at = now
            self.check()
        return self.held

    def check(self) -> DiskReading | None:
        """Read the filesystem now and decide; returns the reading (None if it could not be read)."""
        if not self.policy.enabled:
            return None
        try:
            usage = shutil.disk_usage(self.path)
        except OSError as error:
            log.warning("%s: cannot read the free space of %s (%s); the disk guard keeps its last "
                        "decision (%s)", self.who, self.path, error.strerror or error,
                        "holding" if self.held else "not holding")
            return None
        reading = DiskReading(str(self.path), usage.free, usage.total, self.policy.threshold(usage.total))
        self.reading = reading
        held = self.policy.holds(self.held, usage.free, usage.total)
        if held and not self.held:
            self.pauses += 1
            log.warning("%s: disk low at %s: %d MiB free, below the %d MiB threshold; taking no new "
                        "work until %d MiB are free (nothing is lost: the lag grows)", self.who,
                        self.path, usage.free // MIB, reading.threshold_bytes // MIB,
                        (reading.threshold_bytes + self.policy.resume_margin_bytes) // MIB)
        elif self.held and not held:
            log.info("%s: disk space back at %s: %d MiB free; taking work again", self.who, self.path,
                     usage.free // MIB)
        self.held = held
        return reading
