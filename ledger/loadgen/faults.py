"""Scripted faults: a regional server crash, the deploy before it, and the incident around it.

    parse_incident("region=eu-west,at=10m,for=5m")

``at`` and ``for`` are offsets into the simulated run (``90s``, ``10m``, ``1h``, ``1h30m``, or
plain seconds). What the crash does to sessions is decided by the generator; this module holds
the script and its timeline.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ledger.loadgen.errors import BadLoadOption

_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_INCIDENT_EXAMPLE = "region=eu-west,at=10m,for=5m"


def parse_duration(text: str, option: str = "duration") -> float:
    """Seconds in ``90``, ``90s``, ``10m``, ``1h`` or ``1h30m``; ``BadLoadOption`` otherwise."""
    value = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    match = _DURATION.fullmatch(value)
    if not value or match is None or not any(match.groups()):
        raise BadLoadOption(option, text, "a duration such as 90s, 10m, 1h or 1h30m")
    hours, minutes, seconds = (int(group or 0) for group in match.groups())
    return float(hours * 3600 + minutes * 60 + seconds)


@dataclass(frozen=True)
class IncidentScript:
    """A server crash in ``region`` from ``at_s`` lasting ``for_s`` simulated seconds."""

    region: str
    at_s: float
    for_s: float
    severity: str = "sev2"

    def check(self, duration_s: float, regions: tuple[str, ...]) -> IncidentScript:
        """This script, if it fits a run of ``duration_s`` over ``regions``."""
        if self.region not in regions:
            raise BadLoadOption("--incident region", self.region, f"one of {', '.join(regions)}")
        if not 0 < self.at_s < duration_s:
            raise BadLoadOption("--incident at", f"{self.at_s:g}s",
                                f"an offset inside the run (0 < at < {duration_s:g}s)")
        if self.for_s <= 0:
            raise BadLoadOption("--incident for", f"{self.for_s:g}s", "a positive duration")
        return self


def parse_incident(text: str) -> IncidentScript:
    """``region=eu-west,at=10m,for=5m[,severity=sev1]`` as an ``IncidentScript``."""
    fields: dict[str, str] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        if not sep or not value.strip():
            raise BadLoadOption("--incident", text, f"name=value pairs such as {_INCIDENT_EXAMPLE}")
        fields[name.strip().lower()] = value.strip()
    unknown = set(fields) - {"region", "at", "for", "severity"}
    if unknown:
        raise BadLoadOption("--incident", text, f"only region, at, for and severity (not {', '.join(sorted(unknown))})")
    missing = [name for name in ("region", "at", "for") if name not in fields]
    if missing:
        raise BadLoadOption("--incident", text, f"{', '.join(missing)} as well, e.g. {_INCIDENT_EXAMPLE}")
    severity = fields.get("severity", "sev2")
    if severity not in ("sev1", "sev2", "sev3", "sev4"):
        raise BadLoadOption("--incident severity", severity, "sev1, sev2, sev3 or sev4")
    return IncidentScript(
        region=fields["region"],
        at_s=parse_duration(fields["at"], "--incident at"),
        for_s=parse_duration(fields["for"], "--incident for"),
        severity=severity,
    )


_BAD_BUILD_EXAMPLE = "region=us-east,at=10m"


@dataclass(frozen=True)
class BadBuildScript:
    """A deploy of a faulty build to ``region`` at ``at_s`` simulated seconds.

    From then on, a ``share`` of the sessions the region starts run ``build``: they end with an
    error ``error_share`` of the time, disconnect ``disconnect_factor`` times as often, and see
    heartbeat latency ``latency_factor`` times higher. What the generator does with it is
    described in generator.py; ``ledger deploy verdict`` on its deploy fails.
    """

    region: str
    at_s: float
    build: str = "2026.11.3-rc1"
    share: float = 0.5
    error_share: float = 0.3
    disconnect_factor: float = 4.0
    latency_factor: float = 1.5

    def check(self, duration_s: float, regions: tuple[str, ...]) -> BadBuildScript:
        """This script, if it fits a run of ``duration_s`` over ``regions``."""
        if self.region not in regions:
            raise BadLoadOption("--bad-build region", self.region, f"one of {', '.join(regions)}")
        if not 0 <= self.at_s < duration_s:
            raise BadLoadOption("--bad-build at", f"{self.at_s:g}s",
                                f"an offset inside the run (0 <= at < {duration_s:g}s)")
        if not 0 < self.share <= 1:
            raise BadLoadOption("--bad-build share", f"{self.share:g}", "a share in (0, 1]")
        return self


def parse_bad_build(text: str) -> BadBuildScript:
    """``region=us-east,at=10m[,build=2026.11.3-rc1][,share=0.5]`` as a ``BadBuildScript``."""
    fields: dict[str, str] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        if not sep or not value.strip():
            raise BadLoadOption("--bad-build", text, f"name=value pairs such as {_BAD_BUILD_EXAMPLE}")
        fields[name.strip().lower()] = value.strip()
    unknown = set(fields) - {"region", "at", "build", "share"}
    if unknown:
        raise BadLoadOption("--bad-build", text,
                            f"only region, at, build and share (not {', '.join(sorted(unknown))})")
    missing = [name for name in ("region", "at") if name not in fields]
    if missing:
        raise BadLoadOption("--bad-build", text, f"{', '.join(missing)} as well, e.g. {_BAD_BUILD_EXAMPLE}")
    try:
        share = float(fields.get("share", "0.5"))
    except ValueError:
        raise BadLoadOption("--bad-build share", fields["share"], "a number such as 0.5") from None
    return BadBuildScript(region=fields["region"], at_s=parse_duration(fields["at"], "--bad-build at"),
                          build=fields.get("build", "2026.11.3-rc1"), share=share)
