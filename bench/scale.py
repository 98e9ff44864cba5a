"""A fleet of N agents against one real server process: ack latency, ingest rate, memory, CPU.

    .venv/bin/python -m bench.scale --agents 1000 --duration 180           # 30 s cadence
    .venv/bin/python -m bench.scale --agents 200 --duration 30 --fast 5    # compressed cadence
    .venv/bin/python -m bench.scale --agents 20 --duration 15 --saturate   # ingest ceiling
    eval "$(scripts/services)"; .venv/bin/python -m bench.scale ...        # PostgreSQL + Redis

Starts a LiveServer (`manage.py serve`, daphne) on a fresh database: SQLite, or PostgreSQL when
DATABASE_URL names it; with REDIS_URL set the server uses Redis as channel layer. Registers the
hosts in one `manage.py shell` run (tokens hashed at the LiveServer's bcrypt cost of 4), then
runs bench/fleet.py in a child process with one WebSocket per host: each joins, sends fast /
medium / slow samples at their cadence (random phase) and resends what was not acked. Every
2 s it reads the server's RSS (/proc/PID/status VmRSS), CPU (/proc/PID/stat utime+stime, 100 %
is one core), open file descriptors, the fleet process's CPU, and how many samples are stored.

Prints one JSON report: the fleet's own report (acked, acked/s, ack latency p50/p99/max as the
agents saw it, nacks, reconnects, close codes) plus server memory and CPU, and a timeline.
Samples still in flight when --duration ends are not in the latency figures (the fleet drops
them); `stored_final - acked` shows how many the server had accepted but not yet acked then.
Only 127.0.0.1 is spoken to.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from liveserver import LiveServer  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# The mix of bench/pages.py, without "offline" (an agent that leaves would skew the count).
SCENARIOS = ("healthy",) * 8 + ("degraded", "full", "updates", "stale-snapshots")

MAKE_HOSTS = """
from django.db import transaction
from hosts.models import Host, hash_token, new_token
scenarios = {scenarios!r}
rows, lines = [], []
for i in range({n}):
    name, token = "{prefix}%05d" % i, new_token()
    rows.append(Host(name=name, token_hash=hash_token(token)))
    lines.append("%s %s %s" % (name, token, scenarios[i % len(scenarios)]))
with transaction.atomic():
    Host.objects.bulk_create(rows, batch_size=500)
with open({path!r}, "w") as out:
    out.write("\\n".join(lines) + "\\n")
"""


def raise_fd_limit() -> int:
    """Soft limit up to the hard one; child processes (server, fleet) inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def make_hosts(server: LiveServer, count: int, path: Path, prefix: str = "bench") -> float:
    """Register `count` hosts in one shell run; writes `name token scenario` lines to `path`."""
    started = time.perf_counter()
    server.manage(
        "shell",
        "-c",
        MAKE_HOSTS.format(n=count, path=str(path), scenarios=SCENARIOS, prefix=prefix),
    )
    return time.perf_counter() - started


# What hosts that have reported for days already have: a guest index, latest samples, summaries
# and keyframes. One sample per tier per host through the real ingest path, 10 minutes ago, with
# the payloads bench/fleet.py will send (same index, name and scenario), so the fleet's first
# samples cost what samples of a known host cost.
WARM = """
import time
from datetime import UTC, datetime, timedelta
from bench.payloads import Host as Simulated, rfc3339
from hosts.models import Host
from metrics.ingest import ingest
began = time.perf_counter()
known = {{name: (pk, token_hash) for name, pk, token_hash in
         Host.objects.values_list("name", "id", "token_hash")}}
when = datetime.now(UTC) - timedelta(minutes=10)
for i, line in enumerate(open({tokens!r}).read().splitlines()):
    name, _, scenario = line.split()
    simulated = Simulated(i, name, scenario)
    pk, token_hash = known[name]
    for seq, tier in enumerate(("fast", "medium", "slow")):
        frame = {{"type": "sample", "seq": seq, "tier": tier, "collected_at": rfc3339(when),
                 "data": simulated.data(tier, when), "errors": {{}}}}
        ingest(pk, token_hash, frame, when, None)
print(round(time.perf_counter() - began, 1))
"""


def warm(server: LiveServer, tokens: Path) -> float:
    """Run WARM for the hosts of a tokens file; returns its seconds."""
    return float(
        server.manage("shell", "-c", WARM.format(tokens=str(tokens)), timeout=1800).split()[-1]
    )


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs from /proc/stat: idle and iowait count as not busy."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    total = sum(fields[:8])  # guest time is already in user
    return total - fields[3] - fields[4], total


def open_fds(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


class Monitor:
    """Reads server (and client) process figures every `interval` seconds in a thread."""

    def __init__(
        self,
        server: LiveServer,
        client_pid: int | None = None,
        interval: float = 2.0,
        others: tuple[LiveServer, ...] = (),
    ):
        """`others`: further processes of the same server; CPU, RSS and fds are summed."""
        self.server, self.client_pid, self.interval = server, client_pid, interval
        self.pids = [s.process.pid for s in (server, *others)]
        self.rows: list[dict] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Monitor:
        self.t0 = time.monotonic()
        self.cpu0 = self.total(cpu_seconds)
        self.client_cpu0 = cpu_seconds(self.client_pid) if self.client_pid else None
        self.machine0 = machine_busy()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def total(self, read):
        """`read(pid)` summed over the server's processes; None if one could not be read."""
        values = [read(pid) for pid in self.pids]
        return None if None in values else round(sum(values), 2)

    def stored(self) -> int:
        try:
            return self.server.query("SELECT COALESCE(MAX(id), 0) FROM metrics_sample")[0][0]
        except Exception:  # a locked or busy database: no reading this round
            return -1

    def _run(self) -> None:
        last_t, last_cpu, last_client = self.t0, self.cpu0, self.client_cpu0
        last_machine = self.machine0
        last_stored = self.stored()
        while not self._stop.wait(self.interval):
            now = time.monotonic()
            cpu = self.total(cpu_seconds)
            client = cpu_seconds(self.client_pid) if self.client_pid else None
            stored = self.stored()
            machine = machine_busy()
            span = now - last_t
            row = {
                "t": round(now - self.t0, 1),
                "rss_mb": self.total(rss_mb),
                "cpu_pct": round((cpu - last_cpu) / span * 100) if cpu and last_cpu else None,
                "fds": self.total(open_fds),
                # every process on the machine, 100 % = all cores busy
                "machine_pct": round(
                    (machine[0] - last_machine[0]) / max(1, machine[1] - last_machine[1]) * 100
                ),
                "stored_per_s": (
                    round((stored - last_stored) / span, 1)
                    if stored >= 0 and last_stored >= 0
                    else None
                ),
            }
            if client is not None and last_client is not None:
                row["client_cpu_pct"] = round((client - last_client) / span * 100)
            self.rows.append(row)
            last_t, last_cpu, last_client, last_machine = now, cpu, client, machine
            if stored >= 0:
                last_stored = stored

    def summary(self) -> dict:
        rows = self.rows
        now = time.monotonic()
        cpu = self.total(cpu_seconds)
        result = {
            "server_rss_mb_peak": max((r["rss_mb"] for r in rows if r["rss_mb"]), default=None),
            "server_rss_mb_end": rows[-1]["rss_mb"] if rows else None,
            "server_cpu_pct_mean": (
                round((cpu - self.cpu0) / (now - self.t0) * 100) if cpu and self.cpu0 else None
            ),
            "server_cpu_pct_peak_2s": max(
                (r["cpu_pct"] for r in rows if r["cpu_pct"] is not None), default=None
            ),
            "server_fds_peak": max((r["fds"] for r in rows if r["fds"]), default=None),
            "machine_busy_pct_mean": (
                round(sum(r["machine_pct"] for r in rows) / len(rows)) if rows else None
            ),
        }
        client_rows = [r["client_cpu_pct"] for r in rows if "client_cpu_pct" in r]
        if client_rows:
            result["client_cpu_pct_mean"] = round(sum(client_rows) / len(client_rows))
        return result

    def timeline(self, every: float = 10.0) -> list[dict]:
        """The 2 s readings folded into `every`-second rows (means; RSS and fds at the end)."""
        out, bucket = [], []
        for row in self.rows:
            bucket.append(row)
            if row["t"] >= (len(out) + 1) * every or row is self.rows[-1]:

                def mean(key, rows=bucket):
                    values = [r[key] for r in rows if r.get(key) is not None]
                    return round(sum(values) / len(values), 1) if values else None

                out.append({
                    "t": row["t"],
                    "rss_mb": row["rss_mb"],
                    "fds": row["fds"],
                    "cpu_pct": mean("cpu_pct"),
                    "client_cpu_pct": mean("client_cpu_pct"),
                    "machine_pct": mean("machine_pct"),
                    "stored_per_s": mean("stored_per_s"),
                })  # fmt: skip
                bucket = []
        return out


def latency_stats(values: list[float]) -> dict:
    """Count, median, p99 (nearest rank, as bench/fleet.py) and max of latencies in ms."""
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered), 1),
        "p99_ms": round(ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))], 1),
        "max_ms": round(ordered[-1], 1),
    }


def ack_timeline(acks: list[list[float]], every: float) -> list[dict]:
    """Latency of the samples sent in each `every`-second window of the run."""
    rows = []
    end = max((sent for sent, _ in acks), default=0)
    start = 0.0
    while start <= end:
        window = [ms for sent, ms in acks if start <= sent < start + every]
        rows.append({"sent_s": f"{start:g}-{start + every:g}", **latency_stats(window)})
        start += every
    return rows


def profile(
    pid: int, seconds: float, delay: float, path: Path, gil: bool = False
) -> subprocess.Popen:
    """py-spy record of the server, all threads, raw (collapsed stacks) to `path`.

    With `gil`, only the thread holding the GIL is sampled: where the one core Python can use
    goes.
    """
    py_spy = Path(sys.executable).parent / "py-spy"
    command = (
        f"sleep {delay} && exec {py_spy} record -p {pid} -d {int(seconds)} -r 100"
        f" -f raw -o {path} -t --nonblocking{' --gil' if gil else ''}"
    )
    return subprocess.Popen(
        ["sh", "-c", command], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _frame_key(frame: str) -> str:
    """`function (path/to/file.py:123)` -> `function (to/file.py)`: lines of one function merge."""
    name, sep, where = frame.partition(" (")
    if not sep:
        return frame
    file = where.rstrip(")").rsplit(":", 1)[0]
    return f"{name} ({'/'.join(file.split('/')[-2:])})"


def summarize_profile(path: Path, top: int = 25) -> dict:
    """Share of samples per thread, and the functions with the most inclusive / own time."""
    threads: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        thread = frames[0]
        threads[thread] = threads.get(thread, 0) + n
        seen = set()
        for frame in frames[1:]:
            key = _frame_key(frame)
            if key not in seen:
                inclusive[key] = inclusive.get(key, 0) + n
                seen.add(key)
        leaf = _frame_key(frames[-1])
        own[leaf] = own.get(leaf, 0) + n

    def share(table: dict[str, int]) -> list[list]:
        ranked = sorted(table.items(), key=lambda kv: -kv[1])[:top]
        return [[name, round(100 * n / total, 1)] for name, n in ranked]

    return {"samples": total, "threads_pct": share(threads), "inclusive_pct": share(inclusive),
            "own_pct": share(own)}  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--agents", type=int, default=200)
    p.add_argument(
        "--duration", type=float, default=60, help="seconds the fleet runs (joins included)"
    )
    p.add_argument("--fast", type=float, default=30, help="seconds between fast samples")
    p.add_argument("--medium", type=float, help="default: 10 x --fast (300 s at 30 s)")
    p.add_argument("--slow", type=float, help="default: 60 x --fast (1800 s at 30 s)")
    p.add_argument("--saturate", action="store_true", help="fast samples back to back")
    p.add_argument(
        "--in-flight", type=int, default=4, help="unacked samples per agent (--saturate)"
    )
    p.add_argument("--static-payloads", action="store_true", help="build each payload once")
    p.add_argument(
        "--ramp",
        type=float,
        default=0,
        help="agents join evenly over this many seconds (steady state without a join storm)",
    )
    p.add_argument("--skip", type=int, default=0, help="ignore the first N ack latencies")
    p.add_argument(
        "--steady-after",
        type=float,
        help="`steady` latencies: samples sent this many s after the start (default: duration/2)",
    )
    p.add_argument(
        "--warm",
        action="store_true",
        help="before the run, one sample per tier per host through ingest (a known fleet)",
    )
    p.add_argument("--profile", type=Path, help="py-spy record the server into this raw file")
    p.add_argument("--profile-delay", type=float, default=10)
    p.add_argument("--profile-seconds", type=float, default=15)
    p.add_argument("--profile-gil", action="store_true", help="sample only the GIL holder")
    p.add_argument("--timeline", type=float, default=10, help="seconds per timeline row; 0: none")
    p.add_argument("--keep", action="store_true", help="keep the work folder (logs, tokens)")
    p.add_argument(
        "--processes",
        type=int,
        default=1,
        help="server processes on one database (PostgreSQL + Redis); agents spread round robin",
    )
    args = p.parse_args(argv)
    medium = args.medium or args.fast * 10
    slow = args.slow or args.fast * 60

    fd_limit = raise_fd_limit()
    workdir = Path(tempfile.mkdtemp(prefix="proxmon-scale-"))
    env = {"PROXMON_LOG_LEVEL": "WARNING"}
    if os.environ.get("REDIS_URL"):
        env["REDIS_URL"] = os.environ["REDIS_URL"]
    server = LiveServer(workdir, **env)
    if args.processes > 1 and (server.engine != "postgresql" or "REDIS_URL" not in env):
        raise SystemExit("--processes needs DATABASE_URL=postgres://... and REDIS_URL")
    others = tuple(
        LiveServer(workdir / f"process{i}", share=server, **env) for i in range(1, args.processes)
    )
    tokens = workdir / "tokens"
    register_s = make_hosts(server, args.agents, tokens)
    warm_s = warm(server, tokens) if args.warm else None
    server.start()
    for other in others:
        other.start()
    report: dict = {
        "engine": server.engine,
        "channel_layer": "redis" if server.env.get("REDIS_URL") else "in-memory",
        "agents": args.agents,
        "processes": args.processes,
        "mode": "saturate" if args.saturate else f"cadence {args.fast:g}/{medium:g}/{slow:g} s",
        "ramp_s": args.ramp,
        "static_payloads": args.static_payloads or args.saturate,
        "fd_limit": fd_limit,
        "register_s": round(register_s, 1),
        "warm_s": warm_s,
    }
    try:
        time.sleep(2)  # settle: the liveness thread's first round, imports done
        report["server_rss_mb_idle"] = sum(rss_mb(s.process.pid) for s in (server, *others))
        urls = [arg for s in (server, *others) for arg in ("--url", s.url)]
        command = [
            sys.executable, "-m", "bench.fleet", "--ack-times", *urls, "--tokens", str(tokens),
            "--duration", str(args.duration), "--fast", str(args.fast),
            "--medium", str(medium), "--slow", str(slow), "--skip", str(args.skip),
        ]  # fmt: skip
        if args.saturate:
            command += ["--saturate", "--in-flight", str(args.in_flight)]
        if args.static_payloads:
            command.append("--static-payloads")
        if args.ramp:
            command += ["--ramp", str(args.ramp)]
        fleet = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        monitor = Monitor(server, fleet.pid, others=others).start()
        spy = None
        if args.profile:
            spy = profile(
                server.process.pid,
                args.profile_seconds,
                args.profile_delay,
                args.profile,
                args.profile_gil,
            )
        fleet_error = None
        try:
            # The fleet ends at --duration; a session may wait up to 60 s more for a connect or
            # a `joined`. Past that it is stuck (bench/fleet.py --saturate waits forever for
            # acks on a connection the server closed): stop it and report what the server saw.
            out, err = fleet.communicate(timeout=args.duration + 150)
        except subprocess.TimeoutExpired:
            fleet.kill()
            out, err = fleet.communicate()
            fleet_error = f"fleet still running {args.duration + 150:.0f} s after start: killed"
        stored_at_end = monitor.stored()
        monitor.stop()
        if fleet_error is None and fleet.returncode != 0:
            raise RuntimeError(f"fleet failed ({fleet.returncode}):\n{err[-3000:]}")
        result = json.loads(out) if fleet_error is None else {}
        acks = result.pop("acks", [])
        if result.get("handshake_failures"):
            report["handshake_failures"] = result["handshake_failures"]
            report["first_handshake_failure"] = result["first_handshake_failure"]
        nack_lines = [line for line in err.splitlines() if ": nack " in line]
        # let the server finish what it had accepted, then count what it stored
        previous, stored_final = -1, stored_at_end
        for _ in range(60):
            stored_final = monitor.stored()
            if stored_final == previous:
                break
            previous = stored_final
            time.sleep(1)
        if fleet_error:
            report["fleet_error"] = fleet_error
        report.update({
            "duration_s": result.get("duration_s"),
            "joined": result.get("joined"),
            "acked": result.get("acked"),
            "acked_per_s": result.get("acked_per_s"),
            "ack_ms_p50": result.get("ack_ms_p50"),
            "ack_ms_p99": result.get("ack_ms_p99"),
            "ack_ms_max": result.get("ack_ms_max"),
            "nacks": result.get("nacked"),
            "reconnects": result.get("reconnects"),
            "closes": result.get("closes"),
            "stored_at_end": stored_at_end,
            "stored_final": stored_final,
            **monitor.summary(),
            "server_rss_mb_after": monitor.total(rss_mb),
        })  # fmt: skip
        if acks:
            steady_from = args.duration / 2 if args.steady_after is None else args.steady_after
            report["steady"] = {
                "sent_after_s": steady_from,
                **latency_stats([ms for sent, ms in acks if sent >= steady_from]),
            }
        if nack_lines:
            report["first_nack"] = nack_lines[0][:200]
        if args.timeline:
            report["timeline"] = monitor.timeline(args.timeline)
            if acks:
                report["ack_timeline"] = ack_timeline(acks, args.timeline)
        errors = [
            line
            for s in (server, *others)
            for line in s.log().splitlines()
            if "ERROR" in line or "Traceback" in line
        ]
        report["server_errors_logged"] = len(errors)
        pauses = [
            float(line.split(" took ")[1].split(" ms")[0])
            for s in (server, *others)
            for line in s.log().splitlines()
            if "garbage collection of generation" in line
        ]
        report["gc_pauses_over_100ms"] = {"n": len(pauses), "max_ms": max(pauses, default=None)}
        if errors:
            report["first_server_error"] = errors[0][:300]
        if spy is not None:
            spy.wait(timeout=args.profile_delay + args.profile_seconds + 60)
            if args.profile.exists():
                report["profile"] = {"file": str(args.profile), **summarize_profile(args.profile)}
    finally:
        for other in others:
            other.stop()
        server.stop()
        server.drop()
        if args.keep:
            report["workdir"] = str(workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return report


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
