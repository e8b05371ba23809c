"""Service-level objectives as data, and the error-budget arithmetic over their SLIs.

An SLO file is YAML in OpenSLO v1 field names, one ``kind: SLO`` document per objective
(``---`` between them). The ledger reads its indicator from ``spec.indicator.spec.metricSource``
with ``type: ledger``::

    apiVersion: openslo/v1
    kind: SLO
    metadata: {name: heartbeat-latency-eu-west}
    spec:
      service: game-sessions
      indicator:
        metadata: {name: heartbeat-latency}
        spec:
          metricSource:
            type: ledger
            spec: {sli: heartbeat_latency, threshold: 150, region: eu-west}
      timeWindow: [{duration: 28d, isRolling: true}]
      budgetingMethod: Occurrences
      objectives: [{displayName: 99% under 150 ms, target: 0.99}]

Everything here is pure: ``load_slos`` validates at the door (``BadSloSpec`` names the field),
``budget`` and ``burn_rate`` compute from per-minute (good, total) counts that the SQL in
``analytics/queries/slo`` returns. Definitions and edge cases: docs/metrics.md, "SLOs".
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterable

import yaml

from analytics.errors import BadSloSpec
from projections.slo_burn import BURN_WINDOWS

DEFAULT_SLO_FILE = Path(__file__).with_name("slos.yaml")
"""The objectives shipped with the ledger."""

SLIS: dict[str, str | None] = {
    "session_success": None,
    "reconnect_success": "within_s",
    "heartbeat_latency": "threshold",
    "matchmaking_time": "threshold",
}
"""Each SLI the ledger measures, and the name of the number it needs (None: none)."""

SLI_UNITS = {"reconnect_success": "s", "heartbeat_latency": "ms", "matchmaking_time": "s"}


_DURATION = re.compile(r"^([1-9][0-9]*)([mhdw])$")
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1),
          "w": timedelta(weeks=1)}


@dataclass(frozen=True)
class Slo:
    """One objective: ``target`` share of ``sli`` events good over ``window``."""

    name: str
    service: str
    sli: str
    target: float
    window: timedelta
    rolling: bool = True
    threshold: float = 0.0
    region: str = ""
    platform: str = ""
    display_name: str = ""

    @property
    def budget_share(self) -> float:
        """The share of events allowed to be bad: ``1 - target``."""
        return 1.0 - self.target


@dataclass(frozen=True)
class Budget:
    """An SLO's error budget over its window, in events (see docs/metrics.md)."""

    total: int        # events in the window
    good: int
    bad: int
    allowed: float    # total * (1 - target): bad events the objective allows
    remaining: float  # allowed - bad (negative when overspent)

    @property
    def sli(self) -> float | None:
        return self.good / self.total if self.total else None

    @property
    def consumed_pct(self) -> float | None:
        """bad / allowed x 100; None when nothing is allowed yet (no events)."""
        return 100.0 * self.bad / self.allowed if self.allowed else None

    @property
    def remaining_pct(self) -> float | None:
        consumed = self.consumed_pct
        return None if consumed is None else 100.0 - consumed


def budget(slo: Slo, counts: Iterable[tuple[datetime, int, int]]) -> Budget:
    """The budget from (minute, good, total) counts already limited to the SLO's window."""
    good = total = 0
    for _, g, t in counts:
        good += g
        total += t
    allowed = total * slo.budget_share
    return Budget(total=total, good=good, bad=total - good, allowed=allowed,
                  remaining=allowed - (total - good))


def burn_rate(slo: Slo, counts: Iterable[tuple[datetime, int, int]], end: datetime,
              span: timedelta) -> float | None:
    """(bad / total over ``[end - span, end)``) / (1 - target); None with no events there.

    1.0 spends the budget exactly over the SLO window; 14.4 spends a 30-day budget's 2 % in an
    hour. A target of 1.0 allows nothing: any bad event burns infinitely (``inf``).
    """
    start = end - span
    good = total = 0
    for minute, g, t in counts:
        if start <= minute < end:
            good += g
            total += t
    if total == 0:
        return None
    error_rate = (total - good) / total
    if slo.budget_share <= 0:
        return float("inf") if error_rate else 0.0
    return error_rate / slo.budget_share


def window_start(slo: Slo, now: datetime) -> datetime:
    """Where the SLO's window begins at ``now``: ``now - window`` when rolling; else the start of
    the calendar week (Monday) or month, UTC, that holds ``now``."""
    if slo.rolling:
        return now - slo.window
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if slo.window == _UNITS["w"]:
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


# --- loading -------------------------------------------------------------------------------


def load_slos(path: Path | str | None = None) -> list[Slo]:
    """Every SLO in the YAML file at ``path`` (default: the shipped one), validated.

    Raises ``BadSloSpec`` naming the file, the document and the field at fault.
    """
    path = Path(path) if path is not None else DEFAULT_SLO_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadSloSpec(str(path), "(file)", f"cannot be read: {exc}") from exc
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise BadSloSpec(str(path), "(file)", f"is not valid YAML: {exc}") from exc
    if not documents:
        raise BadSloSpec(str(path), "(file)", "holds no SLO")
    slos = [parse_slo(doc, f"{path}#{i + 1}") for i, doc in enumerate(documents)]
    names = [s.name for s in slos]
    for name in names:
        if names.count(name) > 1:
            raise BadSloSpec(str(path), "metadata.name", f"{name!r} names more than one SLO")
    return slos


def parse_slo(doc: Any, where: str) -> Slo:
    """One OpenSLO v1 ``kind: SLO`` document as an ``Slo``; ``where`` locates it in messages."""
    get = _Getter(doc, where)
    if get("apiVersion", str) != "openslo/v1":
        get.fail("apiVersion", "must be openslo/v1")
    if get("kind", str) != "SLO":
        get.fail("kind", "must be SLO (this file holds SLOs only)")
    source = get("spec.indicator.spec.metricSource", dict)
    if source.get("type") != "ledger":
        get.fail("spec.indicator.spec.metricSource.type", "must be ledger")
    sli = get("spec.indicator.spec.metricSource.spec.sli", str)
    if sli not in SLIS:
        get.fail("spec.indicator.spec.metricSource.spec.sli", f"must be one of {', '.join(SLIS)}")
    number = SLIS[sli]
    threshold = 0.0
    if number is not None:
        threshold = get(f"spec.indicator.spec.metricSource.spec.{number}", (int, float))
        if isinstance(threshold, bool) or threshold <= 0:
            get.fail(f"spec.indicator.spec.metricSource.spec.{number}", "must be a number above 0")
    if get("spec.budgetingMethod", str) != "Occurrences":
        get.fail("spec.budgetingMethod", "must be Occurrences (the ledger counts events)")
    windows = get("spec.timeWindow", list)
    if len(windows) != 1 or not isinstance(windows[0], dict):
        get.fail("spec.timeWindow", "must hold exactly one window")
    duration = get("spec.timeWindow[0].duration", str, windows[0])
    rolling = get("spec.timeWindow[0].isRolling", bool, windows[0])
    window = _duration(duration)
    if window is None:
        get.fail("spec.timeWindow[0].duration", "must be a number and a unit m, h, d or w, e.g. 28d")
    if not rolling and duration not in ("1w", "1M"):
        get.fail("spec.timeWindow[0].duration", "a calendar window must be 1w or 1M")
    objectives = get("spec.objectives", list)
    if len(objectives) != 1 or not isinstance(objectives[0], dict):
        get.fail("spec.objectives", "must hold exactly one objective")
    target = get("spec.objectives[0].target", (int, float), objectives[0])
    if isinstance(target, bool) or not 0 < target <= 1:
        get.fail("spec.objectives[0].target", "must be a share above 0 and at most 1, e.g. 0.995")
    cut = source.get("spec") or {}
    for key in ("region", "platform"):
        if key in cut and (not isinstance(cut[key], str) or not cut[key]):
            get.fail(f"spec.indicator.spec.metricSource.spec.{key}", "must be a non-empty string")
    return Slo(
        name=get("metadata.name", str), service=get("spec.service", str), sli=sli,
        target=float(target), window=window if rolling else _calendar(duration),
        rolling=rolling, threshold=float(threshold), region=cut.get("region", ""),
        platform=cut.get("platform", ""),
        display_name=str(objectives[0].get("displayName") or ""),
    )


def _duration(text: str) -> timedelta | None:
    if text == "1M":
        return timedelta(days=30)
    match = _DURATION.match(text)
    return int(match.group(1)) * _UNITS[match.group(2)] if match else None


def _calendar(duration: str) -> timedelta:
    return _UNITS["w"] if duration == "1w" else timedelta(days=30)


class _Getter:
    """Reads dotted paths from a document, failing with the path of the first bad field."""

    def __init__(self, doc: Any, where: str) -> None:
        if not isinstance(doc, dict):
            raise BadSloSpec(where, "(document)", "must be a mapping")
        self.doc, self.where = doc, where

    def __call__(self, path: str, kind: type | tuple[type, ...], root: Any = None) -> Any:
        node: Any = self.doc if root is None else root
        parts = path.split(".")
        if root is not None:
            parts = parts[2:]  # a path under an item already picked from a list
        for part in parts:
            if not isinstance(node, dict) or part not in node:
                self.fail(path, "is required")
            node = node[part]
        if not isinstance(node, kind):
            names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            self.fail(path, f"must be a {names}, got {node!r}")
        if isinstance(node, str) and not node:
            self.fail(path, "must not be empty")
        return node

    def fail(self, path: str, problem: str) -> None:
        raise BadSloSpec(self.where, path, problem)


# --- reading the warehouse -------------------------------------------------------------------


def sli_counts(warehouse: Any, slo: Slo, from_: datetime, to: datetime, *,
               include_planned: bool = False) -> list[tuple[datetime, int, int]]:
    """(minute, good, total) of ``slo``'s SLI over ``[from_, to)``, from its SQL file."""
    from analytics.sql import query_text

    rows = warehouse.query(
        query_text("slo", slo.sli),
        {"from_": from_, "to": to, "region": slo.region, "platform": slo.platform,
         "threshold": slo.threshold, "include_planned": int(include_planned)},
        name=f"slo {slo.name}",
    )
    return [(row["minute"], int(row["good"]), int(row["total"])) for row in rows]


def slo_status(warehouse: Any, slo: Slo, now: datetime, *,
               include_planned: bool = False) -> dict[str, Any]:
    """One SLO at ``now``: its SLI over its window, the objective, the error budget and the burn
    rates over ``BURN_WINDOWS`` (all ending at ``now``), as a plain dict."""
    start = window_start(slo, now)
    longest = max(span for _, span in BURN_WINDOWS)
    counts = sli_counts(warehouse, slo, min(start, now - longest), now,
                        include_planned=include_planned)
    spent = budget(slo, (c for c in counts if c[0] >= start))
    return {
        "slo": slo.name, "sli": slo.sli, "region": slo.region or None,
        "platform": slo.platform or None, "objective": slo.target,
        "window_start": start, "window_end": now, "sli_value": spent.sli,
        "events": spent.total, "good": spent.good, "bad": spent.bad,
        "budget_total": spent.allowed, "budget_consumed": spent.bad,
        "budget_remaining": spent.remaining, "budget_consumed_pct": spent.consumed_pct,
        "budget_remaining_pct": spent.remaining_pct,
        **{f"burn_{name}": burn_rate(slo, counts, now, span) for name, span in BURN_WINDOWS},
        "planned_included": include_planned,
    }


def slo_by_day(warehouse: Any, slo: Slo, from_: datetime, to: datetime, *,
               include_planned: bool = False) -> list[dict[str, Any]]:
    """Per UTC day of ``[from_, to)``: the SLI, and the day's bad events against the day's share
    of budget (``total x (1 - target)``), as plain dicts."""
    days: dict[datetime, list[int]] = {}
    for minute, good, total in sli_counts(warehouse, slo, from_, to,
                                          include_planned=include_planned):
        day = minute.replace(hour=0, minute=0, second=0, microsecond=0)
        acc = days.setdefault(day, [0, 0])
        acc[0] += good
        acc[1] += total
    rows = []
    for day, (good, total) in sorted(days.items()):
        day_budget = budget(slo, [(day, good, total)])
        rows.append({"slo": slo.name, "day": day, "events": total, "good": good,
                     "bad": total - good, "sli_value": day_budget.sli, "objective": slo.target,
                     "budget_total": day_budget.allowed,
                     "budget_consumed_pct": day_budget.consumed_pct,
                     "burn_rate": burn_rate(slo, [(day, good, total)], day + timedelta(days=1),
                                            timedelta(days=1))})
    return rows
