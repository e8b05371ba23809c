"""The whole ledger in one go: a simulated hour with an incident, pushed through the real parts.

    result = run_demo(settings, players=200, duration_s=3600, seed=1)

1. The local broker is started if none answers (and stopped again at the end); the topics are
   created where missing.
2. The history sink (in a consumer group of the demo's own) and the worker run as child
   processes, each in its own process group (a Faust worker may ignore SIGTERM while starting,
   so it is killed with SIGKILL).
3. The load generator plans the hour from the seed, with one scripted crash, a faulty build
   deployed to us-east and each region's fleet capacity, and sends it
   through the emitter with simulated time compressed by ``time_scale``.
4. The demo waits until the sink's committed offsets reach the end of both topics (the sink
   commits only what ClickHouse accepted), stops the sink, opens the history, and checks that
   it holds every session event that was sent.
5. The figures: live concurrency by region (from the worker's HTTP API when it ran, otherwise
   from the projections folded over the history), MTTR, the incident's customer impact, the
   post-incident churn, the per-minute disconnects of the incident replayed from the history,
   the verdict on the faulty build's deploy, and the HTML report; the URL of the incident's page in the worker's browser UI. With
   ``serve`` (``ledger demo --serve``) the worker and the sink (which owns the warehouse and
   serves its reads) keep running until the caller lets them stop.

The simulated hour is the hour that ends when the demo starts, so reports over "the last hour"
find it; when the log already holds later events (an earlier run within the hour), the run
starts a minute after them instead, so runs never overlap and each one's figures are its own.
The worker is started with a heartbeat timeout longer than the run: its timeouts read the wall
clock, which a compressed hour does not follow.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from analytics.sql import query_text
from schemas.models import SessionEvent

from ledger.child import ChildProcess, settings_env
from ledger.loadgen import BadBuildScript, IncidentScript, LoadPlan, LoadStats, Pace, generate, run_load
from schemas.errors import Fatal
from streams.errors import StreamsError
from streams.settings import Settings

SINK_GROUP = "ledger-demo-sink"
"""The demo's sink has a consumer group of its own, with a static member id: a sink left over from
an earlier run (or a member the broker still remembers) cannot hold on to part of the topics."""


def sink_group(settings: Settings) -> str:
    """The demo sink's group for these topics. One group per session topic: a static member that
    rejoins its group within the session timeout gets its previous assignment back without a
    rebalance, so a group shared by demos on other topics left the new topics unassigned."""
    return f"{SINK_GROUP}-{settings.session_topic}"
STOP_GRACE_S = 15.0
CATCH_UP_TIMEOUT_S = 120.0
WORKER_GRACE_S = 60.0
"""How long after the load the worker may take to be ready and to have read the whole log."""
DEFAULT_WALL_S = 50.0
"""Unless told otherwise, the simulated run is compressed into 50 seconds of wall time."""


class DemoError(StreamsError, Fatal):
    """The demo could not finish; the message says which part failed and where its log is (exit 1)."""


@dataclass
class DemoProgress:
    """Where the demo reports what it does: a step's description, and events sent so far."""

    step: Callable[[str], None] = lambda text: None
    events: Callable[[int, int], None] = lambda sent, total: None


@dataclass(frozen=True)
class DemoResult:
    """Everything the demo found, as plain values (``as_dict`` for --json)."""

    seed: int
    players: int
    start: datetime
    end: datetime
    time_scale: float
    load: LoadStats
    incident: dict[str, Any]
    concurrency_source: str
    """"worker" (its /live/concurrency) or "history" (the projections folded over the history)."""
    concurrency: dict[str, dict[str, int]]
    """Region -> live, active, disconnected, from ``concurrency_source``."""
    concurrency_folded: dict[str, dict[str, int]]
    """Region -> live, active, disconnected: this run's sessions folded from the history at ``end``."""
    history_session_events: int
    mttr: dict[str, Any]
    impact: list[dict[str, Any]]
    churn: list[dict[str, Any]]
    timeline: list[dict[str, Any]]
    """Per-minute disconnects, reconnects and timeouts in the incident's region, replayed from the history."""
    html_report: Path
    started: tuple[str, ...]
    """What the demo started (and stopped again): broker, sink, worker."""
    wall_s: float
    notes: tuple[str, ...] = ()
    steps: tuple[tuple[str, float], ...] = ()
    """Each step the demo took and its wall seconds."""
    deploy_verdict: dict[str, Any] | None = None
    """The verdict on the scripted bad build's deploy (``analytics.deploy_verdict``), as JSON."""
    incident_url: str | None = None
    """The worker's browser page of the incident (None when no worker ran)."""
    serving: bool = False
    """Whether the worker and the warehouse's owner kept serving after the figures (--serve)."""
    slos: tuple[dict[str, Any], ...] = ()
    """Each SLO's status at ``end`` (``analytics.slo.slo_status``): SLI, budget, burn rates."""

    @property
    def impact_totals(self) -> dict[str, float]:
        return {
            "sessions_disrupted": sum(row["sessions_disrupted"] for row in self.impact),
            "unique_players": sum(row["unique_players"] for row in self.impact),
            "player_minutes_lost": round(sum(float(row["player_minutes_lost"]) for row in self.impact), 3),
        }

    def as_dict(self) -> dict[str, Any]:
        return _jsonable({
            "seed": self.seed, "players": self.players, "start": self.start, "end": self.end,
            "time_scale": self.time_scale, "load": self.load.as_dict(), "incident": self.incident,
            "concurrency_source": self.concurrency_source, "concurrency": self.concurrency,
            "concurrency_folded": self.concurrency_folded,
            "history_session_events": self.history_session_events, "mttr": self.mttr,
            "impact": self.impact, "impact_totals": self.impact_totals, "churn": self.churn,
            "timeline": self.timeline, "html_report": str(self.html_report),
            "started": list(self.started), "wall_s": round(self.wall_s, 1), "notes": list(self.notes),
            "steps": [{"step": text, "seconds": seconds} for text, seconds in self.steps],
            "deploy_verdict": self.deploy_verdict,
            "incident_url": self.incident_url, "serving": self.serving,
            "slos": list(self.slos),
        })


def default_incident(duration_s: float, region: str = "eu-west") -> IncidentScript:
    """A crash a third of the way in, lasting an eighth of the run (20m and 7.5m of an hour)."""
    return IncidentScript(region=region, at_s=round(duration_s / 3), for_s=round(duration_s / 8))


def default_bad_build(duration_s: float, region: str = "us-east") -> BadBuildScript:
    """A faulty build deployed to the busiest region a twentieth of the way in (3m of an hour)."""
    return BadBuildScript(region=region, at_s=round(duration_s / 20))


def run_demo(
    settings: Settings,
    *,
    players: int = 800,
    duration_s: float = 3600.0,
    seed: int = 1,
    time_scale: float | None = None,
    incident: IncidentScript | None = None,
    use_worker: bool = True,
    progress: DemoProgress | None = None,
    now: datetime | None = None,
    serve: Callable[[DemoResult], None] | None = None,
) -> DemoResult:
    """Run the demo on ``settings`` (see the module doc) and return its figures.

    With ``serve``, the sink (the warehouse's owner) and the worker keep running after the
    figures are read, and ``serve(result)`` is called while they do: it returns (or raises
    KeyboardInterrupt) when they may stop. ``result.incident_url`` is the worker's page of
    the incident.
    """
    progress = _Timed(progress or DemoProgress())
    began = time.monotonic()
    now = now or datetime.now(timezone.utc)
    script = incident or default_incident(duration_s)
    notes: list[str] = []
    with _Parts(settings, progress) as parts:
        parts.ensure_stack()
        start = run_start(now, duration_s, log_end(settings))
        parts.start_sink()
        worker = parts.start_worker(duration_s) if use_worker else None
        progress.step("planning the traffic")
        plan = generate(players=players, duration_s=duration_s, seed=seed, start=start, incidents=[script],
                        bad_builds=[default_bad_build(duration_s)], fleet=True)
        pace = Pace(time_scale=time_scale or duration_s / DEFAULT_WALL_S)
        progress.step(f"sending {len(plan.events)} events ({duration_s / 60:g} simulated minutes "
                      f"at x{pace.time_scale:g})")
        load = _send(settings, plan, pace, progress)
        progress.step("waiting for the history to catch up")
        _wait_caught_up(settings, sink_group(settings), [settings.session_topic, settings.ops_topic],
                        parts.sink_alive)
        live = None
        if worker is not None:
            # The worker started before the load and reads the log at its own pace; it gets a
            # fixed grace to become ready and catch up, so the demo keeps to its time.
            deadline = time.monotonic() + WORKER_GRACE_S
            worker = parts.wait_worker(worker, notes, WORKER_GRACE_S)
        if worker is not None:
            progress.step("asking the worker for live concurrency")
            live = _worker_concurrency(settings, worker, notes, max(5.0, deadline - time.monotonic()))
        if serve is None:
            parts.stop_sink()
        progress.step("reading the figures from the history")
        figures = _figures(settings, plan)
        started = tuple(parts.started)
        if live is None and use_worker:
            notes.append("the worker's figures were not available; concurrency is folded from the history")
        result = DemoResult(
            seed=seed, players=players, start=plan.start, end=plan.end, time_scale=pace.time_scale,
            load=load, incident=_incident_dict(plan),
            concurrency_source="worker" if live is not None else "history",
            concurrency=live if live is not None else figures["folded"],
            concurrency_folded=figures["folded"], history_session_events=figures["rows"],
            mttr=figures["mttr"], impact=figures["impact"], churn=figures["churn"],
            timeline=figures["timeline"], html_report=figures["html"], started=started,
            wall_s=time.monotonic() - began, notes=tuple(notes), steps=progress.finish(),
            deploy_verdict=figures["verdict"], slos=tuple(figures["slos"]),
            incident_url=(f"{worker.url}/ui/incidents/{plan.incidents[0].incident_id}"
                          if worker is not None else None),
            serving=serve is not None and worker is not None,
        )
        if result.serving:
            serve(result)
    return result


class _Timed(DemoProgress):
    """Passes steps on, and remembers how long each one took."""

    def __init__(self, inner: DemoProgress) -> None:
        super().__init__(step=self._step, events=inner.events)
        self._inner = inner
        self._steps: list[tuple[str, float]] = []

    def _step(self, text: str) -> None:
        self._steps.append((text, time.monotonic()))
        self._inner.step(text)

    def finish(self) -> tuple[tuple[str, float], ...]:
        ends = [at for _, at in self._steps[1:]] + [time.monotonic()]
        return tuple((text, round(end - at, 1)) for (text, at), end in zip(self._steps, ends))


def run_start(now: datetime, duration_s: float, log_end: datetime | None) -> datetime:
    """The simulated start: the hour that ends now, or, if the log already holds later events
    (an earlier run), the hour that begins a minute after them, so that runs never overlap."""
    start = now.replace(microsecond=0) - timedelta(seconds=duration_s)
    if log_end is not None and log_end + timedelta(minutes=1) > start:
        start = (log_end + timedelta(minutes=1)).replace(microsecond=0)
    return start


def log_end(settings: Settings, timeout_s: float = 10.0) -> datetime | None:
    """The latest ``occurred_at`` among the last message of each ledger topic partition."""
    from schemas.codec import decode
    from schemas.errors import InvalidMessage

    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for topic in (settings.session_topic, settings.ops_topic)
                      for p in sorted(consumer.partitions_for_topic(topic) or ())]
        ends = {tp: end for tp, end in consumer.end_offsets(partitions).items() if end > 0}
        if not ends:
            return None
        consumer.assign(list(ends))
        for tp, end in ends.items():
            consumer.seek(tp, end - 1)
        latest, waiting = None, set(ends)
        deadline = time.monotonic() + timeout_s
        while waiting and time.monotonic() < deadline:
            for tp, messages in consumer.poll(timeout_ms=500).items():
                waiting.discard(tp)
                for message in messages:
                    try:
                        instant = decode(message.value).occurred_at
                    except InvalidMessage:
                        continue  # not ours to judge here: the sink dead-letters it
                    latest = instant if latest is None else max(latest, instant)
        return latest
    finally:
        consumer.close()


# --- the parts the demo starts and stops -------------------------------------------------------


class _Parts:
    """The broker, sink and worker the demo started; whatever it started is stopped on exit."""

    def __init__(self, settings: Settings, progress: DemoProgress) -> None:
        self.settings = settings
        self.progress = progress
        self.started: list[str] = []
        self.logs = settings.state_dir / "demo"
        self._broker = None
        self._sink: ChildProcess | None = None
        self._worker = None

    def __enter__(self) -> _Parts:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_sink()
        if self._worker is not None:
            self._worker.kill()
            self._worker = None
        if self._broker is not None:
            self.progress.step("stopping the broker the demo started")
            self._broker.down()
            self._broker = None

    def ensure_stack(self) -> None:
        from ledger.stack import LocalBroker, broker_answers, config_from_settings
        from streams.kafka.topics import ensure_topics, ledger_topics, replication_options

        if not broker_answers(self.settings.bootstrap_servers):
            broker = LocalBroker(config_from_settings(self.settings))
            self.progress.step("starting the local broker")
            broker.up(on_step=self.progress.step)
            self._broker = broker
            self.started.append("broker")
        ensure_topics(self.settings.bootstrap_servers, ledger_topics(self.settings),
                      **replication_options(self.settings))

    def start_sink(self) -> None:
        self.progress.step("starting the history sink")
        self._sink = ChildProcess(["-m", "ledger.demo", "sink"], self.logs / "sink.log",
                                  env=settings_env(self.settings, warehouse=True)).start()
        self.started.append("sink")

    def sink_alive(self) -> bool:
        return self._sink is not None and self._sink.alive()

    def stop_sink(self) -> None:
        """SIGTERM the sink (it commits and closes the history), SIGKILL after a grace period."""
        sink, self._sink = self._sink, None
        if sink is not None:
            sink.stop(STOP_GRACE_S)

    def start_worker(self, duration_s: float):
        from ledger.stack import free_port
        from ledger.worker_process import WorkerProcess

        self.progress.step("starting the worker")
        self._worker = WorkerProcess(
            self.settings, web_port=free_port(), worker_id="demo", store="memory",
            log_path=self.logs / "worker.log", heartbeat_timeout_s=int(duration_s + 600),
            reservation_timeout_s=int(duration_s + 600),
            timeout_check_interval_s=60.0,
        ).start()
        self.started.append("worker")
        return self._worker

    def wait_worker(self, worker, notes: list[str], timeout_s: float):
        """The worker once it answers /health, or None (noted) if it did not come up in time."""
        from streams.fold.errors import WorkerError

        self.progress.step("waiting for the worker to be ready")
        try:
            worker.wait_ready(timeout_s=timeout_s)
        except WorkerError as error:
            notes.append(f"the worker did not become ready: {str(error).splitlines()[0]} "
                         f"(log: {worker.log_path})")
            worker.kill()
            self._worker = None
            return None
        return worker


# --- sending and waiting -------------------------------------------------------------------


def _send(settings: Settings, plan: LoadPlan, pace: Pace, progress: DemoProgress) -> LoadStats:
    from streams.emit.emitter import SessionEmitter

    emitter = SessionEmitter.from_settings(settings, producer="demo")
    try:
        return run_load(plan, emitter, pace, progress=progress.events)
    finally:
        emitter.close()


def _wait_caught_up(settings: Settings, group: str, topics: list[str], alive: Callable[[], bool],
                    timeout_s: float = CATCH_UP_TIMEOUT_S) -> None:
    """Return once ``group`` has committed the end offset of every partition of ``topics``."""
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False)
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    try:
        partitions = [TopicPartition(topic, p) for topic in topics
                      for p in sorted(consumer.partitions_for_topic(topic) or ())]
        deadline = time.monotonic() + timeout_s
        behind = -1
        while time.monotonic() < deadline:
            if not alive():
                raise DemoError(f"the consumer of group {group} exited before it caught up; read its log in "
                                f"{settings.state_dir / 'demo'}")
            end = consumer.end_offsets(partitions)
            committed = admin.list_group_offsets({group: partitions}).get(group, {})
            behind = sum(max(0, end[tp] - _offset(committed.get(tp))) for tp in partitions)
            if behind == 0:
                return
            time.sleep(0.3)
        raise DemoError(f"consumer group {group} was still {behind} message(s) behind after "
                        f"{timeout_s:.0f}s; read its log in {settings.state_dir / 'demo'}")
    finally:
        consumer.close()
        admin.close()


def _offset(committed) -> int:
    return committed.offset if committed is not None and committed.offset >= 0 else 0


def _worker_concurrency(settings: Settings, worker, notes: list[str],
                        timeout_s: float) -> dict[str, dict[str, int]] | None:
    """Live sessions by region from the worker, once it has read the whole session topic."""
    from streams.fold.options import app_id

    try:
        _wait_caught_up(settings, app_id(settings), [settings.session_topic], worker.alive,
                        timeout_s=timeout_s)
        status, document = worker.get("/live/concurrency", timeout_s=10.0)
    except (DemoError, OSError, ValueError) as error:
        notes.append(f"the worker's live concurrency was not available: {error}")
        return None
    if status != 200 or not document.get("complete", False):
        notes.append(f"the worker answered /live/concurrency with {status}: {document}")
        return None
    by_region: dict[str, dict[str, int]] = {}
    for segment in document["segments"]:
        counts = by_region.setdefault(segment["region"], {"live": 0, "active": 0, "disconnected": 0})
        for key in counts:
            counts[key] += segment.get(key, 0)
    return dict(sorted(by_region.items()))


# --- the figures, from the history ---------------------------------------------------------


def _figures(settings: Settings, plan: LoadPlan) -> dict[str, Any]:
    from analytics.deploy_verdict import judge_deploy
    from analytics.html_report import write_html_report
    from analytics.replay import Window, fold_events, iter_session_events, replay_incident
    from analytics.reports import run_report
    from analytics.slo import load_slos, slo_status
    from projections.concurrency import Concurrency
    from ledger.commands.common import open_history

    incident = plan.incidents[0]
    sessions = sorted({e.session_id for e in plan.events if isinstance(e, SessionEvent)})
    with open_history(settings) as warehouse:
        rows = warehouse.query(query_text("loadgen", "rows_of_run"),
                               {"session_ids": ",".join(sessions)}, name="rows of the run")[0]
        expected = sum(1 for e in plan.events if isinstance(e, SessionEvent))
        if rows["session_events"] != expected:
            raise DemoError(f"the history holds {rows['session_events']} of the run's {expected} session "
                            "events after the sink caught up; read the sink's log in "
                            f"{settings.state_dir / 'demo'}")
        # Runs never overlap in time, so the run's hour holds every event of its sessions.
        as_of = fold_events(iter_session_events(warehouse, Window(plan.start, plan.end)), plan.end)
        ours = set(sessions)
        folded = Concurrency.from_sessions(s for s in as_of.view.sessions.values() if s.session_id in ours)
        mttr = run_report(warehouse, "mttr", from_=incident.opened_at,
                          to=incident.opened_at + timedelta(seconds=1))[0]
        impact = run_report(warehouse, "incident_impact", incident_id=incident.incident_id)
        churn = run_report(warehouse, "post_incident_churn", incident_id=incident.incident_id)
        replay = replay_incident(warehouse, incident.incident_id)
        timeline = every_minute([m for m in replay.minutes if m["region"] == incident.region])
        html = settings.state_dir / "reports" / "demo.html"
        html.parent.mkdir(parents=True, exist_ok=True)
        slos = load_slos(settings.slo_file)
        write_html_report(warehouse, html, plan.start, plan.end, slos)
        budgets = [slo_status(warehouse, slo, plan.end) for slo in slos]
        verdict = judge_deploy(warehouse, plan.deploys[0].deploy_id, to=plan.end).to_json() \
            if plan.deploys else None
    return {"rows": rows["session_events"], "folded": _by_region(folded), "mttr": mttr,
            "impact": impact, "churn": churn, "timeline": timeline, "html": html, "verdict": verdict,
            "slos": budgets}


def every_minute(minutes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per-minute counts from the first to the last minute given, zeros where none was given."""
    if not minutes:
        return []
    seen = {m["minute"]: m for m in minutes}
    minute, last = min(seen), max(seen)
    filled = []
    while minute <= last:
        row = seen.get(minute, {})
        filled.append({"minute": minute, **{k: row.get(k, 0) for k in ("disconnects", "reconnects", "timeouts")}})
        minute += timedelta(minutes=1)
    return filled


def _by_region(concurrency) -> dict[str, dict[str, int]]:
    return {region: dict(counts) for (region,), counts in sorted(concurrency.breakdown("region").items())}


def _incident_dict(plan: LoadPlan) -> dict[str, Any]:
    return dict(plan.incidents[0].__dict__)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "as_tuple"):  # Decimal
        return float(value)
    return value


def _run_demo_sink() -> None:
    """The demo's sink process: the history sink in the demo's own group, as a static member."""
    import logging

    from streams.settings import load_settings
    from streams.sink.consumer import run_sink

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = load_settings()
    stats = run_sink(settings, group_id=sink_group(settings),
                     consumer_config={"group_instance_id": f"{sink_group(settings)}-1"})
    print(stats.as_dict(), flush=True)


if __name__ == "__main__" and sys.argv[1:] == ["sink"]:
    _run_demo_sink()
