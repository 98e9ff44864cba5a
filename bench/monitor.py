"""What a benchmark reads off running processes: memory, CPU, file descriptors, samples stored.

`Monitor` polls the server's processes (and the fleet's) every 2 s from /proc in a thread;
`latency_stats` and `ack_timeline` fold the fleet's ack latencies. Used by bench/scale.py and
bench/retention.py.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from liveserver import LiveServer

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


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


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of each thread of a process (/proc/PID/task/TID/stat utime+stime; /proc/TID
    itself would give the whole process's)."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue  # the thread ended meanwhile
        fields = stat[stat.rindex(")") + 2 :].split()
        found[int(task.name)] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return found


def thread_shares(pid: int, before: dict[int, float], seconds: float) -> dict[str, float]:
    """% of one core per thread since `before`: the event loop's thread (the main one) and the
    busiest others. A thread at 100 % is the ceiling, whatever the process total says."""
    after = thread_cpu(pid)
    used = {tid: after[tid] - before.get(tid, 0.0) for tid in after}
    main = used.pop(pid, 0.0)
    shares: dict[str, float] = {"main (event loop)": round(100 * main / seconds)}
    for i, busy in enumerate(sorted(used.values(), reverse=True)[:3]):
        shares[f"thread {i + 1}"] = round(100 * busy / seconds)
    return shares


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
        self.servers = (server, *others)
        self.retired_cpu = 0.0  # CPU seconds of server processes that were restarted
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

    @property
    def pids(self) -> list[int | None]:
        """The server's processes now: a server being restarted has none (None)."""
        return [s.process.pid if s.process else None for s in self.servers]

    def total(self, read):
        """`read(pid)` summed over the server's processes; None if one could not be read."""
        values = [read(pid) if pid else None for pid in self.pids]
        if None in values:
            return None
        return round(sum(values) + (self.retired_cpu if read is cpu_seconds else 0), 2)

    def retire(self, server: LiveServer) -> None:
        """`server` is about to be stopped and started again: keep counting its CPU so far."""
        assert server.process is not None, "retire() of a server that was never started"
        self.retired_cpu += cpu_seconds(server.process.pid) or 0.0

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
        out: list[dict] = []
        bucket: list[dict] = []
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


def server_log_summary(servers) -> dict:
    """What the server processes logged: errors (the first one quoted), and the garbage
    collections over 100 ms that `manage.py serve` reports (a pause of the whole process)."""
    lines = [line for server in servers for line in server.log().splitlines()]
    errors = [line for line in lines if "ERROR" in line or "Traceback" in line]
    by_generation: dict[str, list[float]] = {}
    for line in lines:
        if "garbage collection of generation" in line:
            generation = line.split("generation ")[1].split(" ")[0]
            took = float(line.split(" took ")[1].split(" ms")[0])
            by_generation.setdefault(generation, []).append(took)
    pauses = [took for tooks in by_generation.values() for took in tooks]
    summary: dict = {
        "server_errors_logged": len(errors),
        "gc_pauses_over_100ms": {
            "n": len(pauses),
            "max_ms": max(pauses, default=None),
            "sum_ms": round(sum(pauses)),
            "by_generation": {
                g: {"n": len(t), "max_ms": max(t), "sum_ms": round(sum(t))}
                for g, t in sorted(by_generation.items())
            },
        },
    }
    if errors:
        summary["first_server_error"] = errors[0][:300]
        summary["database_is_locked_lines"] = sum("database is locked" in line for line in lines)
    return summary


LAG_PERIOD_S = 0.01
LAG_REPORTED_S = 0.05


async def watch_lag(lags: list[tuple[float, float]], began: float) -> None:
    """Append (s after `began` on the perf_counter clock, ms) whenever the running loop woke more
    than 50 ms late. In a load generator its ack times then include the delay, and what it
    could not send meanwhile goes out together: a burst the server did not cause."""
    loop = asyncio.get_running_loop()
    while True:
        before = loop.time()
        await asyncio.sleep(LAG_PERIOD_S)
        late = loop.time() - before - LAG_PERIOD_S
        if late > LAG_REPORTED_S:
            lags.append((round(time.perf_counter() - began, 2), round(late * 1000, 1)))
