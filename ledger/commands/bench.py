"""`ledger bench`: every stage beside its bare-client baseline, written to docs/benchmarks.md."""
from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.table import Table

from ledger.commands.common import EXIT_FOUND_PROBLEMS, err, fail, out, print_json

_SOURCE_TREE = Path(__file__).resolve().parents[2]
_DEFAULT_PAGE = (_SOURCE_TREE / "docs" / "benchmarks.md" if (_SOURCE_TREE / "pyproject.toml").is_file()
                 else Path("benchmarks.md"))
"""The source tree's benchmark page; from an installed package, benchmarks.md here."""


@click.command("bench")
@click.option("--stage", "stages", multiple=True, type=click.Choice(["emit", "decode", "fold", "sink", "replay", "e2e"]),
              help="Run only this stage (repeatable). Default: all, in pipeline order.")
@click.option("--quick", is_flag=True, help="Small runs that check the benchmarks work; figures not for quoting.")
@click.option("--out", "page", type=click.Path(dir_okay=False, path_type=Path), default=_DEFAULT_PAGE,
              show_default=True, help="Where to write the Markdown page.")
@click.option("--soak", "soak", metavar="DURATION", default=None,
              help="Instead of the stages: sustained load for DURATION (e.g. 10m), sampling memory and lag.")
@click.option("--soak-rate", default=2000.0, show_default=True, type=click.FloatRange(min=1),
              help="Events per second offered during --soak.")
@click.option("--json", "as_json", is_flag=True, help="Print every stage's figures as JSON.")
@click.pass_obj
def bench(settings, stages, quick, page, soak, soak_rate, as_json) -> None:
    """Benchmark each stage against the bare client doing the same work, in one run.

    \b
    emit:   SessionEmitter (validate + Avro + acks=all) vs a raw kafka-python producer of JSON
    decode: the batch decoder vs bare per-record fastavro on the same bytes
    fold:   the Faust worker's fold vs a bare aiokafka loop applying the same pure fold
    sink:   the history sink into chDB vs a bare insert of the same rows; report query times
    replay: the ledger as of the end of a large window, from the history
    e2e:    emit -> state visible over HTTP -> row in history, lag at 5,000 and 10,000 events/s

    Every stage reports process CPU µs per event beside events/s; the page opens with the
    cores each process would need for 100,000 events/s.

    Starts the local broker if it is not running. Exits 1 when a stage misses a target or fails.
    With --soak, runs emitter -> worker + sink under sustained load instead, samples their
    memory and consumer lag every few seconds, and exits 1 if either grows without bound.

    \b
    Example:
      ledger bench
      ledger bench --stage emit --stage sink --quick --out /tmp/bench.md
      ledger bench --soak 10m
    """
    from bench.suite import STAGES, kept_tail, render_markdown, run_suite
    from ledger.stack import LocalBroker, config_from_settings
    from streams.kafka.topics import ensure_topics, ledger_topics, replication_options

    broker = LocalBroker(config_from_settings(settings))
    if soak:
        _soak(settings, broker, soak, soak_rate, as_json)
        return
    with err.status("starting the local stack") as status:
        broker.up(on_step=status.update)
        ensure_topics(settings.bootstrap_servers, ledger_topics(settings), **replication_options(settings))
        results, context = run_suite(settings.bootstrap_servers, settings.kafka_version,
                                     stages or STAGES, quick,
                                     on_stage=lambda stage: status.update(f"benchmarking {stage}"))
    page.parent.mkdir(parents=True, exist_ok=True)
    kept = kept_tail(page.read_text(encoding="utf-8")) if page.exists() else ""
    page.write_text(render_markdown(results, context) + ("\n" + kept if kept else ""), encoding="utf-8")
    if as_json:
        print_json({"context": context, "stages": [r.__dict__ for r in results]})
    else:
        table = Table(title=f"benchmarks ({'quick' if quick else 'full'}) -> {page}")
        for column in ("stage", "target", "met"):
            table.add_column(column)
        for result in results:
            if result.error:
                table.add_row(result.stage, result.error.splitlines()[0], "[red]failed[/]")
            for target, met in result.targets.items():
                table.add_row(result.stage, target, "[green]yes[/]" if met else "[red]no[/]")
        out.print(table)
    if any(r.error or not all(r.targets.values()) for r in results):
        sys.exit(EXIT_FOUND_PROBLEMS)


def _soak(settings, broker, duration: str, rate: float, as_json: bool) -> None:
    from bench.suite import run_stage
    from ledger.loadgen.faults import parse_duration

    seconds = parse_duration(duration, "--soak")
    with err.status(f"soaking for {duration} at {rate:,.0f} events/s") as status:
        broker.up(on_step=status.update)
        run = run_stage("soak", settings.bootstrap_servers, ["--duration", str(seconds), "--rate", str(rate)],
                        timeout_s=seconds + 600)
    if run.error:
        fail(f"the soak run did not finish: {run.error}", EXIT_FOUND_PROBLEMS)
    result = run.figures
    if as_json:
        print_json(result)
    else:
        table = Table(title=f"soak {duration} at {rate:,.0f} events/s")
        for column in ("series", "first -> last", "slope (2nd half)", "limit", "verdict"):
            table.add_column(column)
        for name, verdict in result["series"].items():
            table.add_row(name, f"{verdict['first']} -> {verdict['last']} {verdict['unit']}",
                          f"{verdict['second_half_slope_per_min']}/min", f"{verdict['threshold_per_min']}/min",
                          "[red]grows[/]" if verdict["grows_without_bound"] else "[green]bounded[/]")
        out.print(table)
    if result["unbounded"]:
        sys.exit(EXIT_FOUND_PROBLEMS)
