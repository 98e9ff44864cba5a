"""History (issue 13): its size per host and year, the time of a year's chart data, the cost of
the roll-up pass.

    .venv/bin/python -m bench.history size [--hosts 2] [--days 365] [--five-minute-span 3600]
    .venv/bin/python -m bench.history series [--hosts 1000] [--days 365] [--repeats 20]
    .venv/bin/python -m bench.history ceiling [--agents 20] [--duration 60]
    .venv/bin/python -m bench.history pass [--hosts 50] [--samples 20] [--chunk N]
    .venv/bin/python -m bench.history rewrite
    DATABASE_URL=postgres://... .venv/bin/python -m bench.history ...   # a fresh database

Each subcommand is its own module: bench/history_size.py, history_series.py,
history_ceiling.py, history_pass.py (their docstrings say what they simulate).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    from bench.history_ceiling import ceiling
    from bench.history_pass import pass_cost, rewrite_cost
    from bench.history_series import series
    from bench.history_size import size

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    sized = commands.add_parser("size", help="bytes per host per year of history")
    sized.add_argument("--hosts", type=int, default=2)
    sized.add_argument("--days", type=int, default=365, help="days of hourly points")
    sized.add_argument("--five-minute-span", type=int, default=3600, choices=(3600, 86400))
    timed_ = commands.add_parser("series", help="series.json?range=1y with many hosts")
    timed_.add_argument("--hosts", type=int, default=1000)
    timed_.add_argument("--days", type=int, default=365)
    timed_.add_argument("--repeats", type=int, default=20)
    saturated = commands.add_parser("ceiling", help="ingest ceiling without and with rollups")
    saturated.add_argument("--agents", type=int, default=20)
    saturated.add_argument("--duration", type=float, default=60)
    costs = commands.add_parser("pass", help="the roll-up pass's CPU per sample, in-process")
    costs.add_argument("--hosts", type=int, default=50)
    costs.add_argument("--samples", type=int, default=20)
    costs.add_argument("--chunk", type=int, default=0, help="samples per chunk (default: hosts)")
    costs.add_argument("--repeats", type=int, default=3)
    costs.add_argument("--five-minute-span", type=int, default=3600, choices=(3600, 86400))
    commands.add_parser("rewrite", help="CPU to add a point to a full day's row")
    args = parser.parse_args()
    started = time.perf_counter()
    commands_ = {
        "size": size,
        "series": series,
        "ceiling": ceiling,
        "pass": pass_cost,
        "rewrite": rewrite_cost,
    }
    report = commands_[args.command](args)
    report["took_s"] = round(time.perf_counter() - started, 1)
    report["statistics"] = "median and max of repeats, ms" if args.command == "series" else None
    print(json.dumps({k: v for k, v in report.items() if v is not None}, indent=2))


if __name__ == "__main__":
    main()
