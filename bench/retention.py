"""The retention stall: how long ingest waits while the server prunes a big backlog of samples.

    .venv/bin/python -m bench.retention                      # 1,000 hosts, 24 h old, SQLite
    .venv/bin/python -m bench.retention --control            # same rows, none old: the baseline
    eval "$(scripts/services)"; .venv/bin/python -m bench.retention     # PostgreSQL (+ Redis)

Before the server starts, its fresh database gets `--hours` of fast samples for `--hosts` hosts,
one every 30 s per host (24 h x 1,000 hosts = 2.88 M rows), written by one INSERT ... SELECT in
a `manage.py shell` run, time-major (row ids grow with `collected_at`, as live ingest writes
them). Bodies are `codec.compress(b'{}')`, no keyframe. The rows are older than the retention
window (PROXMON_RETENTION_HOURS, 48 h), so the server's background thread prunes them: its
first round runs at start (`serve` starts the liveness thread before it listens), the next ones
every PROXMON_PRUNE_INTERVAL_S (set small here). With --control the same rows are inside the
window and nothing is pruned: the same database size, the same join burst, no pruning.

Right after the server listens, bench/fleet.py (a child process) connects the hosts at a
compressed cadence (--fast) so ingest goes on, and a few probe agents in this process send a
real 58 KB fast sample every --probe-interval seconds, one at a time, recording when each was
sent and how long its ack took: a timeline of the stall. A thread counts the old rows every
second; pruning ran from the first drop of that count to zero.

Prints one JSON report: rows, fill time, prune start/end/duration and rows/s, the longest and
p99 ack latency of the probes while pruning ran (and after it), the fleet's own report, server
memory/CPU and errors logged (e.g. "database is locked").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.enrol import make_hosts, raise_fd_limit, warm  # noqa: E402
from bench.fleet import frame  # noqa: E402
from bench.monitor import Monitor, latency_stats, rss_mb, server_log_summary  # noqa: E402
from bench.payloads import Host as Simulated  # noqa: E402
from liveserver import LiveServer  # noqa: E402

RETENTION_HOURS = 48
STEP_S = 30
# With --prune-after the server starts this long after the fill began (the fill takes ~9 s
# per million rows on SQLite here), so the rows turn old at a known moment of the run.
FILL_ALLOWANCE_S_PER_MILLION = 20

# One statement per engine; `start` is the oldest collected_at (UTC), `step_ms` the spacing of a
# host's samples. Time-major: row ids grow with collected_at, as live ingest writes them.
FILL = """
import time
from django.db import connection, transaction
from metrics import codec
body = codec.compress(b"{{}}")
start, count, step, prefix = {start!r}, {count}, {step_ms}, {prefix!r}
began = time.perf_counter()
with transaction.atomic(), connection.cursor() as cursor:
    cursor.execute("SELECT COALESCE(MAX(id), 0) FROM metrics_sample")
    before = cursor.fetchone()[0]
    if connection.vendor == "postgresql":
        cursor.execute(
            "INSERT INTO metrics_sample"
            " (host_id, tier, collected_at, received_at, keyframe_id, body)"
            " SELECT h.id, 'fast', %s::timestamptz + g * %s * interval '1 millisecond',"
            " %s::timestamptz + g * %s * interval '1 millisecond' + interval '1 second', NULL, %s"
            " FROM generate_series(0, %s - 1) g CROSS JOIN hosts_host h"
            " WHERE h.name LIKE %s ORDER BY g, h.id",
            [start + "+00:00", step, start + "+00:00", step, body, count, prefix + "%"],
        )
    else:
        cursor.execute(
            "WITH RECURSIVE g(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM g WHERE i < %s - 1)"
            " INSERT INTO metrics_sample"
            " (host_id, tier, collected_at, received_at, keyframe_id, body)"
            " SELECT h.id, 'fast',"
            " strftime('%%Y-%%m-%%d %%H:%%M:%%f', %s, '+' || (g.i * %s / 1000.0) || ' seconds'),"
            " strftime('%%Y-%%m-%%d %%H:%%M:%%f', %s,"
            "          '+' || (g.i * %s / 1000.0 + 1) || ' seconds'),"
            " NULL, %s FROM g CROSS JOIN hosts_host h WHERE h.name LIKE %s ORDER BY g.i, h.id",
            [count, start, step, start, step, body, prefix + "%"],
        )
inserted = time.perf_counter() - began
with connection.cursor() as cursor:
    cursor.execute("ANALYZE")  # planner statistics, as a database in service would have
    cursor.execute("SELECT MAX(id) FROM metrics_sample")
    last_id = cursor.fetchone()[0]
print(before + 1, last_id, round(inserted, 1))
"""


def fill(server: LiveServer, prefix: str, count: int, start: datetime, step_ms: int) -> dict:
    """`count` fast samples per host from `start` on, `step_ms` apart; no keyframe, tiny body."""
    code = FILL.format(
        start=start.isoformat(sep=" ", timespec="milliseconds"),
        count=count,
        step_ms=step_ms,
        prefix=prefix,
    )
    began = time.perf_counter()
    first_id, last_id, inserted = server.manage("shell", "-c", code, timeout=1800).split()[-3:]
    return {
        "rows": int(last_id) - int(first_id) + 1,
        "first_id": int(first_id),
        "last_id": int(last_id),
        "insert_s": float(inserted),
        "fill_s": round(time.perf_counter() - began, 1),
        "first_collected_at": start.isoformat(timespec="milliseconds") + "Z",
        "step_ms": step_ms,
    }


class OldRows:
    """Counts the not yet pruned backlog (the filled ids) every second, in a thread."""

    def __init__(self, server: LiveServer, ids: tuple[int, int], started: float) -> None:
        self.server, self.ids, self.started = server, ids, started
        self.readings: list[tuple[float, int, float]] = []  # (t since start, rows, query s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> OldRows:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def count(self) -> int:
        # The prune deletes the oldest first and the filled ids grow with collected_at, so the
        # lowest filled id left says how many are left: one index lookup, where COUNT(*) over
        # millions of rows would cost the machine a good part of a core every second.
        first, last = self.ids
        sql = "SELECT MIN(id) FROM metrics_sample WHERE id BETWEEN ? AND ?"
        lowest = self.server.query(sql, first, last)[0][0]
        return 0 if lowest is None else last - lowest + 1

    def exact(self) -> int:
        sql = "SELECT COUNT(*) FROM metrics_sample WHERE id BETWEEN ? AND ?"
        return self.server.query(sql, *self.ids)[0][0]

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                rows = self.count()
            except Exception:  # locked: try again
                rows = -1
            took = time.monotonic() - began
            if rows >= 0:
                self.readings.append((round(began - self.started, 2), rows, round(took, 3)))
                if rows == 0:
                    return
            self._stop.wait(max(0.0, 1.0 - took))

    def window(self) -> tuple[float | None, float | None]:
        """(first reading below the initial count, first reading at zero), seconds from start."""
        if not self.readings:
            return None, None
        initial = self.readings[0][1]
        began = next((t for t, rows, _ in self.readings if rows < initial), None)
        if began is not None:  # pruning started in the second before that reading
            began = max(0.0, round(began - 1.0, 2))
        ended = next((t for t, rows, _ in self.readings if rows == 0), None)
        return began, ended


async def probe(url: str, name: str, token: str, payload: str, interval: float, stop_at: float,
                started: float, out: list, events: list) -> None:  # fmt: skip
    """One sample at a time: send, wait for its ack, note (sent at, latency, answer), repeat."""
    seq = 0
    while time.monotonic() < stop_at:
        try:
            async with connect(url, max_size=None, open_timeout=60, ping_interval=20) as ws:
                await ws.send(json.dumps({"type": "join", "protocol": 1, "host": name,
                                          "token": token, "agent_version": "probe"}))  # fmt: skip
                reply = json.loads(await ws.recv())
                if reply.get("type") != "joined":
                    raise RuntimeError(f"probe {name} not joined: {reply}")
                while time.monotonic() < stop_at:
                    seq += 1
                    text = frame(seq, "fast", datetime.now(UTC), payload)
                    sent = time.monotonic()
                    await ws.send(text)
                    while True:
                        answer = json.loads(await ws.recv())
                        if answer.get("seq") == seq:
                            break
                    took = time.monotonic() - sent
                    out.append((round(sent - started, 3), round(took * 1000, 1), answer["type"]))
                    await asyncio.sleep(max(0.0, interval - took))
        except (OSError, ConnectionClosed, TimeoutError) as exc:
            code = getattr(getattr(exc, "rcvd", None), "code", None)
            events.append((round(time.monotonic() - started, 1), name, f"closed {code or exc}"))
            await asyncio.sleep(1)


async def run_probes(server, probes, payload, interval, duration, started) -> tuple[list, list]:
    out: list = []
    events: list = []
    stop_at = time.monotonic() + duration
    await asyncio.gather(*(
        probe(server.url, name, token, payload, interval, stop_at, started, out, events)
        for name, token, _ in probes
    ))  # fmt: skip
    return out, events


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hosts", type=int, default=1000)
    p.add_argument("--hours", type=float, default=24, help="old fast samples per host, in hours")
    p.add_argument("--duration", type=float, default=300, help="seconds the fleet runs")
    p.add_argument("--fast", type=float, default=30, help="fleet cadence of fast samples (s)")
    p.add_argument("--probes", type=int, default=4)
    p.add_argument("--probe-interval", type=float, default=0.5)
    p.add_argument("--prune-interval", type=int, default=10, help="PROXMON_PRUNE_INTERVAL_S")
    p.add_argument("--chunk", type=int, help="PROXMON_PRUNE_CHUNK (server default: 1000)")
    p.add_argument(
        "--prune-after",
        type=float,
        default=90,
        help="the rows turn old this many s after the server starts (their times then span"
        " only hours x 120 ms per host); 0: realistic times, old at start, pruned from the"
        " first moment, during the join burst",
    )
    p.add_argument("--control", action="store_true", help="the same rows inside the window")
    p.add_argument("--keep", action="store_true", help="keep the work folder (logs, tokens)")
    args = p.parse_args(argv)

    raise_fd_limit()
    workdir = Path(tempfile.mkdtemp(prefix="proxmon-retention-"))
    env = {
        "PROXMON_LOG_LEVEL": "WARNING",
        "PROXMON_PRUNE_INTERVAL_S": str(args.prune_interval),
        "PROXMON_RETENTION_HOURS": str(RETENTION_HOURS),
    }
    if args.chunk:
        env["PROXMON_PRUNE_CHUNK"] = str(args.chunk)
    if os.environ.get("REDIS_URL"):
        env["REDIS_URL"] = os.environ["REDIS_URL"]
    server = LiveServer(workdir, share=None, **env)
    report: dict = {
        "engine": server.engine,
        "channel_layer": "redis" if server.env.get("REDIS_URL") else "in-memory",
        "control": args.control,
        "prune_after_s": None if args.control else args.prune_after,
        "hosts": args.hosts,
        "fleet_cadence_s": args.fast,
        "prune_chunk": int(server.env.get("PROXMON_PRUNE_CHUNK", 1000)),
    }
    try:
        tokens = workdir / "tokens"
        make_hosts(server, args.hosts, tokens)
        probe_tokens = workdir / "probes"
        make_hosts(server, args.probes, probe_tokens, prefix="probe")
        probes = [line.split() for line in probe_tokens.read_text().splitlines()]
        report["warm_s"] = warm(server, tokens)
        count = int(args.hours * 3600 / STEP_S)
        now = datetime.now(UTC).replace(tzinfo=None)
        retention = timedelta(hours=RETENTION_HOURS)
        if args.control:  # the same rows, inside the window
            start, step_ms = now - retention + timedelta(hours=1), STEP_S * 1000
        elif args.prune_after:
            # all of a host's samples within `count` ms, turning old `prune_after` s after start
            step_ms = 1
            allowance = 5 + FILL_ALLOWANCE_S_PER_MILLION * count * args.hosts / 1e6
            server_at = now + timedelta(seconds=allowance)
            start = server_at + timedelta(seconds=args.prune_after) - retention
            start -= timedelta(milliseconds=count * step_ms)
        else:  # realistic times, old already: pruned from the server's first moment
            start = now - retention - timedelta(minutes=10) - timedelta(hours=args.hours)
            step_ms = STEP_S * 1000
        report["fill"] = {"hours": args.hours, **fill(server, "bench", count, start, step_ms)}
        report["db_mb_before"] = db_size_mb(server)
        payload = json.dumps(Simulated(0, probes[0][0]).data("fast", datetime.now(UTC)),
                             separators=(",", ":"))  # fmt: skip
        if args.prune_after and not args.control:
            wait = (server_at - datetime.now(UTC).replace(tzinfo=None)).total_seconds()
            time.sleep(max(0.0, wait))
        # the count runs from before the server starts: with --prune-after 0 its first prune
        # round begins at once
        started, started_unix = time.monotonic(), time.time()
        if args.prune_after and not args.control:
            old_at = start + timedelta(milliseconds=count * step_ms) + retention
            report["rows_old_at_s"] = round(
                (old_at - datetime.now(UTC).replace(tzinfo=None)).total_seconds(), 1
            )
        counter = None
        if not args.control:
            ids = (report["fill"]["first_id"], report["fill"]["last_id"])
            counter = OldRows(server, ids, started).start()
        server.start()
        report["server_listening_s"] = round(time.monotonic() - started, 1)
        fleet = subprocess.Popen(
            [sys.executable, "-m", "bench.fleet", "--ack-times", "--url", server.url,
             "--tokens", str(tokens),
             "--duration", str(args.duration), "--fast", str(args.fast),
             "--medium", str(args.fast * 10), "--slow", str(args.fast * 60)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        monitor = Monitor(server, fleet.pid).start()
        acks, events = asyncio.run(
            run_probes(server, probes, payload, args.probe_interval, args.duration, started)
        )
        try:
            out, err = fleet.communicate(timeout=150)
            printed = json.loads(out)
        except (subprocess.TimeoutExpired, ValueError):
            fleet.kill()
            out, err = fleet.communicate()
            printed = {"error": f"fleet did not report: {err[-500:]}"}
        result = printed
        # the fleet's acks on this run's clock: seconds since the server was started
        offset = printed.get("began_unix", started_unix) - started_unix
        fleet_acks = [(sent + offset, ms) for sent, ms in printed.get("acks", [])]
        monitor.stop()
        if counter is not None:
            # the backlog may outlast the fleet: wait for it (bounded), ingest is idle by now
            deadline = time.monotonic() + 600
            while counter._thread.is_alive() and time.monotonic() < deadline:
                time.sleep(1)
            counter.stop()
            began, ended = counter.window()
            rows = report["fill"]["rows"]
            took = ended - began if began is not None and ended is not None else None
            report["prune"] = {
                "began_s": began,  # first count below the fill, seconds after the server start
                "ended_s": ended,  # first count at zero
                "duration_s": round(took, 1) if took is not None else None,  # +- 1 s
                "rows_per_s": round(rows / max(took, 1.0)) if took is not None else None,
                "left_unpruned": counter.exact(),
                "count_query_s_max": max((r[2] for r in counter.readings), default=None),
            }
            window = (began or 0.0, ended if ended is not None else float("inf"))
        else:
            window = (0.0, 0.0)
        during = [ms for t, ms, _ in acks if window[0] <= t <= window[1]]
        after = [ms for t, ms, _ in acks if t > window[1]]
        before = [ms for t, ms, _ in acks if t < window[0]]
        report["probe_acks"] = {
            "nacks": sum(1 for *_, kind in acks if kind != "ack"),
            "worst": sorted(acks, key=lambda a: -a[1])[:5],  # (sent at s, ms, answer)
            "disconnects": events[:10],
        }
        if counter is not None:
            report["probe_acks"]["before_pruning"] = latency_stats(before)
            report["probe_acks"]["while_pruning"] = latency_stats(during)
            report["probe_acks"]["after_pruning"] = latency_stats(after)
        else:
            report["probe_acks"]["all"] = latency_stats([ms for _, ms, _ in acks])
        fleet_while = [ms for sent, ms in fleet_acks if window[0] <= sent <= window[1]]
        fleet_after = [ms for sent, ms in fleet_acks if sent > window[1]]
        fleet_before = [ms for sent, ms in fleet_acks if sent < window[0]]
        report["fleet_acks"] = (
            {
                "before_pruning": latency_stats(fleet_before),
                "while_pruning": latency_stats(fleet_while),
                "after_pruning": latency_stats(fleet_after),
            }
            if counter is not None
            else {"all": latency_stats([ms for _, ms in fleet_acks])}
        )
        # by 10 s of sending (server clock): where the stall sits in the run
        report["fleet_ack_timeline"] = [
            {"sent_s": f"{start}-{start + 10}",
             **latency_stats([ms for sent, ms in fleet_acks if start <= sent < start + 10])}
            for start in range(0, int(args.duration) + 10, 10)
        ]  # fmt: skip
        if printed.get("handshake_failures"):
            report["fleet_handshake_failures"] = printed["handshake_failures"]
        report["fleet"] = {
            k: result.get(k)
            for k in ("joined", "acked", "acked_per_s", "ack_ms_p50", "ack_ms_p99", "ack_ms_max",
                      "nacked", "reconnects", "closes", "error")
            if k in result
        }  # fmt: skip
        report.update(monitor.summary())
        report["timeline"] = monitor.timeline(10)
        report.update(server_log_summary((server,)))
        assert server.process is not None  # started above
        report["server_rss_mb_end"] = rss_mb(server.process.pid)
    finally:
        server.stop()
        server.drop()
        if args.keep:
            report["workdir"] = str(workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return report


def db_size_mb(server: LiveServer) -> float:
    if server.engine == "postgresql":
        return round(server.query("SELECT pg_database_size(current_database())")[0][0] / 2**20)
    size = sum(f.stat().st_size for f in server.db_path.parent.glob(server.db_path.name + "*"))
    return round(size / 2**20)


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
