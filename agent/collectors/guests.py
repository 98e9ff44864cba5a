"""Runtime state of every guest (QEMU VM and LXC container) of this node.

One `pvesh get /cluster/resources --type vm` call per cycle, whatever the number of guests.
`cpu_percent` is relative to the guest's own vCPUs, as PVE reports it (100 = all of them busy).
Templates are kept (they are always stopped) and flagged with the additive key `template`.
"""

from __future__ import annotations

from typing import Any

from agent.collectors.guest_configs import default_name
from agent.collectors.pve import (
    load_json,
    node_name,
    pvesh_get,
    to_bool,
    to_float,
    to_int,
    to_str,
)
from agent.machine import Machine, SourceError

SOURCE = "guests"
TIER = "fast"

TIMEOUT_S = 20.0

GUEST_TYPES = ("qemu", "lxc")
_COUNTERS = {
    "mem": "mem",
    "maxmem": "maxmem",
    "disk_read": "diskread",
    "disk_write": "diskwrite",
    "net_in": "netin",
    "net_out": "netout",
}


def parse(text: str, node: str | None = None) -> list[dict[str, Any]]:
    """Guests from `pvesh get /cluster/resources --type vm --output-format json`.

    Accepts the bare list and the API body `{"data": [...]}`; entries that are not qemu/lxc, or
    that belong to another node than `node` (when given), are left out.
    """
    return summarize(load_json(text, "pvesh get /cluster/resources"), node)


def summarize(entries: Any, node: str | None = None) -> list[dict[str, Any]]:
    """Protocol entries from decoded `/cluster/resources` data, sorted by vmid."""
    if not isinstance(entries, list):
        raise SourceError(f"cluster resources: expected a list, got {type(entries).__name__}")
    guests = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise SourceError(f"cluster resources: expected objects, got {type(entry).__name__}")
        if entry.get("type") not in GUEST_TYPES:
            continue
        if node is not None and entry.get("node", node) != node:
            continue
        guests.append(_guest(entry))
    return sorted(guests, key=lambda guest: guest["vmid"])


def _guest(entry: dict[str, Any]) -> dict[str, Any]:
    if "vmid" not in entry:
        raise SourceError("cluster resources: guest without vmid")
    vmid = to_int(entry["vmid"], "cluster resources: vmid")
    where = f"guest {vmid}"
    name = entry.get("name")
    cpus = to_float(entry.get("maxcpu", entry.get("cpus", 0)), f"{where}: maxcpu")
    guest: dict[str, Any] = {
        "vmid": vmid,
        "type": entry["type"],
        "name": default_name(vmid, entry["type"])
        if name is None
        else to_str(name, f"{where}: name"),
        "status": to_str(entry.get("status", "unknown"), f"{where}: status"),
        "uptime_s": to_int(entry.get("uptime", 0), f"{where}: uptime"),
        "cpu_percent": round(100.0 * to_float(entry.get("cpu", 0), f"{where}: cpu"), 2),
        # An LXC cpulimit can make this fractional (0.5); keep whole counts as ints.
        "cpus": int(cpus) if cpus.is_integer() else cpus,
    }
    for key, pve_key in _COUNTERS.items():
        guest[key] = to_int(entry.get(pve_key) or 0, f"{where}: {pve_key}")
    guest["template"] = to_bool(entry.get("template", 0), f"{where}: template")
    return guest


def collect(machine: Machine) -> list[dict[str, Any]]:
    node = node_name(machine)
    resources = pvesh_get(machine, "/cluster/resources", "--type", "vm", timeout=TIMEOUT_S)
    return summarize(resources, node)
