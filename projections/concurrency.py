"""Concurrent sessions by region, platform and cross-play, kept as counters.

A session is *live* from started until it ends or times out; a live session is either
``active`` or ``disconnected`` (live but waiting for the player to come back). Sessions
that are only requested are not counted.

``concurrency_delta(before, after)`` says which counters one session change moves, so a
worker can keep the counters in a table: a duplicate delivery leaves the session state as it
was and therefore yields no delta. ``Concurrency`` is the value those deltas fold into, with
the queries live ops ask.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NamedTuple

from projections.errors import BadStateRecord, UnknownGrouping
from projections.session_state import LIVE, SessionState, SessionStatus


class ConcurrencyKey(NamedTuple):
    """One counter: live sessions in ``status`` (active or disconnected) for one segment."""

    region: str
    platform: str
    cross_play: bool
    status: str

    def encode(self) -> str:
        """A table key such as ``eu-west|pc|1|active``."""
        return f"{self.region}|{self.platform}|{int(self.cross_play)}|{self.status}"

    @classmethod
    def decode(cls, text: str) -> ConcurrencyKey:
        parts = text.rsplit("|", 3)
        if len(parts) != 4 or parts[2] not in ("0", "1") or parts[3] not in _LIVE_NAMES:
            raise BadStateRecord(
                "ConcurrencyKey", "key", "must look like region|platform|0 or 1|active", text,
            )
        return cls(parts[0], parts[1], parts[2] == "1", parts[3])


_LIVE_NAMES = frozenset(s.value for s in LIVE)

_GROUPINGS = ("region", "platform", "cross_play")

Delta = tuple[ConcurrencyKey, int]


def concurrency_key(state: SessionState | None) -> ConcurrencyKey | None:
    """The counter a session state belongs to, or None if it is not live."""
    if state is None or state.status not in LIVE:
        return None
    return ConcurrencyKey(state.region, state.platform, state.cross_play, state.status.value)


def concurrency_delta(before: SessionState | None, after: SessionState) -> list[Delta]:
    """The counter moves for one session going from ``before`` to ``after``: -1 then +1."""
    old, new = concurrency_key(before), concurrency_key(after)
    if old == new:
        return []
    deltas: list[Delta] = []
    if old is not None:
        deltas.append((old, -1))
    if new is not None:
        deltas.append((new, +1))
    return deltas


@dataclass(frozen=True, slots=True)
class Concurrency:
    """Live session counters; zero counters are dropped so equal counts compare equal."""

    counts: Mapping[ConcurrencyKey, int] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def from_counts(cls, counts: Mapping[ConcurrencyKey | str, int]) -> Concurrency:
        """From counters as a table stores them (keys as ``ConcurrencyKey`` or encoded)."""
        parsed: dict[ConcurrencyKey, int] = {}
        for key, count in counts.items():
            if isinstance(key, str):
                key = ConcurrencyKey.decode(key)
            if count:
                parsed[key] = parsed.get(key, 0) + count
        return cls(MappingProxyType(parsed))

    @classmethod
    def from_sessions(cls, sessions: Iterable[SessionState]) -> Concurrency:
        """The counters computed directly from session states (what the deltas must agree with)."""
        counts: dict[ConcurrencyKey, int] = {}
        for state in sessions:
            key = concurrency_key(state)
            if key is not None:
                counts[key] = counts.get(key, 0) + 1
        return cls(MappingProxyType(counts))

    def apply(self, deltas: Iterable[Delta]) -> Concurrency:
        counts = dict(self.counts)
        for key, change in deltas:
            total = counts.get(key, 0) + change
            if total:
                counts[key] = total
            else:
                counts.pop(key, None)
        return Concurrency(MappingProxyType(counts))

    def to_dict(self) -> dict[str, int]:
        return {key.encode(): count for key, count in sorted(self.counts.items())}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Concurrency):
            return NotImplemented
        return dict(self.counts) == dict(other.counts)

    __hash__ = None  # type: ignore[assignment]

    # --- queries -----------------------------------------------------------------------

    def count(
        self,
        *,
        region: str | None = None,
        platform: str | None = None,
        cross_play: bool | None = None,
        status: SessionStatus | str | None = None,
    ) -> int:
        """Sessions matching every filter given (all live sessions when none is)."""
        return sum(
            n for key, n in self.counts.items()
            if (region is None or key.region == region)
            and (platform is None or key.platform == platform)
            and (cross_play is None or key.cross_play == cross_play)
            and (status is None or key.status == status)
        )

    def live(self, **filters: str | bool | None) -> int:
        return self.count(**filters)

    def active(self, **filters: str | bool | None) -> int:
        return self.count(status=SessionStatus.active, **filters)

    def disconnected(self, **filters: str | bool | None) -> int:
        return self.count(status=SessionStatus.disconnected, **filters)

    def breakdown(self, *by: str) -> dict[tuple, dict[str, int]]:
        """Counts grouped by the named key fields, e.g. ``breakdown("region", "platform")``.

        Each group maps to ``{"active": n, "disconnected": m, "live": n + m}``.
        """
        unknown = sorted(set(by) - set(_GROUPINGS))
        if unknown:
            raise UnknownGrouping(unknown, list(_GROUPINGS))
        groups: dict[tuple, dict[str, int]] = {}
        for key, n in self.counts.items():
            group = tuple(getattr(key, name) for name in by)
            row = groups.setdefault(group, {"active": 0, "disconnected": 0, "live": 0})
            row[key.status] += n
            row["live"] += n
        return dict(sorted(groups.items()))
