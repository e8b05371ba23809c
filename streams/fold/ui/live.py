"""What this worker knows now, as the UI's JSON: live concurrency and pipeline health.

Read when a page asks (a few times a minute per open page), from the counters and metrics the
worker keeps anyway: nothing here runs on the fold's path.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from projections.live_index import merge
from streams.fold.agents import active_partitions
from streams.fold.render import concurrency_document
from streams.fold.web import gather_counters, health, refresh_gauges

if TYPE_CHECKING:
    from streams.fold.app import Ledger


async def live_document(ledger: Ledger, region: str, platform: str) -> dict[str, Any]:
    """Live sessions now, by region and platform (every worker's partitions added up)."""
    reports, missing = await gather_counters(ledger)
    document = concurrency_document(merge(reports), region=region or None, platform=platform or None,
                                    cross_play=None)
    partitions = sorted({int(p) for r in reports for p in r})
    document["complete"] = not missing and len(partitions) == ledger.partitions
    document["by_region"] = _totals(document["segments"], "region")
    document["by_platform"] = _totals(document["segments"], "platform")
    return document


def _totals(segments: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    totals: dict[str, dict[str, Any]] = {}
    for segment in segments:
        row = totals.setdefault(segment[key], {key: segment[key], "live": 0, "active": 0, "disconnected": 0})
        for count in ("live", "active", "disconnected"):
            row[count] += segment.get(count, 0)
    return [totals[name] for name in sorted(totals)]


def pipeline_health(ledger: Ledger) -> dict[str, Any]:
    """The worker's intake: status, lag per partition, dead letters by reason, stall, warnings."""
    refresh_gauges(ledger)
    samples = metric_samples(ledger.metrics.registry)
    stalled = ledger.stalled
    lag = {labels["partition"]: int(value) for labels, value in samples.get("ledger_consumer_lag", [])}
    return {
        "worker_id": ledger.options.worker_id,
        "status": health(ledger)["status"],
        "partitions": sorted(active_partitions(ledger)),
        "lag": dict(sorted(lag.items(), key=lambda item: int(item[0]))),
        "lag_total": sum(lag.values()),
        "dead_letters": {labels["reason"]: int(value)
                         for labels, value in samples.get("ledger_dead_lettered_total", [])},
        "stalled_s": round(stalled.quiet_s, 1) if stalled else 0.0,
        "stalled_waiting": dict(stalled.waiting) if stalled else {},
        "timeouts_appended": int(sum(v for _, v in samples.get("ledger_timeouts_appended_total", []))),
        "anomalies_appended": int(sum(v for _, v in samples.get("ledger_anomalies_detected_total", []))),
        "warnings": list(ledger.warnings),
    }


def metric_samples(registry) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Every sample of a Prometheus registry by sample name: [(labels, value)]."""
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for metric in registry.collect():
        for sample in metric.samples:
            found.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return found


def burn_alerts(ledger: Ledger, now: datetime | None = None) -> dict[str, Any]:
    """The SLOs this worker judges live and the burn alerts open now, each with its burn rate
    over the alert's long window (projections/slo_burn.py)."""
    from projections.slo_burn import burn, policies_for

    now_ms = int((now or datetime.now(timezone.utc)).timestamp() * 1000)
    slis = {sli.name: sli for sli in ledger.slis.slis}
    alerts = []
    for (name, policy_name), opened_ms in sorted(ledger.burns.open.items()):
        sli = slis.get(name)
        policy = next((p for p in policies_for(sli.window) if p.name == policy_name), None) if sli else None
        rate = None
        if policy is not None:
            good, total = ledger.slis.counts(name, now_ms, policy.long)
            rate = burn(sli, good, total)
        alerts.append({"slo": name, "window": policy_name, "burn_rate": None if rate is None else round(rate, 2),
                       "opened_at": datetime.fromtimestamp(opened_ms / 1000, timezone.utc)
                       .isoformat().replace("+00:00", "Z")})
    return {"defined": bool(slis), "slos": sorted(slis), "alerts": alerts}
