"""Soak: sustained load through emitter -> worker + sink, watching memory and lag for a trend.

    python -m bench.soak --bootstrap 127.0.0.1:9092 --duration 600 --rate 2000 --json

Starts `ledger worker` and `ledger sink` as child processes on topics of the soak's own (a
fresh session, ops and dead-letter topic, a temporary state directory), then emits session
events through ``SessionEmitter`` at ``--rate`` events/s for ``--duration`` seconds. Every
``--every`` seconds it samples the resident memory of the worker and of the sink (VmRSS of
each process group in /proc) and the consumer lag of the worker's group and of the sink's group
(end offsets minus committed offsets over their topics).

Over the second half of the run (after warm-up) it fits a least-squares line to each series and
calls it unbounded when the slope is above the threshold it prints: memory growing faster than
``--rss-threshold`` MiB/min, or lag growing faster than ``--lag-threshold`` of the offered rate
(a consumer that falls behind by that share of its input every second never catches up).

The traffic is a rolling pool of concurrent sessions (requested, started, heartbeats, ended)
over a bounded set of players, every event stamped with the wall clock, so no session times out
and the player table stops growing once every player has been seen. The session table grows
by one key per session: the ledger keeps every session it has folded.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ledger.child import ChildProcess, settings_env

SAMPLE_EVERY_S = 5.0
RSS_THRESHOLD_MIB_PER_MIN = 1.0
LAG_THRESHOLD_SHARE = 0.01


# --- the load --------------------------------------------------------------------------------


class Sessions:
    """A pool of ``concurrent`` live sessions; ``next()`` is the next event of one of them."""

    REGIONS = ("eu-west", "us-east", "ap-northeast")
    PLATFORMS = ("pc", "playstation", "xbox", "switch", "ios", "android")

    def __init__(self, concurrent: int, players: int, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.concurrent, self.players = concurrent, players
        self.live: dict[str, tuple[int, str]] = {}  # session_id -> (last seq, player)
        self.ids: list[str] = []
        self.started = 0

    def next(self):
        from schemas.models import SessionEvent

        rng = self.rng
        if len(self.live) < self.concurrent:
            session_id, seq, player = str(uuid.UUID(int=rng.getrandbits(128), version=4)), 0, None
            player = f"soak-player-{rng.randrange(self.players)}"
            self.ids.append(session_id)
            self.started += 1
        else:
            index = rng.randrange(len(self.ids))
            session_id = self.ids[index]
            seq, player = self.live[session_id]
        seq += 1
        event_type, payload = _step(seq, rng)
        if event_type == "ended":
            del self.live[session_id]
            last = self.ids.pop()
            if last != session_id:
                self.ids[self.ids.index(session_id)] = last
        else:
            self.live[session_id] = (seq, player)
        digest = int(session_id[:8], 16)
        return SessionEvent(
            event_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)), session_id=session_id,
            player_id=player, seq=seq, occurred_at=datetime.now(timezone.utc), producer="gameserver",
            platform=self.PLATFORMS[digest % len(self.PLATFORMS)], region=self.REGIONS[digest % len(self.REGIONS)],
            build="2025.3.1", cross_play=bool(digest % 2), input_method="controller",
            event_type=event_type, payload=payload,
        )


def _step(seq: int, rng: random.Random) -> tuple[str, dict]:
    if seq == 1:
        return "requested", {"game_mode": "ranked", "matchmaking_ticket": None}
    if seq == 2:
        return "started", {"server_id": "gs-eu-1", "game_mode": "ranked", "queue_ms": rng.randrange(100, 9000)}
    if seq > 20 and rng.random() < 0.1:
        return "ended", {"reason": "normal"}
    return "heartbeat", {"latency_ms": rng.randrange(5, 200), "packet_loss_pct": round(rng.random() * 2, 2)}


# --- the processes ---------------------------------------------------------------------------


def ledger_child(args: list[str], settings, log_path: Path) -> ChildProcess:
    """``ledger <args>`` with these settings, started."""
    return ChildProcess(["-m", "ledger.cli", *args], log_path, env=settings_env(settings)).start()


def rss_mib(group: int) -> float:
    """VmRSS summed over every process of the process group ``group``, in MiB."""
    total_kib = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[2]) != group:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kib += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return round(total_kib / 1024, 1)


def wait_healthy(port: int, worker: ChildProcess, timeout_s: float) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not worker.alive():
            raise RuntimeError(f"the worker exited while starting; its log ends with:\n{worker.log_tail()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the worker did not answer healthy on port {port} within {timeout_s:.0f}s")


# --- lag -------------------------------------------------------------------------------------


class Lag:
    """End offsets minus committed offsets of a consumer group over some topics."""

    def __init__(self, bootstrap: str) -> None:
        from kafka import KafkaAdminClient, KafkaConsumer

        self.admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap)

    def of(self, group: str, topics: tuple[str, ...]) -> int:
        from kafka import TopicPartition

        tps = [TopicPartition(t, p) for t in topics for p in self.consumer.partitions_for_topic(t) or ()]
        ends = self.consumer.end_offsets(tps)
        committed = self.admin.list_group_offsets(group).get(group, {})
        return sum(max(0, end - (committed[tp].offset if tp in committed else 0)) for tp, end in ends.items())

    def close(self) -> None:
        self.admin.close()
        self.consumer.close()


# --- the trend -------------------------------------------------------------------------------


def slope_per_minute(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of ``(seconds, value)`` samples, per minute."""
    n = len(samples)
    if n < 2:
        return 0.0
    mean_t = sum(t for t, _ in samples) / n
    mean_v = sum(v for _, v in samples) / n
    spread = sum((t - mean_t) ** 2 for t, _ in samples)
    if spread == 0:
        return 0.0
    return sum((t - mean_t) * (v - mean_v) for t, v in samples) / spread * 60


@dataclass
class Series:
    name: str
    unit: str
    threshold_per_min: float
    samples: list[tuple[float, float]] = field(default_factory=list)

    def verdict(self) -> dict[str, Any]:
        half = self.samples[len(self.samples) // 2:]
        slope = slope_per_minute(half)
        values = [v for _, v in self.samples]
        return {
            "first": values[0] if values else None, "last": values[-1] if values else None,
            "max": max(values) if values else None,
            "second_half_slope_per_min": round(slope, 2), "threshold_per_min": round(self.threshold_per_min, 2),
            "unit": self.unit, "grows_without_bound": slope > self.threshold_per_min,
        }


# --- the run ---------------------------------------------------------------------------------


def run(bootstrap: str, duration_s: float, rate: float, every_s: float, concurrent: int, players: int,
        partitions: int, rss_threshold: float, lag_threshold: float, keep: bool, progress) -> dict[str, Any]:
    from streams.emit.emitter import SessionEmitter
    from streams.settings import load_settings
    from streams.sink.consumer import DEFAULT_GROUP_ID
    from ledger.stack import free_port
    from streams.kafka.topics import ensure_topics
    from streams.fold.options import app_id

    run_id = uuid.uuid4().hex[:8]
    home = Path(tempfile.mkdtemp(prefix=f"ledger-soak-{run_id}-"))
    settings = load_settings(
        state_dir=home / "state", bootstrap_servers=bootstrap, partitions=partitions,
        session_topic=f"soak-sessions-{run_id}", ops_topic=f"soak-ops-{run_id}",
        dead_letter_topic=f"soak-dead-letter-{run_id}")
    ensure_topics(bootstrap, {settings.session_topic: partitions, settings.ops_topic: 1,
                              settings.dead_letter_topic: 1})
    port = free_port()
    worker = ledger_child(["worker", "--web-port", str(port), "--worker-id", "soak", "--loglevel", "warn"],
                          settings, home / "worker.log")
    sink = ledger_child(["sink"], settings, home / "sink.log")
    groups = {"worker": (app_id(settings), (settings.session_topic,)),
              "sink": (DEFAULT_GROUP_ID, (settings.session_topic, settings.ops_topic))}
    series = {
        "worker_rss": Series("worker_rss", "MiB", rss_threshold),
        "sink_rss": Series("sink_rss", "MiB", rss_threshold),
        "worker_lag": Series("worker_lag", "messages", lag_threshold * rate * 60),
        "sink_lag": Series("sink_lag", "messages", lag_threshold * rate * 60),
    }
    emitter = lag = None
    emitted = 0
    try:
        wait_healthy(port, worker, timeout_s=180)
        emitter = SessionEmitter.from_settings(settings, producer="gameserver")
        lag = Lag(bootstrap)
        load = Sessions(concurrent, players)
        started = time.monotonic()
        next_sample = started
        while (elapsed := time.monotonic() - started) < duration_s:
            for _ in range(100):
                emitter.emit(load.next())
            emitted += 100
            if time.monotonic() >= next_sample:
                for name, process in (("worker", worker), ("sink", sink)):
                    if not process.alive():
                        raise RuntimeError(f"the {name} exited; its log ends with:\n{process.log_tail()}")
                    series[f"{name}_rss"].samples.append((elapsed, rss_mib(process.pid)))
                    series[f"{name}_lag"].samples.append((elapsed, lag.of(*groups[name])))
                progress(elapsed, emitted, {k: s.samples[-1][1] for k, s in series.items()})
                next_sample += every_s
            time.sleep(max(0.0, started + emitted / rate - time.monotonic()))
        emitter.flush(timeout=60)
        sent_s = time.monotonic() - started
    finally:
        if emitter is not None:
            emitter.close()
        if lag is not None:
            lag.close()
        worker.kill()
        sink.kill()
    verdicts = {name: s.verdict() for name, s in series.items()}
    return {
        "duration_s": round(sent_s, 1), "rate_offered": rate, "events_emitted": emitted,
        "rate_achieved": round(emitted / sent_s, 1), "sessions_started": load.started,
        "sample_every_s": every_s, "samples": len(series["worker_rss"].samples),
        "trend_window": "second half of the samples",
        "thresholds": {"rss_mib_per_min": rss_threshold,
                       "lag_messages_per_min": round(lag_threshold * rate * 60, 1),
                       "lag_rule": f"lag slope above {lag_threshold:.0%} of the offered rate"},
        "series": verdicts, "unbounded": sorted(n for n, v in verdicts.items() if v["grows_without_bound"]),
        "samples_raw": {n: s.samples for n, s in series.items()}, "state_dir": str(home) if keep else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers, host:port")
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load (default 600)")
    parser.add_argument("--rate", type=float, default=2000.0, help="events/s offered (default 2000)")
    parser.add_argument("--every", type=float, default=SAMPLE_EVERY_S, help="seconds between samples")
    parser.add_argument("--concurrent", type=int, default=5000, help="live sessions at any time")
    parser.add_argument("--players", type=int, default=20000, help="distinct players the sessions belong to")
    parser.add_argument("--partitions", type=int, default=3, help="partitions of the soak's session topic")
    parser.add_argument("--rss-threshold", type=float, default=RSS_THRESHOLD_MIB_PER_MIN,
                        help="MiB/min of memory growth that counts as unbounded")
    parser.add_argument("--lag-threshold", type=float, default=LAG_THRESHOLD_SHARE,
                        help="lag growth, as a share of the offered rate, that counts as unbounded")
    parser.add_argument("--keep", action="store_true", help="print where the logs and state are kept")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)

    def progress(elapsed: float, emitted: int, last: dict[str, float]) -> None:
        figures = " ".join(f"{k}={v:g}" for k, v in last.items())
        print(f"[{elapsed:6.0f}s] emitted={emitted} {figures}", file=sys.stderr, flush=True)

    result = run(args.bootstrap, args.duration, args.rate, args.every, args.concurrent, args.players,
                 args.partitions, args.rss_threshold, args.lag_threshold, args.keep, progress)
    if args.json:
        print(json.dumps(result))
    else:
        for name, verdict in result["series"].items():
            print(f"{name:11} {verdict['first']}->{verdict['last']} {verdict['unit']}, slope "
                  f"{verdict['second_half_slope_per_min']}/min (limit {verdict['threshold_per_min']}): "
                  f"{'GROWS' if verdict['grows_without_bound'] else 'bounded'}")
    return 1 if result["unbounded"] else 0


if __name__ == "__main__":
    sys.exit(main())
