"""``python -m streams.worker``: one worker process, configured by LEDGER_* variables and flags."""
from __future__ import annotations

import argparse

from streams.settings import load_settings
from streams.worker.run import run_worker


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m streams.worker", description=__doc__)
    parser.add_argument("--web-port", type=int, default=6066)
    parser.add_argument("--worker-id", default="worker-1")
    parser.add_argument("--store", choices=("rocksdb", "memory"), default="rocksdb")
    parser.add_argument("--loglevel", default="info")
    parser.add_argument("--heartbeat-timeout-s", type=int, default=30)
    parser.add_argument("--timeout-check-interval-s", type=float, default=30.0)
    parser.add_argument("--spike-threshold", type=int, default=50)
    args = parser.parse_args(argv)
    run_worker(
        load_settings(), web_port=args.web_port, worker_id=args.worker_id, store=args.store,
        loglevel=args.loglevel, heartbeat_timeout_s=args.heartbeat_timeout_s,
        timeout_check_interval_s=args.timeout_check_interval_s,
        spike_threshold=args.spike_threshold,
    )


if __name__ == "__main__":
    main()
