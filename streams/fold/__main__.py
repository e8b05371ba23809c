"""``python -m streams.fold``: one worker process, configured by LEDGER_* variables and flags."""
from __future__ import annotations

import argparse
import sys

from streams.errors import ReaderHalted
from streams.fold.errors import BadWorkerOption
from streams.fold.run import run_worker
from streams.settings import load_settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m streams.fold", description=__doc__)
    parser.add_argument("--web-port", type=int, default=6066, help="port of the HTTP API (default 6066)")
    parser.add_argument("--worker-id", default="worker-1",
                        help="this worker's name; its tables live under <state_dir>/worker/<id>")
    parser.add_argument("--store", choices=("rocksdb", "memory"), default="rocksdb", help="table store")
    parser.add_argument("--loglevel", default="info", help="critical, error, warn, info or debug")
    parser.add_argument("--heartbeat-timeout-s", type=int, default=30,
                        help="seconds without a sign of life before a session is timed out")
    parser.add_argument("--reservation-timeout-s", type=int, default=60,
                        help="seconds a session may wait requested and not started before it is "
                             "timed out (end reason reservation_timed_out)")
    parser.add_argument("--timeout-check-interval-s", type=float, default=30.0,
                        help="how often to look for timed-out sessions")
    parser.add_argument("--spike-threshold", type=int, default=50,
                        help="disconnects in one region-minute that make a disconnect spike")
    parser.add_argument("--finished-retention-s", type=float, default=6 * 3600.0,
                        help="seconds a finished session stays in the live table (0: for ever)")
    parser.add_argument("--stall-after-s", type=float, default=30.0,
                        help="seconds without a run folded, while messages wait, before the worker "
                             "logs a stall and /health answers 503 stalled")
    parser.add_argument("--burn-check-interval-s", type=float, default=30.0,
                        help="how often the SLO burn-rate alerts are evaluated")
    parser.add_argument("--burn-min-events", type=int, default=100,
                        help="events an alert's long window must hold before it may open")
    args = parser.parse_args(argv)
    try:
        run_worker(
            load_settings(), web_port=args.web_port, worker_id=args.worker_id, store=args.store,
            loglevel=args.loglevel, heartbeat_timeout_s=args.heartbeat_timeout_s,
            reservation_timeout_s=args.reservation_timeout_s,
            timeout_check_interval_s=args.timeout_check_interval_s,
            spike_threshold=args.spike_threshold, finished_retention_s=args.finished_retention_s,
            stall_after_s=args.stall_after_s, burn_check_interval_s=args.burn_check_interval_s,
            burn_min_events=args.burn_min_events,
        )
    except BadWorkerOption as error:
        parser.error(str(error))
    except ReaderHalted as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        sys.exit(error.exit_code)


if __name__ == "__main__":
    main()
