"""Deploy verdicts: does the deploy's build behave like the builds around it?

    result = judge_deploy(warehouse, "DEP-42")          # DeployVerdict
    result.verdict                                       # Pass, Marginal, Fail or NoData

Canary: sessions on the deploy's build that started in its regions from the deploy's start
(its ``deploy_started``, else its ``deploy_finished``) to ``to`` (default: the end of the
history). Baseline: the sessions on every other build in the same regions and time range.
Each metric is judged with ``analytics.judge``; the definitions are in docs/metrics.md,
"Deploy verdict". ``judge_sessions`` is the pure part, ``judge_deploy`` reads the warehouse.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Sequence

from analytics.errors import DeployWithoutBuild, UnknownDeploy
from analytics.judge import (
    DEFAULT_POLICY, Policy, classify_distribution, classify_rate, score, verdict,
)
from analytics.sql import query_text
from analytics.warehouse import Warehouse


@dataclass(frozen=True)
class Metric:
    name: str
    kind: str           # "rate" or "distribution"
    higher_is_bad: bool
    unit: str


METRICS: tuple[Metric, ...] = (
    Metric("abnormal_end_rate", "rate", True, "share of ended sessions"),
    Metric("disconnect_rate", "rate", True, "share of sessions"),
    Metric("reconnect_success", "rate", False, "share of disconnected sessions"),
    Metric("heartbeat_latency_p95", "distribution", True, "ms"),
    Metric("matchmaking_time_p95", "distribution", True, "ms"),
)
CRITICAL = frozenset({"abnormal_end_rate"})
"""Metrics that set the score to zero when they do not Pass."""


@dataclass(frozen=True)
class MetricResult:
    name: str
    result: str
    unit: str
    critical: bool
    numbers: dict[str, Any]


@dataclass(frozen=True)
class DeployVerdict:
    deploy_id: str
    build: str
    regions: tuple[str, ...]
    from_: datetime
    to: datetime
    canary_sessions: int
    baseline_sessions: int
    metrics: tuple[MetricResult, ...]
    score: float | None
    verdict: str
    policy: Policy = field(default=DEFAULT_POLICY)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["from"] = data.pop("from_").isoformat()
        data["to"] = self.to.isoformat()
        return data


def judge_sessions(rows: Sequence[dict[str, Any]], build: str,
                   policy: Policy = DEFAULT_POLICY) -> tuple[tuple[MetricResult, ...], float | None, str, int, int]:
    """(metric results, score, verdict, canary sessions, baseline sessions) for session rows as
    ``deploy_sessions.sql`` returns them. Fewer than ``policy.min_sessions`` sessions on either
    side: every metric NoData, verdict NoData."""
    canary = [r for r in rows if r["build"] == build]
    baseline = [r for r in rows if r["build"] != build]
    enough = len(canary) >= policy.min_sessions and len(baseline) >= policy.min_sessions
    results = []
    for metric in METRICS:
        if enough:
            outcome, numbers = _judge(metric, canary, baseline, policy)
        else:
            outcome, numbers = "NoData", {"canary_n": len(canary), "baseline_n": len(baseline)}
        results.append(MetricResult(metric.name, outcome, metric.unit, metric.name in CRITICAL,
                                    numbers))
    value = score({m.name: m.result for m in results}, CRITICAL) if enough else None
    return tuple(results), value, verdict(value, policy), len(canary), len(baseline)


def _judge(metric: Metric, canary: list[dict], baseline: list[dict],
           policy: Policy) -> tuple[str, dict]:
    if metric.name == "abnormal_end_rate":
        return _rate(canary, baseline, "ended", "abnormal", metric, policy)
    if metric.name == "disconnect_rate":
        return _rate(canary, baseline, None, "disconnected", metric, policy)
    if metric.name == "reconnect_success":
        return _rate(canary, baseline, "disconnected", "reconnected", metric, policy)
    column = {"heartbeat_latency_p95": "latency_p95_ms", "matchmaking_time_p95": "queue_ms"}[metric.name]
    return classify_distribution(_values(canary, column), _values(baseline, column),
                                 metric.higher_is_bad, policy)


def _rate(canary: list[dict], baseline: list[dict], among: str | None, hit: str, metric: Metric,
          policy: Policy) -> tuple[str, dict]:
    def count(rows: list[dict]) -> tuple[int, int]:
        pool = [r for r in rows if among is None or r[among]]
        return sum(1 for r in pool if r[hit]), len(pool)

    x1, n1 = count(canary)
    x2, n2 = count(baseline)
    return classify_rate(x1, n1, x2, n2, metric.higher_is_bad, policy)


def _values(rows: list[dict], column: str) -> list[float]:
    return [float(r[column]) for r in rows if r[column] is not None]


def judge_deploy(warehouse: Warehouse, deploy_id: str, *, to: datetime | None = None,
                 policy: Policy = DEFAULT_POLICY) -> DeployVerdict:
    """The verdict on ``deploy_id`` over [its start, ``to``) (default: the end of the history).

    ``UnknownDeploy`` when no ops event names it, ``DeployWithoutBuild`` when none says its
    build. A deploy that is still rolling out is judged on what has happened so far."""
    found = warehouse.query(query_text("gates", "deploy"), {"deploy_id": deploy_id}, name="deploy")
    if not found:
        raise UnknownDeploy(deploy_id)
    deploy = found[0]
    if not deploy["build"]:
        raise DeployWithoutBuild(deploy_id)
    start = deploy["started_at"] or deploy["finished_at"]
    end = to or history_end(warehouse)
    if end is None or end <= start:
        end = start
    rows = warehouse.query(query_text("gates", "deploy_sessions"),
                           {"deploy_id": deploy_id, "from_": start, "to": end},
                           name="deploy sessions") if end > start else []
    metrics, value, outcome, n_canary, n_baseline = judge_sessions(rows, deploy["build"], policy)
    return DeployVerdict(deploy_id, deploy["build"], tuple(deploy["regions"]), start, end,
                         n_canary, n_baseline, metrics, value, outcome, policy)


def history_end(warehouse: Warehouse) -> datetime | None:
    """Just after the last session event in the history (None: empty)."""
    row = warehouse.query("SELECT max(occurred_at) AS last, count() AS n FROM session_events",
                          name="history end")[0]
    if not row["n"]:
        return None
    return row["last"].astimezone(timezone.utc) + timedelta(milliseconds=1)
