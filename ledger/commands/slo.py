"""`ledger slo status`: each SLO's SLI, error budget and burn rates, now, from the history."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import click

from ledger.commands.common import open_history, print_json
from ledger.commands.report import _print_rows, parse_instant

SLO_FILE = click.option(
    "--slo-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
    help="OpenSLO v1 YAML file of the SLOs (default: LEDGER_SLO_FILE, else the shipped analytics/slos.yaml).")
INCLUDE_PLANNED = click.option(
    "--include-planned", is_flag=True,
    help="Count events inside maintenance windows and drills too (left out by default).")


@click.group("slo")
def slo() -> None:
    """Service-level objectives: SLIs, error budgets and burn rates (docs/metrics.md, "SLOs")."""


@slo.command("status")
@SLO_FILE
@INCLUDE_PLANNED
@click.option("--at", "at", metavar="INSTANT",
              help="Judge as of this instant (ISO 8601, UTC if no offset). Default: now.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per SLO.")
@click.pass_obj
def status(settings, slo_file: Path | None, include_planned: bool, at: str | None,
           as_json: bool) -> None:
    """Per SLO: the SLI over its window, the objective, the error budget (total, consumed,
    remaining, in events and %) and burn rates over 5m, 30m, 1h, 6h and 3d.

    \b
    Example:
      ledger slo status
      ledger slo status --json --at 2026-11-24T18:00:00Z
      ledger slo status --slo-file my-slos.yaml --include-planned
    """
    from analytics.slo import load_slos, slo_status

    slos = load_slos(slo_file or settings.slo_file)
    now = parse_instant(at, "--at") or datetime.now(timezone.utc)
    with open_history(settings) as warehouse:
        rows = [slo_status(warehouse, s, now, include_planned=include_planned) for s in slos]
    if as_json:
        print_json(rows)
        return
    planned = "included" if include_planned else "left out (--include-planned puts it back)"
    shown = {"slo": "slo", "sli_value": "sli", "objective": "target", "events": "events",
             "bad": "bad", "budget_total": "budget", "budget_remaining_pct": "left %",
             **{f"burn_{w}": w for w in ("5m", "30m", "1h", "6h", "3d")}}
    _print_rows([{label: row[k] for k, label in shown.items()} for row in rows],
                f"SLOs at {now.isoformat()}; planned work {planned}", False, False)
