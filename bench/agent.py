"""What the agent costs a Proxmox host: memory over time, CPU, and processes spawned per cycle.

    .venv/bin/python -m bench.agent --quick                          # 2 min at 5/10/20 s
    .venv/bin/python -m bench.agent --binary dist/proxmon-agent      # 1 h at 30/300/1800 s

Runs the real agent (`python -m agent run`, or the frozen binary given with --binary) with
--debug on a fake Proxmox host (agent/tests/fakehost.py, --guests guests) against a real
server (liveserver.LiveServer), and every --every seconds reads the agent's processes from
/proc: VmRSS and RssAnon from /proc/<pid>/status, utime+stime and cutime+cstime (the commands
it ran and waited for) from /proc/<pid>/stat. "The agent's processes" are the process started
and its descendants running the same executable: the one-file binary is two, the bootloader
and the Python it unpacks and starts. Processes spawned per tier are the fake host's
calls.log lines (one per command run) divided by the cycles of that tier in the agent's log.

Prints one JSON report on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from agent.tests import fakehost  # noqa: E402
from liveserver import LiveServer  # noqa: E402

HOST = "pve-fake"
TICKS = os.sysconf("SC_CLK_TCK")
WARM_UP_S = 300  # "after 5 min": start-up allocations are done, the trend starts here
QUICK = {"duration": 120.0, "fast": 5, "medium": 10, "slow": 20}
DEFAULTS = {"duration": 3600.0, "fast": 30, "medium": 300, "slow": 1800}
# Which tier runs a command of the fake host (calls.log holds "program arguments").
CALL_TIERS = (
    ("pvesh get /nodes/pve-fake/storage --content backup", "medium"),  # backups
    ("pvesh get /nodes/pve-fake/storage/", "medium"),  # a backup storage's content
    ("pvesh get /nodes/", "fast"),  # storage, only without pmxcfs's files
    ("smartctl ", "slow"),
    ("pvesh get /cluster/resources", "fast"),
    ("zpool ", "fast"),
    ("zfs version", "slow"),
    ("zfs ", "medium"),
    ("qm ", "medium"),
    ("pveversion", "slow"),
    ("apt ", "slow"),
)
CYCLE_TIERS = ("fast", "medium", "slow")
COLLECTED = re.compile(r"collected (fast|medium|slow) seq=\d+ collected_at=\S+ bytes=(\d+)")


def main() -> None:
    args = parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="proxmon-bench-agent-"))
    fake = fakehost.build(workdir / "host", "healthy", args.guests)
    server = LiveServer(workdir / "server", PROXMON_LOG_LEVEL="WARNING")
    token = server.add_host(HOST)
    server.start()
    agent = None
    try:
        agent = start_agent(args, workdir, fake, server.url, token)
        report = measure(args, agent, workdir, fake, server)
    finally:
        if agent is not None and agent.poll() is None:
            agent.kill()
            agent.wait()
        server.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    report["kept"] = str(workdir) if args.keep else None
    text = json.dumps(report, indent=2)
    # one line per timeline row
    text = re.sub(
        r"\[\s+([-\d.]+(?:,\s+[-\d.]+)+)\s+\]", lambda m: f"[{' '.join(m[1].split())}]", text
    )
    print(text)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.agent", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--binary", type=Path, help="run this frozen agent instead of python -m agent"
    )
    parser.add_argument("--guests", type=int, default=50, help="guests on the fake host (50)")
    parser.add_argument("--duration", type=float, help="seconds to run (3600; --quick: 120)")
    parser.add_argument("--fast", type=int, help="fast interval, s (30; --quick: 5)")
    parser.add_argument("--medium", type=int, help="medium interval, s (300; --quick: 10)")
    parser.add_argument("--slow", type=int, help="slow interval, s (1800; --quick: 20)")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between readings (5)")
    parser.add_argument("--quick", action="store_true", help="a 2 min smoke run at 5/10/20 s")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, DB)")
    args = parser.parse_args()
    for name, value in (QUICK if args.quick else DEFAULTS).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.binary is not None:
        args.binary = args.binary.resolve()
        if not os.access(args.binary, os.X_OK):
            parser.error(f"--binary {args.binary}: not an executable file")
    return args


def start_agent(
    args: argparse.Namespace, workdir: Path, fake: fakehost.FakeHost, url: str, token: str
) -> subprocess.Popen:
    config = workdir / "agent.toml"
    config.write_text(
        f'server_url = "{url}"\ntoken = "{token}"\nhost = "{HOST}"\n[intervals]\n'
        f"fast_seconds = {args.fast}\nmedium_seconds = {args.medium}\nslow_seconds = {args.slow}\n"
    )
    config.chmod(0o600)
    options = ["run", "--config", str(config), "--root", str(fake.root), "--debug"]
    (workdir / "tmp").mkdir()  # TMPDIR: where the one-file binary unpacks itself
    env = {**fake.env(), "TMPDIR": str(workdir / "tmp")}
    env.pop("JOURNAL_STREAM", None)
    if args.binary is not None:
        argv = [str(args.binary), *options]
    else:
        argv = [sys.executable, "-m", "agent", *options]
        env["PYTHONPATH"] = str(REPO)
    args.agent_argv = argv
    with open(workdir / "agent.log", "w") as log:
        return subprocess.Popen(argv, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stderr=log)


# --- /proc -------------------------------------------------------------------------------------


def read_process(pid: int) -> dict[str, Any] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # fields from 3 (state) on; comm may hold spaces
    kib = {
        key: int(value.split()[0])
        for key, value in (line.split(":", 1) for line in status.splitlines() if ":" in line)
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem")
    }
    return {
        "pid": pid,
        "ppid": int(fields[1]),
        "cpu_s": (int(fields[11]) + int(fields[12])) / TICKS,
        "children_cpu_s": (int(fields[13]) + int(fields[14])) / TICKS,
        "threads": int(fields[17]),
        "fds": fds,
        **kib,
    }


def exe(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return ""


def agent_processes(root: int) -> list[dict[str, Any]]:
    """The started process and its descendants that run the same executable, root first."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents.setdefault(int(stat[stat.rindex(")") + 2 :].split()[1]), []).append(int(entry))
    program = exe(root)
    found, todo = [], [root]
    while todo:
        pid = todo.pop(0)
        if pid != root and exe(pid) != program:
            continue
        process = read_process(pid)
        if process is not None:
            found.append(process)
            todo.extend(parents.get(pid, []))
    return found


def reading(root: int, started: float) -> dict[str, Any]:
    processes = agent_processes(root)
    # The process running Python is the innermost one; its cutime/cstime are the commands.
    main = processes[-1] if processes else {}
    return {
        "t": round(time.monotonic() - started, 1),
        "processes": len(processes),
        "rss_kib": sum(p.get("VmRSS", 0) for p in processes),
        "anon_kib": sum(p.get("RssAnon", 0) for p in processes),
        "main_rss_kib": main.get("VmRSS", 0),
        "main_hwm_kib": main.get("VmHWM", 0),
        "cpu_s": round(sum(p["cpu_s"] for p in processes), 2),
        "children_cpu_s": main.get("children_cpu_s", 0.0),
        "threads": main.get("threads", 0),
        "fds": main.get("fds", 0),
    }


# --- the run -----------------------------------------------------------------------------------


def measure(
    args: argparse.Namespace,
    agent: subprocess.Popen,
    workdir: Path,
    fake: fakehost.FakeHost,
    server: LiveServer,
) -> dict[str, Any]:
    log_path = workdir / "agent.log"
    started = time.monotonic()
    readings: list[dict[str, Any]] = []
    start_mark = None  # the first reading after the join and the first sample of each tier
    next_progress = started + 60
    while time.monotonic() - started < args.duration:
        if agent.poll() is not None:
            raise SystemExit(f"the agent exited with {agent.returncode}:\n{log_path.read_text()}")
        readings.append(reading(agent.pid, started))
        if start_mark is None:
            log = log_path.read_text()
            if "joined as" in log and all(f"collected {t} " in log for t in CYCLE_TIERS):
                start_mark = readings[-1]
        if time.monotonic() >= next_progress:
            last = readings[-1]
            print(
                f"{last['t']:.0f} s: rss {last['rss_kib']} KiB, cpu {last['cpu_s']} s, "
                f"children {last['children_cpu_s']} s",
                file=sys.stderr,
            )
            next_progress += 60
        elapsed = time.monotonic() - started
        time.sleep(max(0.0, min(args.every - elapsed % args.every, args.duration - elapsed)))
    unpacked = _unpacked_kib(workdir / "tmp")
    final = reading(agent.pid, started)
    readings.append(final)
    agent.send_signal(signal.SIGTERM)
    exit_status = agent.wait(30)

    log = log_path.read_text()
    cycles = dict.fromkeys(CYCLE_TIERS, 0)
    sizes: dict[str, list[int]] = {tier: [] for tier in cycles}
    for tier, size in COLLECTED.findall(log):
        cycles[tier] += 1
        sizes[tier].append(int(size))
    calls = dict.fromkeys(cycles, 0)
    unknown = []
    for line in fake.calls():
        tier = next((t for prefix, t in CALL_TIERS if line.startswith(prefix)), None)
        if tier is None:
            unknown.append(line)
        else:
            calls[tier] += 1
    stored = dict(
        server.query(
            "SELECT tier, COUNT(*) FROM metrics_sample GROUP BY tier ORDER BY tier",
        )
    )
    mark = start_mark or readings[0]
    steady_s = final["t"] - mark["t"]
    steady_cpu = final["cpu_s"] - mark["cpu_s"]
    steady_children = final["children_cpu_s"] - mark["children_cpu_s"]
    fast_cycles_steady = max(1, round(steady_s / args.fast))
    warm = next((r for r in readings if r["t"] >= min(WARM_UP_S, args.duration / 4)), final)
    window = [r for r in readings if r["t"] >= warm["t"]]
    slope = _slope([(r["t"], r["rss_kib"]) for r in window])
    anon_slope = _slope([(r["t"], r["anon_kib"]) for r in window])
    # The allocator settles over many cycles: its growth slows down, a leak's does not.
    last_half = [r for r in window if r["t"] >= (warm["t"] + final["t"]) / 2]
    late_slope = _slope([(r["t"], r["rss_kib"]) for r in last_half])
    binary = None
    if args.binary is not None:
        size = args.binary.stat().st_size
        binary = {"path": str(args.binary), "bytes": size, "mib": round(size / 2**20, 2)}
    return {
        "command": shlex.join([".venv/bin/python", "-m", "bench.agent", *sys.argv[1:]]),
        "agent_command": shlex.join(args.agent_argv),
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": _machine(),
        "setup": {
            "scenario": "healthy",
            "guests": args.guests,
            "intervals_s": {"fast": args.fast, "medium": args.medium, "slow": args.slow},
            "duration_s": args.duration,
            "reading_every_s": args.every,
        },
        "binary": binary,
        "unpacked_kib": unpacked,
        "rss_kib": {
            "start": mark["rss_kib"],
            "start_at_s": mark["t"],
            "after_5_min": next((r["rss_kib"] for r in readings if r["t"] >= WARM_UP_S), None),
            "end": final["rss_kib"],
            "max": max(r["rss_kib"] for r in readings),
            "main_process_peak": final["main_hwm_kib"],
            "anon_end": final["anon_kib"],
            "processes": final["processes"],
            "trend_from_s": warm["t"],
            "slope_kib_per_hour": round(slope * 3600, 1),
            "anon_slope_kib_per_hour": round(anon_slope * 3600, 1),
            "slope_last_half_kib_per_hour": round(late_slope * 3600, 1),
            "growth_since_trend_start_kib": final["rss_kib"] - warm["rss_kib"],
            # 512 KiB/h would be 12 MiB a day; under 10 min of trend nothing can be told.
            "growing": late_slope * 3600 > 512 if final["t"] - warm["t"] >= 600 else None,
        },
        "cpu": {
            "startup_s": mark["cpu_s"],
            "total_s": final["cpu_s"],
            "steady_s": round(steady_cpu, 2),
            "steady_window_s": steady_s,
            "per_fast_cycle_s": round(steady_cpu / fast_cycles_steady, 4),
            "percent_of_one_core": round(100 * steady_cpu / max(steady_s, 1e-9), 3),
            "children_s": final["children_cpu_s"],
            "children_per_fast_cycle_s": round(steady_children / fast_cycles_steady, 4),
            "children_percent_of_one_core": round(100 * steady_children / max(steady_s, 1e-9), 3),
            "note": "all three tiers and the WebSocket included; commands are the children",
        },
        "cycles": cycles,
        "spawned": {
            tier: {
                "total": calls[tier],
                "per_cycle": round(calls[tier] / cycles[tier], 2) if cycles[tier] else None,
            }
            for tier in cycles
        },
        "spawned_unclassified": unknown[:10],
        "sample_bytes_mean": {
            tier: round(sum(s) / len(s)) if s else None for tier, s in sizes.items()
        },
        "stored": stored,
        "threads": {"start": mark["threads"], "end": final["threads"]},
        "fds": {"start": mark["fds"], "end": final["fds"]},
        "exit_status": exit_status,
        "log_warnings": [line for line in log.splitlines() if " WARNING " in line][:10],
        "log_errors": [
            line for line in log.splitlines() if " ERROR " in line or "Traceback" in line
        ][:10],
        "timeline": [
            [r["t"], r["rss_kib"], r["anon_kib"], r["cpu_s"], r["children_cpu_s"]]
            for r in _thin(readings, 60)
        ],
        "timeline_columns": ["t_s", "rss_kib", "anon_kib", "cpu_s", "children_cpu_s"],
    }


def _slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope, units per second; 0 for fewer than two points."""
    if len(points) < 2:
        return 0.0
    mean_t = sum(t for t, _ in points) / len(points)
    mean_v = sum(v for _, v in points) / len(points)
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / var


def _thin(readings: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    if len(readings) <= count:
        return readings
    step = (len(readings) - 1) / (count - 1)
    return [readings[round(i * step)] for i in range(count)]


def _unpacked_kib(tmp: Path) -> int | None:
    """Size of what the one-file binary unpacked (on a tmpfs /tmp, that is memory too)."""
    folders = [p for p in tmp.glob("_MEI*") if p.is_dir()]
    if not folders:
        return None
    total = sum(f.stat().st_size for folder in folders for f in folder.rglob("*") if f.is_file())
    return total // 1024


def _machine() -> dict[str, Any]:
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    os_name = ""
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("PRETTY_NAME="):
            os_name = line.split("=", 1)[1].strip('"')
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_mib": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20,
        "os": os_name,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


if __name__ == "__main__":
    main()
