"""The fleet-scale table of docs/benchmarks.md, from the reports `scripts/bench --full` wrote.

    .venv/bin/python -m bench.report var/bench

Reads `<pass>-<name>.json` (pass: sqlite, postgres) and prints one Markdown row per
measurement with its goal and both engines side by side; a measurement that did not run shows
as "not run".
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

PASSES = ("sqlite", "postgres")


def load(folder: Path, engine: str, name: str) -> dict | str | None:
    path = folder / f"{engine}-{name}.json"
    if not path.exists():
        return None
    text = path.read_text()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text  # bench.joins prints lines, not JSON


def get(report, *keys):
    for key in keys:
        if not isinstance(report, dict) or key not in report:
            return None
        report = report[key]
    return report


def joins(text, what: str = "burst") -> str | None:
    if not isinstance(text, str):
        return None
    if what == "single":
        found = re.search(r"single join: median ([\d.]+) ms, p90 ([\d.]+) ms", text)
        return found and f"{found[1]} ms (p90 {found[2]} ms)"
    burst = r"burst of 1000: all joined in [\d.]+ s, all online .* after ([\d.]+) s"
    found = re.search(burst, text)
    return found and f"{found[1]} s"


def ms(value) -> str | None:
    return None if value is None else f"{value:,.0f} ms" if value >= 100 else f"{value:g} ms"


def latency(report) -> str | None:
    steady = get(report, "steady")
    if not steady or not steady.get("n"):
        return None
    return f"{ms(steady['p50_ms'])} / {ms(steady['p99_ms'])} (n={steady['n']:,})"


def ceiling(report) -> str | None:
    if not isinstance(report, dict) or report.get("acked_per_s") is None:
        return None
    return (
        f"{report['acked_per_s']:,.0f}/s (server CPU {report['server_cpu_pct_mean']} %,"
        f" machine {report['machine_busy_pct_mean']} %)"
    )


def rows(folder: Path) -> list[tuple[str, str, dict[str, str | None]]]:
    def each(name: str, pick) -> dict[str, str | None]:
        return {engine: pick(load(folder, engine, name)) for engine in PASSES}

    def page(key: str):
        return lambda r: ms(get(r, key, "median_ms"))

    def storm_max(report) -> str | None:
        first = get(report, "ack_timeline")
        if not first:
            return None
        return f"{max(row.get('p99_ms', 0) for row in first[:2]) / 1000:.1f} s"

    return [
        ("ingest ceiling, one server process (fast samples acked/s)", "≥ 1,000/s",
         each("saturate", ceiling)),
        ("ingest ceiling, two server processes", "≥ 1,000/s",
         each("saturate-2proc", ceiling)),
        ("server CPU per sample in-process: decode / store", "",
         each("ingest", lambda r: r and f"{r['decode_ms_median']} / {r['store_ms_median']} ms")),
        ("ack p50 / p99, 1,000 agents at 30 s (steady)", "p99 ≤ 100 ms",
         each("1000-agents", latency)),
        ("ack p50 / p99, 5,000 agents at 30 s (steady)", "p99 ≤ 100 ms",
         each("5000-agents", latency)),
        ("ack p99 in the first minute of 5,000 agents starting", "",
         each("5000-agents", storm_max)),
        ("server RSS with 5,000 agents: idle / peak / end", "",
         each("5000-agents", lambda r: r and f"{r['server_rss_mb_idle']:.0f} / "
              f"{r['server_rss_mb_peak']:.0f} / {r['server_rss_mb_end']:.0f} MB")),
        ("server RSS with 1,000 agents (peak)", "",
         each("1000-agents", lambda r: r and f"{r['server_rss_mb_peak']:.0f} MB")),
        ("restart under 1,000 agents: all online again", "≤ 15 s",
         each("restart-1000", lambda r: get(r, "restart", "all_online_s") is not None
              and f"{r['restart']['all_online_s']} s (half {r['restart']['half_online_s']} s)"
              or None)),
        ("1,000 agents joining at once: all online", "≤ 15 s", each("joins", joins)),
        ("one join (connect, join, bcrypt cost 5, joined)", "",
         each("joins", lambda t: joins(t, "single"))),
        ("storage per host and day", "≤ 5 MB",
         each("storage", lambda r: r and f"{r['stored_mb_per_host_day']} MB")),
        ("overview, 1,000 hosts (warm / first after start)", "≤ 150 ms",
         each("pages", lambda r: r and f"{ms(get(r, 'overview', 'median_ms'))} / "
              f"{ms(get(r, 'overview_cold', 'median_ms'))}")),
        ("search by name / IP / IP prefix / MAC / VMID", "≤ 100 ms",
         each("pages", lambda r: r and " / ".join(
             f"{get(r, k, 'median_ms'):g}" for k in
             ("search_name", "search_ip_exact", "search_ip_prefix", "search_mac", "search_vmid")
         ) + " ms")),
        ("host detail", "", each("pages", page("host_detail"))),
        ("pruning 24 h of 1,000 hosts (2.88 M rows): duration, rows/s", "",
         each("retention", lambda r: get(r, "prune", "duration_s") is not None
              and f"{r['prune']['duration_s']:.0f} s, {r['prune']['rows_per_s']:,}/s" or None)),
        ("longest ingest stall while pruning (probe ack max / p99)", "≤ 1 s",
         each("retention", lambda r: get(r, "probe_acks", "while_pruning", "max_ms") is not None
              and f"{ms(r['probe_acks']['while_pruning']['max_ms'])} / "
              f"{ms(r['probe_acks']['while_pruning']['p99_ms'])}" or None)),
    ]  # fmt: skip


def main(argv: list[str]) -> None:
    folder = Path(argv[0] if argv else "var/bench")
    print("| measurement | goal | SQLite | PostgreSQL + Redis |")
    print("| --- | --- | --- | --- |")
    for label, goal, values in rows(folder):
        cells = [values.get(engine) or "not run" for engine in PASSES]
        print(f"| {label} | {goal} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main(sys.argv[1:])
