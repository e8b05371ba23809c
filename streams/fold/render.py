"""The JSON documents the HTTP API serves, computed from projection states (pure).

The rebuild and the tests render their states with the same functions, so "the rebuilt state
equals the live one" is a comparison of documents.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from projections.concurrency import Concurrency
from projections.player_state import PlayerState
from projections.session_state import SessionState


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def session_document(state: SessionState) -> dict[str, Any]:
    gap = state.gap
    return {
        "session_id": state.session_id,
        "player_id": state.player_id,
        "status": state.status.value,
        "live": state.is_live,
        "last_seq": state.last_seq,
        "platform": state.platform,
        "region": state.region,
        "cross_play": state.cross_play,
        "build": state.build,
        "input_method": state.input_method,
        "accessibility": state.accessibility.model_dump(mode="json"),
        "party_id": state.party_id,
        "game_mode": state.game_mode,
        "server_id": state.server_id,
        "queue_ms": state.queue_ms,
        "requested_at": _iso(state.requested_at),
        "started_at": _iso(state.started_at),
        "ended_at": _iso(state.ended_at),
        "end_reason": state.end_reason,
        "play_seconds": state.play_seconds,
        "last_event_at": _iso(state.last_event_at),
        "last_heartbeat_at": _iso(state.last_heartbeat_at),
        "latency_ms": state.latency_ms,
        "packet_loss_pct": state.packet_loss_pct,
        "heartbeat_count": state.heartbeat_count,
        "disconnect_count": state.disconnect_count,
        "last_disconnect_reason": state.last_disconnect_reason,
        "reconnect_count": state.reconnect_count,
        "downtime_ms": state.downtime_ms,
        "migration_count": state.migration_count,
        "anomaly_count": state.anomaly_count,
        "anomalies": [a.to_dict() for a in state.anomalies],
        "gap": None if gap is None else {
            "first_missing": gap.first_missing, "last_missing": gap.last_missing, "held": gap.held,
        },
        "timeout_verdict": _verdict(state),
        "late_end": None if not state.late_end else {
            "ended_at": _iso(state.reported_ended_at), "reason": state.reported_end_reason,
        },
    }


def _verdict(state: SessionState) -> dict[str, Any] | None:
    """The timeout verdict the end rule weighed, and whether it stands (docs/projections.md)."""
    verdict = state.verdict
    if verdict is None:
        return None
    return {
        "event_id": verdict.event_id, "at": _iso(verdict.at),
        "last_heartbeat_at": _iso(verdict.last_heartbeat_at), "timeout_s": verdict.timeout_s,
        "stands": not state.superseded_verdict,
    }


def player_document(player: PlayerState) -> dict[str, Any]:
    return {
        "player_id": player.player_id,
        "current_session_id": player.current_session_id,
        "open_sessions": [
            {"session_id": s.session_id, "opened_at": _iso(s.opened_at)} for s in player.open_sessions
        ],
        "last_seen": _iso(player.last_seen),
        "session_count": player.session_count,
        "finished_session_count": player.finished_session_count,
        "total_play_seconds": player.total_play_seconds,
        "platforms": list(player.platforms),
    }


def concurrency_document(
    concurrency: Concurrency, *, region: str | None, platform: str | None, cross_play: bool | None,
) -> dict[str, Any]:
    filters = {"region": region, "platform": platform, "cross_play": cross_play}
    segments = [
        {"region": r, "platform": p, "cross_play": x, **counts}
        for (r, p, x), counts in concurrency.breakdown("region", "platform", "cross_play").items()
        if (region is None or r == region) and (platform is None or p == platform)
        and (cross_play is None or x == cross_play)
    ]
    return {
        "filters": filters,
        "live": concurrency.live(**filters),
        "active": concurrency.active(**filters),
        "disconnected": concurrency.disconnected(**filters),
        "segments": segments,
    }
