"""A pure, deterministic generator of synthetic ledger traffic.

    plan = generate(players=500, duration_s=3600, seed=7, start=instant,
                    incidents=[parse_incident("region=eu-west,at=20m,for=8m")])

Given the same arguments it returns the same events, ids included: every random draw comes
from one ``random.Random(seed)`` and nothing reads a clock. ``plan.events`` is ordered by
``occurred_at``; one session's events carry seq 1, 2, 3... with ``occurred_at`` strictly
increasing. Events that would fall after the end of the run are not produced, so sessions
still playing at the end stay live.

What the traffic looks like is in ``TrafficModel`` (traffic.py). A scripted incident adds a
deploy shortly before it, the incident's opened / acknowledged / mitigated / resolved events,
and a server crash: every session of the region live at ``at`` is disconnected with reason
``server_crash`` within the next 90 seconds; most reconnect once the region recovers, some end
with ``server_crash``, some go silent. New sessions of that region wait until the mitigation.
Players hit by the crash are less likely to play again. ``timed_out`` events are never
produced: the ledger derives them from silence.

A scripted bad build (``BadBuildScript``) adds a deploy of that build to its region (started at
``at``, finished a minute later); from ``at`` on, a share of the region's new sessions run the
build, and those end with an error more often, disconnect more and lag. With ``fleet=True``
each region's fleet is recorded at the start of the run (``fleet_scaled``), sized for the
region's peak concurrency in this run times its ``FLEET_HEADROOM``; those events draw nothing
from the seed's stream, so the rest of the traffic is the same with or without them.
"""
from __future__ import annotations

import math
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable

from ledger.loadgen.errors import BadLoadOption
from ledger.loadgen.faults import BadBuildScript, IncidentScript
from ledger.loadgen.traffic import (
    FLEET_HEADROOM,
    INPUT_METHODS,
    PLATFORM_LATENCY_MS,
    REGION_LATENCY_MS,
    SERVER_HOURLY_COST,
    TrafficModel,
    clamp,
    lognormal,
    pick,
)
from projections.timestamps import require_utc
from schemas.models import SESSION_PAYLOADS, OpsEvent, SessionEvent, SessionEventType

CRASH_SPREAD_S = 90.0
"""The crash reaches the region's sessions within this many seconds of the incident's start."""
CRASH_FATES = (("reconnect", 0.65), ("ended", 0.2), ("silent", 0.15))
"""What happens to a session after the crash disconnected it."""


@dataclass(frozen=True)
class PlannedIncident:
    """The ids and instants of one scripted incident, as the generator placed them."""

    incident_id: str
    deploy_id: str
    region: str
    deploy_outcome: str
    opened_at: datetime
    acknowledged_at: datetime | None
    """None (here and below) when the step would come after the end of the run: not produced."""
    mitigated_at: datetime | None
    resolved_at: datetime | None


@dataclass(frozen=True)
class PlannedDeploy:
    """A scripted bad build's deploy, as the generator placed it."""

    deploy_id: str
    region: str
    build: str
    started_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class LoadPlan:
    """The generated traffic: events in time order, and what they add up to."""

    start: datetime
    duration_s: float
    seed: int
    events: tuple[SessionEvent | OpsEvent, ...]
    players: int
    sessions: int
    incidents: tuple[PlannedIncident, ...] = ()
    silent_sessions: int = 0
    """Sessions that stop sending events without an end (the ledger times them out)."""
    deploys: tuple[PlannedDeploy, ...] = ()

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.duration_s)

    def counts(self) -> Counter[str]:
        """Events by event type."""
        return Counter(event.event_type.value for event in self.events)


@dataclass
class _Player:
    player_id: str
    region: str
    platform: str
    envelope: dict[str, Any]
    latency_ms: float


@dataclass
class _Plan:
    """Events as they are made: (offset ms, creation order, event)."""

    events: list[tuple[int, int, SessionEvent | OpsEvent]] = field(default_factory=list)
    sessions: int = 0
    silent: int = 0

    def add(self, at_ms: int, event: SessionEvent | OpsEvent) -> None:
        self.events.append((at_ms, len(self.events), event))


def generate(
    *,
    players: int,
    duration_s: float,
    seed: int,
    start: datetime,
    incidents: Iterable[IncidentScript] = (),
    model: TrafficModel = TrafficModel(),
    bad_builds: Iterable[BadBuildScript] = (),
    fleet: bool = False,
) -> LoadPlan:
    """The traffic of ``players`` players over ``duration_s`` simulated seconds from ``start``."""
    start = require_utc(start, "start").replace(microsecond=start.microsecond // 1000 * 1000)
    if players < 1:
        raise BadLoadOption("--players", players, "at least 1")
    if duration_s < 60:
        raise BadLoadOption("--duration", f"{duration_s:g}s", "at least 60 seconds")
    regions = tuple(name for name, _ in model.regions)
    scripts = [script.check(duration_s, regions) for script in incidents]
    builds = [script.check(duration_s, regions) for script in bad_builds]
    rng = random.Random(seed)
    session = _SessionMaker(rng, model, start, int(duration_s * 1000), scripts, builds)
    planned = tuple(_plan_incident(rng, script, session.plan, start, session.horizon_ms) for script in scripts)
    deploys = tuple(_plan_bad_build(rng, script, session.plan, start, session.horizon_ms) for script in builds)
    for _ in range(players):
        session.play(_make_player(rng, model))
    if fleet:
        _plan_fleet(session.plan, model, start, seed)
    ordered = sorted(session.plan.events, key=lambda item: (item[0], item[1]))
    return LoadPlan(
        start=start, duration_s=duration_s, seed=seed,
        events=tuple(event for _, _, event in ordered), players=players,
        sessions=session.plan.sessions, incidents=planned, silent_sessions=session.plan.silent,
        deploys=deploys,
    )


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _make_player(rng: random.Random, model: TrafficModel) -> _Player:
    region = pick(rng, model.regions)
    platform = pick(rng, model.platforms)
    player_id = f"player-{rng.getrandbits(48):012x}"
    envelope = {
        "player_id": player_id,
        "platform": platform,
        "region": region,
        "build": pick(rng, model.builds),
        "cross_play": rng.random() < model.cross_play_share,
        "input_method": pick(rng, INPUT_METHODS[platform]),
        "accessibility": {
            "subtitles": rng.random() < model.subtitles_share,
            "colorblind_mode": pick(rng, model.colorblind_modes),
            "screen_reader": rng.random() < model.screen_reader_share,
            "reduced_motion": rng.random() < model.reduced_motion_share,
        },
    }
    latency = REGION_LATENCY_MS[region] + PLATFORM_LATENCY_MS[platform] if region in REGION_LATENCY_MS \
        else 50.0 + PLATFORM_LATENCY_MS.get(platform, 0.0)
    return _Player(player_id, region, platform, envelope, lognormal(rng, latency, 0.2))


def _plan_incident(rng: random.Random, script: IncidentScript, plan: _Plan, start: datetime,
                   horizon_ms: int) -> PlannedIncident:
    at_ms, for_ms = int(script.at_s * 1000), int(script.for_s * 1000)
    incident_id = f"INC-{rng.getrandbits(24):06x}"
    deploy_id = f"DEP-{rng.getrandbits(24):06x}"
    outcome = "failure" if rng.random() < 0.5 else "success"
    deploy_started = max(0, at_ms - int(rng.uniform(8, 12) * 60_000))
    deploy_finished = max(deploy_started + 1, at_ms - int(rng.uniform(2, 4) * 60_000))
    acknowledged = at_ms + int(min(rng.uniform(2, 6) * 60_000, for_ms * 0.8))
    mitigated = at_ms + for_ms
    resolved = mitigated + int(min(rng.uniform(0.4, 1.0) * for_ms, 8 * 60_000))
    deploy = {"deploy_id": deploy_id, "service": "gameserver", "version": "2026.11.3",
              "regions": (script.region,)}
    incident = {"incident_id": incident_id, "severity": script.severity,
                "title": f"Game servers crashing in {script.region}",
                "regions": (script.region,), "services": ("gameserver",)}
    for at, kind, payload, producer in (
        (deploy_started, "deploy_started", deploy, "deployer"),
        (deploy_finished, "deploy_finished", {**deploy, "outcome": outcome}, "deployer"),
        (at_ms, "incident_opened", incident, "incident-manager"),
        (acknowledged, "incident_acknowledged", incident, "incident-manager"),
        (mitigated, "incident_mitigated", incident, "incident-manager"),
        (resolved, "incident_resolved", incident, "incident-manager"),
    ):
        if at >= horizon_ms:
            continue
        plan.add(at, OpsEvent.model_validate({
            "event_id": _uuid(rng), "occurred_at": start + timedelta(milliseconds=at),
            "producer": producer, "event_type": kind, "payload": payload,
        }))

    def instant(ms: int) -> datetime | None:
        return start + timedelta(milliseconds=ms) if ms < horizon_ms else None

    return PlannedIncident(incident_id, deploy_id, script.region, outcome, instant(at_ms),
                           instant(acknowledged), instant(mitigated), instant(resolved))


def _plan_bad_build(rng: random.Random, script: BadBuildScript, plan: _Plan, start: datetime,
                    horizon_ms: int) -> PlannedDeploy:
    at_ms = int(script.at_s * 1000)
    finished_ms = at_ms + 60_000
    deploy_id = f"DEP-{rng.getrandbits(24):06x}"
    deploy = {"deploy_id": deploy_id, "service": "gameserver", "version": script.build,
              "build": script.build, "regions": (script.region,)}
    for at, kind, payload in ((at_ms, "deploy_started", deploy),
                              (finished_ms, "deploy_finished", {**deploy, "outcome": "success"})):
        if at < horizon_ms:
            plan.add(at, OpsEvent.model_validate({
                "event_id": _uuid(rng), "occurred_at": start + timedelta(milliseconds=at),
                "producer": "deployer", "event_type": kind, "payload": payload,
            }))
    finished = start + timedelta(milliseconds=finished_ms) if finished_ms < horizon_ms else None
    return PlannedDeploy(deploy_id, script.region, script.build, start + timedelta(milliseconds=at_ms),
                         finished)


def _plan_fleet(plan: _Plan, model: TrafficModel, start: datetime, seed: int) -> None:
    """One ``fleet_scaled`` per region at the start, sized on the run's peak concurrency."""
    spans: dict[str, dict[str, list[int]]] = {}
    for at_ms, _, event in plan.events:
        if isinstance(event, SessionEvent):
            span = spans.setdefault(event.region, {}).setdefault(event.session_id, [])
            if event.event_type is SessionEventType.started or span:
                span.append(at_ms)
    for region, _ in model.regions:
        changes = sorted(
            change for span in spans.get(region, {}).values()
            if span for change in ((span[0], 1), (span[-1], -1)))
        peak = live = 0
        for _, step in changes:
            live += step
            peak = max(peak, live)
        servers = max(1, math.ceil(peak * FLEET_HEADROOM.get(region, 1.5) / model.slots_per_server))
        plan.add(0, OpsEvent.model_validate({
            "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"ledger-loadgen/{seed}/fleet/{region}")),
            "occurred_at": start, "producer": "fleet-scaler", "event_type": "fleet_scaled",
            "payload": {"region": region, "servers": servers,
                        "player_slots": servers * model.slots_per_server,
                        "hourly_cost": round(servers * SERVER_HOURLY_COST.get(region, 1.4), 2),
                        "currency": "USD"},
        }))


class _SessionMaker:
    """Plays each player's sessions one after another, adding their events to one plan."""

    def __init__(self, rng: random.Random, model: TrafficModel, start: datetime, horizon_ms: int,
                 scripts: list[IncidentScript], bad_builds: list[BadBuildScript] = ()) -> None:
        self.rng = rng
        self.model = model
        self.start = start
        self.horizon_ms = horizon_ms
        self.scripts = scripts
        self.bad_builds = list(bad_builds)
        self.plan = _Plan()

    def _bad_build(self, region: str, at_ms: int) -> BadBuildScript | None:
        """The bad build this new session runs, if any (draws only where a script applies)."""
        for script in self.bad_builds:
            if script.region == region and at_ms >= script.at_s * 1000:
                return script if self.rng.random() < script.share else None
        return None

    def play(self, player: _Player) -> None:
        rng, model = self.rng, self.model
        at_ms = int(rng.random() * model.first_session_within * self.horizon_ms)
        while at_ms < self.horizon_ms:
            at_ms = self._after_outages(player.region, at_ms)
            if at_ms >= self.horizon_ms:
                return
            end_ms, disrupted = self._session(player, at_ms)
            if end_ms is None:
                return
            keep_playing = model.replay_share * (0.35 if disrupted else 1.0)
            if rng.random() >= keep_playing:
                return
            at_ms = end_ms + int(lognormal(rng, model.pause_median_s, 0.7) * 1000)

    def _after_outages(self, region: str, at_ms: int) -> int:
        """New sessions of a crashed region wait until it is mitigated."""
        for script in self.scripts:
            begin, end = int(script.at_s * 1000), int((script.at_s + script.for_s) * 1000)
            if script.region == region and begin <= at_ms < end:
                return end + int(self.rng.uniform(5, 120) * 1000)
        return at_ms

    def _session(self, player: _Player, requested_ms: int) -> tuple[int | None, bool]:
        """Add one session's events; returns (when it finished or None if still open, disrupted)."""
        rng, model = self.rng, self.model
        self.plan.sessions += 1
        bad = self._bad_build(player.region, requested_ms)
        events = _SessionEvents(self, player, _uuid(rng), build=bad.build if bad else None)
        game_mode = pick(rng, model.game_modes)
        events.add(requested_ms, "requested", "matchmaker",
                   {"game_mode": game_mode, "matchmaking_ticket": f"mm-{rng.getrandbits(40):010x}"})
        queue_ms = int(clamp(lognormal(rng, model.queue_median_ms, 0.6), 800, 180_000))
        server = self._server(player.region)
        if not events.add(requested_ms + queue_ms, "started", "gameserver",
                          {"server_id": server, "game_mode": game_mode, "queue_ms": queue_ms}):
            return None, False
        started_ms = events.last_ms
        length_ms = int(clamp(lognormal(rng, model.session_median_s, model.session_sigma),
                              model.session_min_s, model.session_max_s) * 1000)
        end_ms = started_ms + length_ms
        interval_ms = rng.uniform(*model.heartbeat_every_s) * 1000
        specials = self._specials(player, started_ms, end_ms, bad)
        next_beat = started_ms + interval_ms * rng.uniform(0.5, 1.0)
        disrupted = False
        while True:
            special = specials[0] if specials else None
            if special is not None and special[0] <= min(next_beat, end_ms):
                specials.pop(0)
                kind = special[1]
                if kind == "migrate":
                    new_server = self._server(player.region)
                    if not events.add(special[0], "migrated", "gameserver", {
                            "from_server_id": server, "to_server_id": new_server,
                            "reason": rng.choice(("rebalance", "maintenance", "scale_in"))}):
                        return None, disrupted
                    server = new_server
                    continue
                disrupted = disrupted or kind == "crash"
                outcome = self._disconnect(events, player, special[0], kind)
                if outcome is None or outcome == "over":
                    return (events.last_ms if outcome == "over" else None), disrupted
                server = outcome
                specials = [s for s in specials if s[0] > events.last_ms]
                next_beat = events.last_ms + interval_ms * rng.uniform(0.3, 1.0)
                end_ms = max(end_ms, events.last_ms + 1000)
                continue
            if next_beat < end_ms:
                if not events.add(int(next_beat), "heartbeat", "gameserver", self._heartbeat(player, bad)):
                    return None, disrupted
                jitter = model.heartbeat_jitter
                next_beat += interval_ms * rng.uniform(1 - jitter, 1 + jitter)
                continue
            reason = pick(rng, model.end_reasons)
            if bad is not None and rng.random() < bad.error_share:
                reason = "error"
            if reason == "silent":
                self.plan.silent += 1
                return end_ms, disrupted
            if not events.add(end_ms, "ended", "gameserver", {"reason": reason}):
                return None, disrupted
            return events.last_ms, disrupted

    def _specials(self, player: _Player, started_ms: int, end_ms: int,
                  bad: BadBuildScript | None = None) -> list[tuple[int, str]]:
        rng, model = self.rng, self.model
        specials: list[tuple[int, str]] = []
        factor = bad.disconnect_factor if bad is not None else 1.0
        if rng.random() < model.disconnect_share * factor:
            specials.append((int(rng.uniform(started_ms, end_ms)), "disconnect"))
        if rng.random() < model.migration_share:
            specials.append((int(rng.uniform(started_ms, end_ms)), "migrate"))
        for script in self.scripts:
            crash_ms = int((script.at_s + rng.uniform(1, CRASH_SPREAD_S)) * 1000)
            if script.region == player.region and started_ms < crash_ms < end_ms:
                specials.append((crash_ms, "crash"))
        return sorted(specials)

    def _disconnect(self, events: _SessionEvents, player: _Player, at_ms: int, kind: str) -> str | None:
        """A disconnect and what follows it: the new server id, "over" if it ended, None if cut."""
        rng = self.rng
        if kind == "crash":
            reason = "server_crash"
            fate = pick(rng, CRASH_FATES)
            script = next(s for s in self.scripts if s.region == player.region)
            downtime_ms = int(rng.uniform(15_000, max(20_000, (script.at_s + script.for_s) * 1000 - at_ms + 60_000)))
            end_reason = "server_crash"
        else:
            reason = pick(rng, self.model.disconnect_reasons)
            fate = "reconnect" if rng.random() < 0.85 else "ended"
            downtime_ms = int(clamp(lognormal(rng, 12_000, 0.8), 1_000, 300_000))
            end_reason = "error"
        if not events.add(at_ms, "disconnected", "gateway", {"reason": reason}):
            return None
        if fate == "silent":
            self.plan.silent += 1
            return "over"
        if fate == "ended":
            if not events.add(at_ms + int(rng.uniform(20_000, 180_000)), "ended", "gameserver",
                              {"reason": end_reason}):
                return None
            return "over"
        server = self._server(player.region)
        if not events.add(at_ms + downtime_ms, "reconnected", "gateway",
                          {"server_id": server, "downtime_ms": downtime_ms}):
            return None
        return server

    def _heartbeat(self, player: _Player, bad: BadBuildScript | None = None) -> dict[str, Any]:
        rng, model = self.rng, self.model
        median = player.latency_ms * (bad.latency_factor if bad is not None else 1.0)
        latency = int(clamp(lognormal(rng, median, model.latency_sigma), 1, 5_000))
        loss = 0.0
        if rng.random() >= model.loss_free_share:
            loss = round(min(100.0, rng.expovariate(1 / model.loss_mean_pct)), 2)
        return {"latency_ms": latency, "packet_loss_pct": loss}

    def _server(self, region: str) -> str:
        return f"gs-{region}-{int(self.rng.random() * self.model.servers_per_region) + 1:03d}"


class _SessionEvents:
    """One session's events: seq from 1, each strictly later than the one before, none past the end."""

    def __init__(self, maker: _SessionMaker, player: _Player, session_id: str,
                 build: str | None = None) -> None:
        self.maker = maker
        self.player = player
        self.envelope = player.envelope if build is None else {**player.envelope, "build": build}
        self.session_id = session_id
        in_party = maker.rng.random() < maker.model.party_share
        self.party_id = f"party-{maker.rng.getrandbits(40):010x}" if in_party else None
        self.seq = 0
        self.last_ms = -1
        self.first: SessionEvent | None = None

    def add(self, at_ms: int, kind: str, producer: str, payload: dict[str, Any]) -> bool:
        """Add the next event at ``at_ms`` (or just after the previous one); False past the end."""
        at_ms = max(int(at_ms), self.last_ms + 1)
        if at_ms >= self.maker.horizon_ms:
            return False
        self.seq += 1
        self.last_ms = at_ms
        maker = self.maker
        changes = {
            "event_id": _uuid(maker.rng),
            "seq": self.seq,
            "occurred_at": maker.start + timedelta(milliseconds=at_ms),
            "producer": producer,
            "event_type": SessionEventType(kind),
        }
        if self.first is None:
            self.first = event = SessionEvent.model_validate({
                **self.envelope, **changes, "session_id": self.session_id,
                "party_id": self.party_id, "payload": payload,
            })
        else:
            # The envelope was validated with the first event; the payload is validated by its
            # own model; the changed fields are canonical by construction (uuid4 text, whole
            # milliseconds in UTC, seq, a member of the enum).
            changes["payload"] = SESSION_PAYLOADS[changes["event_type"]].model_validate(payload)
            event = self.first.model_copy(update=changes)
        maker.plan.add(at_ms, event)
        return True
