"""The shape of synthetic traffic: who plays, where, on what, for how long, and how it goes wrong.

Every share and distribution below is a plausible assumption for a large cross-platform game,
not measured data; docs/demo.md lists them. ``TrafficModel`` holds them as plain values so a
test or a caller can change one without touching the generator. Durations are simulated
seconds.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass

Shares = tuple[tuple[str, float], ...]

REGIONS: Shares = (
    ("us-east", 0.30), ("eu-west", 0.28), ("ap-northeast", 0.17), ("us-west", 0.15), ("sa-east", 0.10),
)
PLATFORMS: Shares = (
    ("pc", 0.32), ("playstation", 0.22), ("xbox", 0.14), ("switch", 0.08),
    ("android", 0.12), ("ios", 0.09), ("cloud", 0.03),
)
REGION_LATENCY_MS: dict[str, float] = {
    "us-east": 28.0, "eu-west": 32.0, "us-west": 35.0, "ap-northeast": 42.0, "sa-east": 58.0,
}
"""Median round trip from a player to a game server in their own region."""
PLATFORM_LATENCY_MS: dict[str, float] = {
    "pc": 0.0, "playstation": 4.0, "xbox": 4.0, "switch": 10.0, "ios": 22.0, "android": 26.0, "cloud": 18.0,
}
"""Added to the region's median: wireless and mobile links, and a cloud stream's extra hop."""
INPUT_METHODS: dict[str, Shares] = {
    "pc": (("keyboard_mouse", 0.85), ("controller", 0.15)),
    "playstation": (("controller", 0.97), ("keyboard_mouse", 0.03)),
    "xbox": (("controller", 0.96), ("keyboard_mouse", 0.04)),
    "switch": (("controller", 1.0),),
    "ios": (("touch", 0.9), ("controller", 0.1)),
    "android": (("touch", 0.92), ("controller", 0.08)),
    "cloud": (("controller", 0.6), ("touch", 0.25), ("keyboard_mouse", 0.15)),
}
GAME_MODES: Shares = (("battle_royale", 0.45), ("ranked", 0.2), ("casual", 0.25), ("creative", 0.1))
COLORBLIND_MODES: Shares = (("none", 0.92), ("deuteranopia", 0.05), ("protanopia", 0.02), ("tritanopia", 0.01))
END_REASONS: Shares = (("normal", 0.62), ("quit", 0.31), ("kicked", 0.02), ("error", 0.02), ("silent", 0.03))
"""How sessions finish; ``silent`` sessions stop sending anything (the ledger times them out)."""
DISCONNECT_REASONS: Shares = (("network", 0.7), ("client_crash", 0.15), ("idle", 0.1), ("unknown", 0.05))
BUILDS: Shares = (("2026.11.2", 0.82), ("2026.11.1", 0.15), ("2026.10.4", 0.03))
SERVER_HOURLY_COST: dict[str, float] = {
    "us-east": 1.20, "eu-west": 1.30, "us-west": 1.25, "ap-northeast": 1.50, "sa-east": 1.60,
}
"""What one game server costs per hour in each region, USD (on-demand compute plus egress)."""
FLEET_HEADROOM: dict[str, float] = {
    "us-east": 1.6, "eu-west": 2.4, "us-west": 2.2, "ap-northeast": 1.3, "sa-east": 1.5,
}
"""Each region's fleet is provisioned for its run's peak concurrency times this: some regions
are tight, some generous, so capacity and cost reports have something to say."""


@dataclass(frozen=True)
class TrafficModel:
    """Shares and distributions of the synthetic traffic (see the module doc)."""

    regions: Shares = REGIONS
    platforms: Shares = PLATFORMS
    cross_play_share: float = 0.78
    subtitles_share: float = 0.31
    screen_reader_share: float = 0.01
    reduced_motion_share: float = 0.06
    colorblind_modes: Shares = COLORBLIND_MODES
    game_modes: Shares = GAME_MODES
    builds: Shares = BUILDS
    party_share: float = 0.35
    session_median_s: float = 25 * 60.0
    session_sigma: float = 0.8
    """Log-normal session length: median 25 minutes, sigma 0.8 (one in ten longer than 70 minutes)."""
    session_min_s: float = 90.0
    session_max_s: float = 4 * 3600.0
    first_session_within: float = 0.5
    """Each player's first session starts in the first half of the run (uniformly)."""
    replay_share: float = 0.55
    """After a session, the share of players who play again within the run..."""
    pause_median_s: float = 8 * 60.0
    """...after a log-normal pause of this median (sigma 0.7)."""
    queue_median_ms: float = 9_000.0
    heartbeat_every_s: tuple[float, float] = (10.0, 30.0)
    """Each session picks its heartbeat interval uniformly from this range."""
    heartbeat_jitter: float = 0.1
    latency_sigma: float = 0.25
    loss_free_share: float = 0.9
    """Heartbeats with no packet loss; the rest draw from an exponential with mean ``loss_mean_pct``."""
    loss_mean_pct: float = 0.8
    disconnect_share: float = 0.04
    """Sessions with one ordinary disconnect; 85% of those reconnect, the rest end."""
    migration_share: float = 0.02
    end_reasons: Shares = END_REASONS
    disconnect_reasons: Shares = DISCONNECT_REASONS
    servers_per_region: int = 40
    slots_per_server: int = 10
    """Player sessions one game server hosts, for fleet capacity events."""


def pick(rng: random.Random, shares: Shares) -> str:
    """One name drawn with the given weights (they need not sum to one)."""
    total = sum(weight for _, weight in shares)
    point = rng.random() * total
    for name, weight in shares:
        point -= weight
        if point < 0:
            return name
    return shares[-1][0]


def lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return median * math.exp(rng.gauss(0.0, sigma))


def clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))
