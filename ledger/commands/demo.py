"""`ledger demo`: a simulated hour with an incident through the real parts, and what the ledger makes of it."""
from __future__ import annotations

import logging
import signal
import threading
from datetime import datetime

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from ledger.commands.common import EXIT_BAD_INPUT, err, fail, out, print_json


@click.command("demo")
@click.option("--players", default=800, show_default=True, type=click.IntRange(1, 100_000),
              help="Players in the simulated population.")
@click.option("--duration", default="1h", show_default=True, help="Simulated length: 30m, 1h, 2h.")
@click.option("--seed", default=1, show_default=True, type=int, help="Same seed, same traffic.")
@click.option("--time-scale", type=click.FloatRange(min=0.001), default=None,
              help="Simulated seconds per wall second (default: the run takes about a minute).")
@click.option("--incident", "incident_spec", default=None, metavar="SPEC",
              help="The scripted crash (default: eu-west, a third of the way in, for an eighth of the run), "
                   "e.g. region=us-east,at=15m,for=10m.")
@click.option("--no-worker", is_flag=True,
              help="Do not start the worker; live concurrency is then folded from the history.")
@click.option("--serve", is_flag=True,
              help="Keep the worker (and the sink, which serves the history) running after the figures, "
                   "so the incident's page in the browser UI stays up; Ctrl-C stops them.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.pass_obj
def demo(settings, players, duration, seed, time_scale, incident_spec, no_worker, serve, as_json) -> None:
    """Run the whole ledger on a simulated hour with one incident, then show what it found.

    Starts the local broker if none answers, the history sink and the worker; sends an hour of
    synthetic traffic compressed into under a minute, with a server crash; waits until the
    history holds every event; prints live concurrency by region, MTTR, the incident's customer
    impact, post-incident churn, the incident's per-minute disconnects, writes the HTML
    report, and prints the URL of the incident's page in the worker's browser UI. Stops what it
    started; with --serve, only once Ctrl-C is pressed. See docs/demo.md for how to read it.

    \b
    Example:
      ledger demo
      ledger demo --players 1000 --seed 7 --incident region=us-east,at=15m,for=10m
      ledger demo --no-worker --json
      ledger demo --serve
    """
    from ledger.demo import run_demo
    from ledger.loadgen import parse_duration, parse_incident

    # The client logs every refused connection while the broker starts; a part that really
    # fails ends the demo with an error of its own that says which part and where its log is.
    logging.getLogger("kafka").setLevel(logging.CRITICAL)

    duration_s = parse_duration(duration, "--duration")
    incident = parse_incident(incident_spec) if incident_spec else None
    if serve and no_worker:
        fail("--serve keeps the worker serving its pages: it cannot go with --no-worker", EXIT_BAD_INPUT)
    shown = []

    def serve_until_interrupted(result) -> None:
        progress.progress.stop()
        _print(result, as_json)
        shown.append(result)
        out.print(f"serving [bold]{result.incident_url}[/] until Ctrl-C"
                  + (" (append #token=<LEDGER_API_TOKEN> to the URL, or type it into the page)"
                     if settings.api_token else ""), highlight=False)
        signal.signal(signal.SIGTERM, _interrupt)  # a service manager's stop: the same clean stop as Ctrl-C
        threading.Event().wait()

    try:
        with _DemoProgress() as progress:
            result = run_demo(settings, players=players, duration_s=duration_s, seed=seed, time_scale=time_scale,
                              incident=incident, use_worker=not no_worker, progress=progress.hooks(),
                              serve=serve_until_interrupted if serve else None)
    except KeyboardInterrupt:
        if not shown:
            raise
        err.print("stopped what the demo started")
        return
    if serve and not result.serving:
        err.print("[yellow]note[/]: the worker did not come up, so nothing is left serving", highlight=False)
    if not shown:
        _print(result, as_json)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _print(result, as_json: bool) -> None:
    if as_json:
        print_json(result.as_dict())
        return
    show(result)


class _DemoProgress:
    """One line for the current step and a bar for the events sent, on stderr."""

    def __init__(self) -> None:
        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=True)
        self.step_task = None
        self.events_task = None

    def __enter__(self) -> _DemoProgress:
        self.progress.__enter__()
        self.step_task = self.progress.add_task("starting", total=None)
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def hooks(self):
        from ledger.demo import DemoProgress

        def step(text: str) -> None:
            self.progress.update(self.step_task, description=text)

        def events(sent: int, total: int) -> None:
            if self.events_task is None:
                self.events_task = self.progress.add_task("events sent", total=total)
            self.progress.update(self.events_task, completed=sent)

        return DemoProgress(step=step, events=events)


def show(result) -> None:
    """The figures as tables, in the order docs/demo.md explains them."""
    incident = result.incident
    out.print(f"[bold]Session Ledger demo[/]: seed {result.seed}, {result.players} players, "
              f"{_t(result.start)} to {_t(result.end)} simulated at x{result.time_scale:.3g}, "
              f"{result.load.events} events ({result.history_session_events} session events in the history)",
              highlight=False)

    source = ("the worker's HTTP API (/live/concurrency)" if result.concurrency_source == "worker"
              else "the projections folded over the history")
    table = Table(title=f"live sessions by region at {_t(result.end)}, from {source}")
    for column in ("region", "live", "active", "disconnected"):
        table.add_column(column, justify="left" if column == "region" else "right")
    for region, counts in result.concurrency.items():
        table.add_row(region, str(counts["live"]), str(counts["active"]), str(counts["disconnected"]))
    out.print(table)

    mttr = result.mttr
    out.print(f"incident [bold]{incident['incident_id']}[/] ({incident['region']}, after deploy "
              f"{incident['deploy_id']}: {incident['deploy_outcome']}): opened {_t(incident['opened_at'])}, "
              f"MTTR {_minutes(mttr.get('mttr_s'))}", highlight=False)

    if result.slos:
        slos = Table(title=f"SLO error budgets at {_t(result.end)} (beside the MTTR above)")
        for column in ("slo", "sli", "target", "events", "budget left", "burn 1h", "burn 6h"):
            slos.add_column(column, justify="left" if column == "slo" else "right")
        for row in result.slos:
            slos.add_row(row["slo"], _share(row["sli_value"]), _share(row["objective"]), str(row["events"]),
                         "-" if row["budget_remaining_pct"] is None else f"{row['budget_remaining_pct']:.0f} %",
                         _rate(row["burn_1h"]), _rate(row["burn_6h"]))
        out.print(slos)

    totals = result.impact_totals
    impact = Table(title=f"customer impact: {totals['sessions_disrupted']} sessions, "
                         f"{totals['unique_players']} players, {totals['player_minutes_lost']:.1f} player-minutes lost")
    for column in ("region", "platform", "cross_play", "sessions", "players", "minutes lost"):
        impact.add_column(column, justify="right" if column in ("sessions", "players", "minutes lost") else "left")
    for row in sorted(result.impact, key=lambda r: -r["sessions_disrupted"]):
        impact.add_row(row["region"], row["platform"], str(bool(row["cross_play"])), str(row["sessions_disrupted"]),
                       str(row["unique_players"]), f"{float(row['player_minutes_lost']):.1f}")
    out.print(impact)

    churn = Table(title="post-incident churn (no session after the incident, within 7 days)")
    for column in ("cohort", "players", "churned", "rate"):
        churn.add_column(column, justify="left" if column == "cohort" else "right")
    for row in result.churn:
        churn.add_row(row["cohort"], str(row["players"]), str(row["churned"]), f"{float(row['churn_rate']):.1%}")
    out.print(churn)

    timeline = Table(title=f"incident replayed from the history: {incident['region']} minute by minute")
    for column in ("minute", "disconnects", "reconnects", "timeouts"):
        timeline.add_column(column, justify="left" if column == "minute" else "right")
    for row in result.timeline:
        timeline.add_row(_t(row["minute"]), str(row["disconnects"]), str(row["reconnects"]), str(row["timeouts"]))
    out.print(timeline)

    verdict = result.deploy_verdict
    if verdict is not None:
        gate = Table(title=f"deploy verdict on {verdict['deploy_id']} (build {verdict['build']}, "
                           f"{', '.join(verdict['regions'])}): {verdict['canary_sessions']} canary, "
                           f"{verdict['baseline_sessions']} baseline sessions")
        for column in ("metric", "result", "canary", "baseline", "p-value"):
            gate.add_column(column)
        for metric in verdict["metrics"]:
            n = metric["numbers"]
            gate.add_row(metric["name"], metric["result"], _figure(n.get("canary")),
                         _figure(n.get("baseline")), _figure(n.get("p_value")))
        out.print(gate)
        score = "-" if verdict["score"] is None else f"{verdict['score']:.0f}"
        out.print(f"score {score}: [bold]{verdict['verdict']}[/] "
                  f"(`ledger deploy verdict {verdict['deploy_id']}` exits 0 only on Pass)", highlight=False)

    out.print(f"HTML report: [bold]{result.html_report}[/]", highlight=False)
    if result.incident_url:
        kept = "" if result.serving else " (the worker has stopped: `ledger demo --serve` keeps it serving)"
        out.print(f"incident page: [bold]{result.incident_url}[/]{kept}", highlight=False)
    verb = "started (stopped on Ctrl-C)" if result.serving else "started and stopped"
    out.print(f"{verb}: {', '.join(result.started) or 'nothing (all was running)'}; "
              f"{result.wall_s:.0f}s wall time", highlight=False)
    for note in result.notes:
        out.print(f"[yellow]note[/]: {note}", highlight=False)


def _figure(value) -> str:
    return "-" if value is None else f"{value:.4g}"


def _t(value) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.strftime("%H:%M") if value is not None else "-"


def _share(value) -> str:
    return "-" if value is None else f"{value:.2%}"


def _rate(value) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _minutes(seconds) -> str:
    return "-" if seconds is None else f"{float(seconds) / 60:.1f} min"
