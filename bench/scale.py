"""A fleet of N agents against one real server process: ack latency, ingest rate, memory, CPU.

    .venv/bin/python -m bench.scale --agents 1000 --duration 180           # 30 s cadence
    .venv/bin/python -m bench.scale --agents 200 --duration 30 --fast 5    # compressed cadence
    .venv/bin/python -m bench.scale --agents 20 --duration 15 --saturate   # ingest ceiling
    .venv/bin/python -m bench.scale --agents 20 --duration 15 --saturate --raw-same
    eval "$(scripts/services)"; .venv/bin/python -m bench.scale ...        # PostgreSQL + Redis

Starts a LiveServer (`manage.py serve`, daphne) on a fresh database: SQLite, or PostgreSQL when
DATABASE_URL names it; with REDIS_URL set the server uses Redis as channel layer. Registers the
hosts in one `manage.py shell` run (tokens hashed at the LiveServer's bcrypt cost of 4), then
runs bench/fleet.py in a child process with one WebSocket per host: each joins, sends fast /
medium / slow samples at their cadence (random phase) and resends what was not acked. Its
samples are shared templates filled in per host and sample (bench/frames.py), so that the
simulator stays light beside the server; --built-payloads builds every one (bench/payloads.py,
as before 2026-12-07: ~3.5 ms a fast sample, too slow for thousands of agents). Every
2 s it reads the server's RSS (/proc/PID/status VmRSS), CPU (/proc/PID/stat utime+stime, 100 %
is one core), open file descriptors, the fleet process's CPU, and how many samples are stored.

Prints one JSON report: the fleet's own report (acked, acked/s, ack latency p50/p99/max as the
agents saw it, nacks, reconnects, close codes, when the start was acked: every agent's first
three samples) plus server memory (peak, and the highest in the steady part) and CPU, and a
timeline.
Samples still in flight when --duration ends are not in the latency figures (the fleet drops
them); `stored_final - acked` shows how many the server had accepted but not yet acked then.
Only 127.0.0.1 is spoken to.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.enrol import make_hosts, raise_fd_limit, warm  # noqa: E402
from bench.monitor import (  # noqa: E402
    Monitor,
    ack_timeline,
    latency_stats,
    rss_mb,
    server_log_summary,
    thread_cpu,
    thread_shares,
)
from bench.profiling import profile, summarize_profile  # noqa: E402
from liveserver import LiveServer  # noqa: E402


class Restart:
    """The reconnect storm: stop the server at `at` s into the run, start it again at once.

    A clean stop (SIGTERM) marks every host offline, as `serve` does when systemd restarts it;
    the agents see their connection close and come back with their own backoff (bench/fleet.py:
    1 s doubling, with jitter, like the real agent) and resend what was not acked. Counts the
    hosts online in the database every 0.1 s from the moment the server listens again.
    """

    def __init__(self, server: LiveServer, monitor: Monitor, at: float, hosts: int) -> None:
        self.server, self.monitor, self.at, self.hosts = server, monitor, at, hosts
        self.report: dict = {}
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Restart:
        self._thread.start()
        return self

    def join(self, timeout: float) -> dict:
        self._thread.join(timeout)
        return self.report

    def online(self) -> int:
        sql = "SELECT COUNT(*) FROM hosts_host WHERE status = 'online'"
        return self.server.query(sql)[0][0]

    def _run(self) -> None:
        time.sleep(self.at)
        self.report["online_before"] = self.online()
        began = time.monotonic()
        self.monitor.retire(self.server)
        self.server.stop()
        stopped = time.monotonic()
        self.report["online_after_stop"] = self.online()
        self.server.start(timeout=120)
        listening = time.monotonic()
        self.report.update(stop_s=round(stopped - began, 2), start_s=round(listening - stopped, 2))
        counts: list[tuple[float, int]] = []
        while time.monotonic() - listening < 120:
            try:
                count = self.online()
            except Exception:  # a busy SQLite: read again shortly
                time.sleep(0.1)
                continue
            counts.append((round(time.monotonic() - listening, 1), count))
            if count >= self.hosts:
                break
            time.sleep(0.1)

        def first(share: float) -> float | None:
            return next((t for t, n in counts if n >= share * self.hosts), None)

        self.report.update({
            "half_online_s": first(0.5),
            "p90_online_s": first(0.9),
            "all_online_s": first(1.0),
            "online_at_end_of_watch": counts[-1][1] if counts else None,
            "online_every_second": [n for t, n in counts if t == int(t)][:30],
        })  # fmt: skip


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
        "--built-payloads",
        action="store_true",
        help="build every sample with bench/payloads.py (~3.5 ms each) instead of filling in "
        "shared templates (bench/frames.py)",
    )
    p.add_argument("--raw-same", action="store_true", help="agents send raw_same when they may")
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
    p.add_argument(
        "--restart-at",
        type=float,
        help="stop and start the server this many seconds into the run (reconnect storm)",
    )
    p.add_argument("--profile", type=Path, help="py-spy record the server into this raw file")
    p.add_argument("--profile-delay", type=float, default=10)
    p.add_argument("--profile-seconds", type=float, default=15)
    p.add_argument("--profile-gil", action="store_true", help="sample only the GIL holder")
    p.add_argument("--timeline", type=float, default=10, help="seconds per timeline row; 0: none")
    p.add_argument("--keep", action="store_true", help="keep the work folder (logs, tokens)")
    p.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the server processes, e.g. PROXMON_ALERTS=false (repeatable)",
    )
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
    for item in args.server_env:
        name, _, value = item.partition("=")
        env[name] = value
    if os.environ.get("REDIS_URL"):
        env["REDIS_URL"] = os.environ["REDIS_URL"]
    server = LiveServer(workdir, None, **env)
    if args.processes > 1 and (server.engine != "postgresql" or "REDIS_URL" not in env):
        raise SystemExit("--processes needs DATABASE_URL=postgres://... and REDIS_URL")
    if args.restart_at is not None and (args.processes > 1 or args.restart_at >= args.duration):
        raise SystemExit("--restart-at: one server process, and a moment before --duration")
    others = tuple(
        LiveServer(workdir / f"process{i}", server, **env) for i in range(1, args.processes)
    )
    tokens = workdir / "tokens"
    register_s = make_hosts(server, args.agents, tokens)
    warm_s = warm(server, tokens, not args.built_payloads) if args.warm else None
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
        "payloads": "built" if args.built_payloads else "shared",
        "raw_same": args.raw_same,
        "server_env": args.server_env,
        "fd_limit": fd_limit,
        "register_s": round(register_s, 1),
        "warm_s": warm_s,
    }
    try:
        time.sleep(2)  # settle: the liveness thread's first round, imports done
        assert server.process is not None  # started above
        report["server_rss_mb_idle"] = sum(
            rss_mb(s.process.pid) or 0.0 for s in (server, *others) if s.process
        )
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
        if args.raw_same:
            command.append("--raw-same")
        if not args.built_payloads:
            command.append("--shared-payloads")
        if args.ramp:
            command += ["--ramp", str(args.ramp)]
        threads_before, fleet_began = thread_cpu(server.process.pid), time.monotonic()
        fleet = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        monitor = Monitor(server, fleet.pid, others=others).start()
        restart = None
        if args.restart_at is not None:
            restart = Restart(server, monitor, args.restart_at, args.agents).start()
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
        if args.restart_at is None:  # a restarted server is another process
            report["server_threads_cpu_pct"] = thread_shares(
                server.process.pid, threads_before, time.monotonic() - fleet_began
            )
        monitor.stop()
        if restart is not None:
            report["restart"] = restart.join(timeout=150)
        if fleet_error is None and fleet.returncode != 0:
            raise RuntimeError(f"fleet failed ({fleet.returncode}):\n{err[-3000:]}")
        result = json.loads(out) if fleet_error is None else {}
        acks = result.pop("acks", [])
        by_tier = result.pop("acks_by_tier", {})
        if args.keep:  # every ack, to line up with the server's log: [sent s after began_unix, ms]
            (workdir / "acks.json").write_text(
                json.dumps({"began_unix": result.get("began_unix"), "acks": acks})
            )
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
            "start_acked_agents": result.get("start_acked_agents"),
            "start_drained_s": result.get("start_drained_s"),
            "stored_at_end": stored_at_end,
            "stored_final": stored_final,
            **monitor.summary(),
            "server_rss_mb_after": monitor.total(rss_mb),
        })  # fmt: skip
        steady_from = args.duration / 2 if args.steady_after is None else args.steady_after
        lags = result.get("lags", [])
        # The simulator's own loop late by > 50 ms: its acks of that moment count the delay too.
        report["fleet_lags"] = {
            "n": len(lags),
            "max_ms": max((ms for _, ms in lags), default=0.0),
            "steady": [lag for lag in lags if lag[0] >= steady_from][:20],
        }
        if acks:
            report["steady"] = {
                "sent_after_s": steady_from,
                **latency_stats([ms for sent, ms in acks if sent >= steady_from]),
            }
            report["steady_by_tier"] = {
                tier: latency_stats([ms for sent, ms in tier_acks if sent >= steady_from])
                for tier, tier_acks in sorted(by_tier.items())
            }
        steady_rss = [r["rss_mb"] for r in monitor.rows if r["t"] >= steady_from and r["rss_mb"]]
        report["server_rss_mb_steady_max"] = max(steady_rss, default=None)
        if nack_lines:
            report["first_nack"] = nack_lines[0][:200]
        if args.timeline:
            report["timeline"] = monitor.timeline(args.timeline)
            if acks:
                report["ack_timeline"] = ack_timeline(acks, args.timeline)
        report.update(server_log_summary((server, *others)))
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
