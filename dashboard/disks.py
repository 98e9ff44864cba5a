"""The host page's Disks section and each vdev's SMART state (metrics/disks.py facts).

Pure: no ORM. A disk belongs to a pool when one of the pool's vdev names is the disk: ZFS names
leaves by /dev/disk/by-id name (`ata-WDC_..._WD-X`, `/dev/disk/by-id/...-part1`) or by device
(`sda`, `/dev/sda1` with `-P`); `disk_key` reduces both to what `by_id` and `device` hold.
"""

from __future__ import annotations

import re

from metrics.disks import problems

_PART = re.compile(r"-part\d+$")
_DEVICE_PART = re.compile(r"^((?:sd|vd|xvd|hd)[a-z]+)\d+$|^(nvme\d+n\d+)p\d+$")
LEVEL_ORDER = {"critical": 0, "warning": 1, "ok": 2, "asleep": 3, "unknown": 4}


def disk_key(vdev_name: str) -> str:
    """`/dev/disk/by-id/ata-X-part1` -> `ata-X`, `/dev/sda1` -> `sda`, `nvme0n1p2` -> `nvme0n1`."""
    name = vdev_name.rsplit("/", 1)[-1]
    name = _PART.sub("", name)
    found = _DEVICE_PART.match(name)
    return (found.group(1) or found.group(2)) if found else name


def index(disks: list[dict]) -> dict[str, dict]:
    """{device or by-id name: disk}."""
    found: dict[str, dict] = {}
    for disk in disks:
        for name in [*(disk.get("by_id") or []), disk.get("device")]:
            if isinstance(name, str):
                found.setdefault(name, disk)
    return found


def state(disk: dict) -> tuple[str, str]:
    """(level, words) of one disk: critical/warning with its first problem, ok "PASSED",
    asleep (no values yet), unknown (not readable or no health)."""
    found = problems(disk)
    if found:
        level, _, text = found[0]
        return level, text.split(": ", 1)[-1]
    if disk.get("error"):
        return "unknown", "not readable"
    if disk.get("passed") is True:
        return "ok", "PASSED"
    if disk.get("standby"):
        return "asleep", "asleep"
    return "unknown", "–"


def rows(facts: dict, pools: list[dict]) -> list[dict]:
    """Every disk of the slow facts with its state and the pools it belongs to, worst first."""
    disks = (facts.get("slow") or {}).get("disks") or []
    by_name = index(disks)
    members: dict[int, list[str]] = {}
    for pool in pools:
        for _, vdevs in getattr(pool.get("tree"), "sections", []) or []:
            for vdev in vdevs:
                disk = by_name.get(disk_key(vdev.name))
                if disk is not None:
                    vdev.disk = state(disk)
                    names = members.setdefault(id(disk), [])
                    if pool["name"] not in names:
                        names.append(pool["name"])
    shown = []
    for disk in disks:
        level, words = state(disk)
        shown.append({**disk, "level": level, "state": words, "pools": members.get(id(disk), [])})
    return sorted(shown, key=lambda d: (LEVEL_ORDER[d["level"]], d["device"]))
