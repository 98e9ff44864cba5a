"""Host metrics from /proc and statvfs: CPU, load, memory, uptime, root filesystem.

Reads files only; spawns no process. CPU percent is the busy share of the time between two
readings of /proc/stat: the previous cycle's counters are kept in `machine.memo`, and the very
first call takes two readings `FIRST_READING_GAP_S` apart so that its sample is real too.
"""

from __future__ import annotations

import time
from typing import Any

from agent.collectors.pve import read_text, to_float
from agent.machine import Machine, SourceError

SOURCE = "host"
TIER = "fast"

FIRST_READING_GAP_S = 0.5
_MEMO_KEY = "host.cpu"


def parse_stat(text: str) -> dict[str, int]:
    """Aggregate CPU counters (in USER_HZ ticks) of `cat /proc/stat`.

    Returns `{"total", "idle", "cpus"}`. `total` sums user..steal; guest and guest_nice are left
    out because the kernel already counts them in user and nice. `idle` includes iowait.
    """
    total = idle = None
    cpus = 0
    for line in text.splitlines():
        if line.startswith("cpu "):
            fields = line.split()[1:]
            try:
                ticks = [int(field) for field in fields[:8]]
            except ValueError:
                raise SourceError("/proc/stat: cpu line is not numeric") from None
            if len(ticks) < 4:
                raise SourceError(f"/proc/stat: cpu line has {len(ticks)} columns, expected >= 4")
            total = sum(ticks)
            idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
        elif line.startswith("cpu") and line[3:4].isdigit():
            cpus += 1
    if total is None or idle is None:
        raise SourceError("/proc/stat: no aggregate cpu line")
    return {"total": total, "idle": idle, "cpus": cpus}


def cpu_percent(previous: dict[str, int], current: dict[str, int]) -> float:
    """Busy CPU share between two `parse_stat` readings, 0-100 (0.0 when no time passed)."""
    elapsed = current["total"] - previous["total"]
    if elapsed <= 0:
        return 0.0
    idle = current["idle"] - previous["idle"]
    busy = min(max(elapsed - idle, 0), elapsed)
    return round(100.0 * busy / elapsed, 2)


def parse_meminfo(text: str) -> dict[str, int]:
    """Memory of `cat /proc/meminfo` in bytes: `{"total", "used", "available"}`.

    Only `Key: value [kB]` lines are read, so the legacy `total: used: free:` table that old
    kernels print first is skipped. Kernels before 3.14 have no MemAvailable; then available is
    estimated as MemFree + Buffers + Cached. used = total - available.
    """
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        fields = rest.split()
        if not sep or not fields or len(fields) > 2 or not fields[0].isdigit():
            continue
        if len(fields) == 2 and fields[1] != "kB":
            continue
        values[key.strip()] = int(fields[0]) * (1024 if len(fields) == 2 else 1)
    if "MemTotal" not in values:
        raise SourceError("/proc/meminfo: no MemTotal")
    total = values["MemTotal"]
    if "MemAvailable" in values:
        available = values["MemAvailable"]
    else:
        available = sum(values.get(key, 0) for key in ("MemFree", "Buffers", "Cached"))
    available = min(available, total)
    return {"total": total, "used": total - available, "available": available}


def parse_loadavg(text: str) -> list[float]:
    """The 1, 5 and 15 minute load averages of `cat /proc/loadavg`."""
    fields = text.split()
    if len(fields) < 3:
        raise SourceError(f"/proc/loadavg: expected 3 load values, got {len(fields)} fields")
    return [to_float(field, "/proc/loadavg") for field in fields[:3]]


def parse_uptime(text: str) -> int:
    """Whole seconds since boot from `cat /proc/uptime` (first field)."""
    fields = text.split()
    if not fields:
        raise SourceError("/proc/uptime: empty")
    uptime = to_float(fields[0], "/proc/uptime")
    if uptime < 0:
        raise SourceError("/proc/uptime: negative uptime")
    return int(uptime)


def _read_stat(machine: Machine) -> dict[str, int]:
    return parse_stat(read_text(machine, "/proc/stat"))


def collect(machine: Machine) -> dict[str, Any]:
    current = _read_stat(machine)
    previous = machine.memo.get(_MEMO_KEY)
    if not isinstance(previous, dict):
        previous = current
        time.sleep(FIRST_READING_GAP_S)
        current = _read_stat(machine)
    machine.memo[_MEMO_KEY] = current
    try:
        fs = machine.statvfs("/")
    except OSError as exc:
        raise SourceError(f"statvfs /: {exc.strerror or exc}") from None
    return {
        "hostname": read_text(machine, "/proc/sys/kernel/hostname").strip(),
        "kernel": read_text(machine, "/proc/sys/kernel/osrelease").strip(),
        "cpu_percent": cpu_percent(previous, current),
        "cpus": current["cpus"],
        "load": parse_loadavg(read_text(machine, "/proc/loadavg")),
        "mem": parse_meminfo(read_text(machine, "/proc/meminfo")),
        "uptime_s": parse_uptime(read_text(machine, "/proc/uptime")),
        "rootfs": {
            "total": fs.f_blocks * fs.f_frsize,
            "used": (fs.f_blocks - fs.f_bfree) * fs.f_frsize,
        },
    }
