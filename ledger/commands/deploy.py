"""`ledger deploy verdict`: a change gate a CI/CD pipeline can run during a rollout.

Exit codes: 0 Pass, 1 Fail or Marginal, 3 NoData (too few sessions a side to judge), 2 bad
input (an unknown deploy, one that names no build, a bad option).
"""
from __future__ import annotations

import sys
import time

import click
from rich.table import Table

from ledger.commands.common import EXIT_BAD_INPUT, err, fail, open_history, out, print_json
from ledger.commands.report import parse_instant

EXIT_PASS, EXIT_FAIL, EXIT_NODATA = 0, 1, 3
EXIT_BY_VERDICT = {"Pass": EXIT_PASS, "Marginal": EXIT_FAIL, "Fail": EXIT_FAIL, "NoData": EXIT_NODATA}


@click.group()
def deploy() -> None:
    """Judge deploys from the ledger: do sessions on the new build fare worse?"""


@deploy.command("verdict")
@click.argument("deploy_id", metavar="DEPLOY_ID")
@click.option("--to", metavar="INSTANT", help="Judge the sessions started before this instant "
              "(ISO 8601, UTC if no offset). Default: the end of the history.")
@click.option("--min-sessions", type=click.IntRange(2, None), default=50, show_default=True,
              help="Fewer sessions than this on either side (or for one metric): NoData.")
@click.option("--alpha", type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True), default=0.01,
              show_default=True, help="A difference counts only when its p-value is below this.")
@click.option("--pass-score", type=click.FloatRange(0, 100), default=90.0, show_default=True,
              help="Score (share of metrics that Pass, %) at or above which the deploy passes.")
@click.option("--marginal-score", type=click.FloatRange(0, 100), default=75.0, show_default=True,
              help="Score at or above which a deploy that does not pass is Marginal, not Fail.")
@click.option("--watch", type=click.IntRange(1, None), default=None, metavar="SECONDS",
              help="Judge again every SECONDS during the rollout, until the verdict is Fail or "
                   "Ctrl-C; the exit code is the last verdict's.")
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON.")
@click.pass_obj
def verdict(settings, deploy_id, to, min_sessions, alpha, pass_score, marginal_score, watch,
            as_json) -> None:
    """Compare sessions on DEPLOY_ID's build (canary) with sessions on other builds in the same
    regions since the deploy began (baseline): abnormal-end rate, disconnect rate, reconnect
    success, heartbeat latency p95, matchmaking time p95. Definitions: docs/metrics.md.

    \b
    Exit code: 0 Pass, 1 Fail or Marginal, 3 NoData, 2 bad input.

    \b
    Example:
      ledger deploy verdict DEP-4f2a91
      ledger deploy verdict DEP-4f2a91 --json --pass-score 95
      ledger deploy verdict DEP-4f2a91 --watch 60     # during a rollout
    """
    from analytics.deploy_verdict import judge_deploy
    from analytics.judge import Policy

    if marginal_score > pass_score:
        fail(f"--marginal-score ({marginal_score:g}) must not be above --pass-score ({pass_score:g})",
             EXIT_BAD_INPUT)
    policy = Policy(min_sessions=min_sessions, alpha=alpha, pass_score=pass_score,
                    marginal_score=marginal_score)
    until = parse_instant(to, "--to")
    code = EXIT_NODATA
    try:
        while True:
            with open_history(settings) as warehouse:
                result = judge_deploy(warehouse, deploy_id, to=until, policy=policy)
            _show(result, as_json)
            code = EXIT_BY_VERDICT[result.verdict]
            if watch is None or result.verdict == "Fail":
                break
            err.print(f"[dim]judging again in {watch} s (Ctrl-C stops)[/]", highlight=False)
            time.sleep(watch)
    except KeyboardInterrupt:
        pass
    sys.exit(code)


def _show(result, as_json: bool) -> None:
    if as_json:
        print_json(result.to_json())
        return
    table = Table(title=f"{result.deploy_id} (build {result.build}, regions "
                        f"{', '.join(result.regions) or 'all'}) from {result.from_:%Y-%m-%d %H:%M} "
                        f"to {result.to:%Y-%m-%d %H:%M} UTC: {result.canary_sessions} canary, "
                        f"{result.baseline_sessions} baseline sessions")
    for column in ("metric", "result", "canary", "baseline", "effect", "p-value"):
        table.add_column(column)
    for metric in result.metrics:
        n = metric.numbers
        table.add_row(metric.name + (" (critical)" if metric.critical else ""), metric.result,
                      _figure(n.get("canary"), n.get("canary_n")),
                      _figure(n.get("baseline"), n.get("baseline_n")),
                      _number(n.get("effect")), _number(n.get("p_value")))
    out.print(table)
    score = "-" if result.score is None else f"{result.score:.0f}"
    colour = {"Pass": "green", "Marginal": "yellow", "Fail": "red"}.get(result.verdict, "dim")
    out.print(f"score {score} -> [bold {colour}]{result.verdict}[/]", highlight=False)


def _figure(value, n) -> str:
    return f"{_number(value)} (n={n})" if n is not None else _number(value)


def _number(value) -> str:
    return "-" if value is None else f"{value:.4g}"
