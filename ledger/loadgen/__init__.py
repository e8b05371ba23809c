"""Synthetic but plausible traffic for the ledger: a pure generator and a paced runner.

``generate(...)`` (generator.py) plans every event of a run from a seed; ``run_load(...)``
(runner.py) sends a plan through a ``SessionEmitter`` at a chosen pace. The traffic's shares
and distributions are in traffic.py, scripted faults in faults.py.
"""
from ledger.loadgen.faults import (
    BadBuildScript, IncidentScript, parse_bad_build, parse_duration, parse_incident,
)
from ledger.loadgen.generator import LoadPlan, PlannedDeploy, PlannedIncident, generate
from ledger.loadgen.runner import LoadStats, Pace, run_load, write_jsonl
from ledger.loadgen.traffic import TrafficModel

__all__ = ["BadBuildScript", "IncidentScript", "LoadPlan", "LoadStats", "Pace", "PlannedDeploy",
           "PlannedIncident", "TrafficModel", "generate", "parse_bad_build", "parse_duration",
           "parse_incident", "run_load", "write_jsonl"]
