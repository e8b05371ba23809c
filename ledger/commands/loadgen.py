"""`ledger loadgen`: plausible synthetic traffic, sent through the emitter at a chosen pace."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from ledger.commands.common import EXIT_BAD_INPUT, err, fail, out, print_json


def event_progress(description: str) -> Progress:
    """A progress bar for events on stderr (stdout stays clean for --json)."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("events"), TimeRemainingColumn(), console=err, transient=True)


def stats_table(stats, title: str) -> Table:
    """Events by type, then sessions, players and the rate achieved."""
    table = Table(title=title)
    table.add_column("what")
    table.add_column("count", justify="right")
    for event_type, count in stats.by_type.items():
        table.add_row(event_type, str(count))
    table.add_section()
    table.add_row("[bold]events[/]", str(stats.events))
    table.add_row("sessions", str(stats.sessions))
    table.add_row("players", str(stats.players))
    table.add_row("wall seconds", f"{stats.wall_s:.1f}")
    table.add_row("events/s achieved", f"{stats.rate:.0f}")
    return table


@click.command("loadgen")
@click.option("--players", default=200, show_default=True, type=click.IntRange(1, 1_000_000),
              help="Players in the population; each plays one or more sessions.")
@click.option("--duration", default="1h", show_default=True,
              help="Simulated length of the run: 90s, 10m, 1h, 1h30m.")
@click.option("--rate", type=click.FloatRange(min=0.001), default=None,
              help="Events per wall second. Alone it sets the pace; with --time-scale it caps it.")
@click.option("--time-scale", type=click.FloatRange(min=0.001), default=None,
              help="Simulated seconds per wall second (default 60 unless --rate is given).")
@click.option("--seed", default=1, show_default=True, type=int, help="Same seed, same traffic.")
@click.option("--incident", "incidents", multiple=True, metavar="SPEC",
              help="A scripted server crash: region=eu-west,at=10m,for=5m[,severity=sev1]. Repeatable.")
@click.option("--bad-build", "bad_builds", multiple=True, metavar="SPEC",
              help="A faulty build deployed to one region: region=us-east,at=3m[,build=X][,share=0.5]. "
                   "Its sessions error, disconnect and lag more. Repeatable.")
@click.option("--fleet", is_flag=True, help="Record each region's fleet capacity (fleet_scaled) at the start.")
@click.option("--start", default=None, metavar="INSTANT",
              help="Simulated start (ISO 8601, UTC if no offset). Default: now.")
@click.option("--dry-run", is_flag=True, help="Write the events as JSON lines instead of sending them.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="With --dry-run: the file to write (default: stdout).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_obj
def loadgen(settings, players, duration, rate, time_scale, seed, incidents, bad_builds, fleet, start,
            dry_run, out_path, as_json) -> None:
    """Send synthetic but plausible session and ops traffic to the ledger's topics.

    The traffic is planned up front from --seed (the same seed plans the same events), then
    sent through the emitter with simulated time compressed by --time-scale. Shares and
    distributions are described in docs/demo.md.

    \b
    Example:
      ledger loadgen --players 500 --duration 1h --time-scale 60 --incident region=eu-west,at=20m,for=8m
      ledger loadgen --players 50 --duration 10m --rate 2000 --json
      ledger loadgen --players 500 --bad-build region=us-east,at=3m --fleet
      ledger loadgen --players 20 --duration 5m --dry-run --out events.jsonl
    """
    from ledger.commands.report import parse_instant
    from ledger.loadgen import Pace, generate, parse_bad_build, parse_duration, parse_incident, write_jsonl

    if out_path is not None and not dry_run:
        fail("--out only goes with --dry-run (events are otherwise sent to Kafka)", EXIT_BAD_INPUT)
    instant = parse_instant(start, "--start") or datetime.now(timezone.utc).replace(microsecond=0)
    scripts = [parse_incident(spec) for spec in incidents]
    with err.status("planning the traffic"):
        plan = generate(players=players, duration_s=parse_duration(duration, "--duration"), seed=seed,
                        start=instant, incidents=scripts,
                        bad_builds=[parse_bad_build(spec) for spec in bad_builds], fleet=fleet)
    if dry_run and out_path is None:
        write_jsonl(plan, click.get_text_stream("stdout"))
        return
    if dry_run:
        written = write_jsonl(plan, out_path)
        if as_json:
            print_json({"events": written, "out": str(out_path)})
        else:
            out.print(f"wrote {written} events to {out_path}")
        return
    pace = Pace.for_rate(plan, rate, time_scale) if rate else Pace(time_scale=time_scale or 60.0)
    stats = send(settings, plan, pace)
    if as_json:
        print_json({**stats.as_dict(), "seed": seed, "start": plan.start.isoformat(),
                    "incidents": [i.__dict__ for i in plan.incidents],
                    "deploys": [d.__dict__ for d in plan.deploys]})
        return
    out.print(stats_table(stats, f"loadgen: seed {seed}, {plan.duration_s:g}s simulated at x{pace.time_scale:.3g}"))
    for incident in plan.incidents:
        out.print(f"incident {incident.incident_id} in {incident.region} opened {incident.opened_at:%H:%M:%S}, "
                  f"after deploy {incident.deploy_id} ({incident.deploy_outcome})", highlight=False)
    for deploy in plan.deploys:
        out.print(f"deploy {deploy.deploy_id} of build {deploy.build} to {deploy.region} at "
                  f"{deploy.started_at:%H:%M:%S}: judge it with `ledger deploy verdict {deploy.deploy_id}`",
                  highlight=False)


def send(settings, plan, pace):
    """Send ``plan`` through an emitter on ``settings`` with a progress bar; the run's stats."""
    from streams.emit.emitter import SessionEmitter
    from ledger.loadgen import run_load

    emitter = SessionEmitter.from_settings(settings, producer="loadgen")
    try:
        with event_progress("sending") as progress:
            task = progress.add_task("sending", total=len(plan.events))
            stats = run_load(plan, emitter, pace, progress=lambda sent, _total: progress.update(task, completed=sent))
    finally:
        emitter.close()
    return stats
