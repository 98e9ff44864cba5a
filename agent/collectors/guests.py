"""Runtime state of every guest (QEMU VM and LXC container) of this node.

Read from pmxcfs without starting a process: /etc/pve/.vmlist names the guests of this node,
/etc/pve/.rrd holds pvestatd's status line of each (agent/collectors/pmxcfs.py), the two files
PVE itself builds `/cluster/resources` from. Only when those files are missing or unreadable:
one `pvesh get /cluster/resources --type vm` call per cycle, whatever the number of guests.
`cpu_percent` is relative to the guest's own vCPUs, as PVE reports it (100 = all of them busy).
Templates are kept (they are always stopped) and flagged with the additive key `template`.
A guest without a status line (pvestatd stopped for 5 minutes, or a guest created seconds ago)
is `unknown` with zero counters, as in `/cluster/resources`; its name and template flag then
come from its config file.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agent.collectors import pmxcfs
from agent.collectors.guest_configs import default_name, parse_config
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


# The status line's fields, in pvestatd's order (both generations), as /cluster/resources names
# them; extract_vm_stats reads the same positions. Field 4 is pvestatd's timestamp.
_RRD_FIELDS = {
    "uptime": 0,
    "name": 1,
    "status": 2,
    "template": 3,
    "maxcpu": 5,
    "cpu": 6,
    "maxmem": 7,
    "mem": 8,
    "maxdisk": 9,
    "disk": 10,
    "netin": 11,
    "netout": 12,
    "diskread": 13,
    "diskwrite": 14,
}
_TEXT_FIELDS = ("name", "status")
_FLOAT_FIELDS = ("cpu", "maxcpu")


def from_pmxcfs(
    rrd_text: str,
    vmlist_text: str,
    node: str,
    load_config: Callable[[int, str], dict[str, str] | None] | None = None,
) -> list[dict[str, Any]]:
    """Protocol entries from `cat /etc/pve/.rrd` and `cat /etc/pve/.vmlist` for `node`.

    `load_config(vmid, type)`: the parsed config of a guest that has no status line (for its
    name and template flag); without one, or when it gives None, PVE's default name.
    """
    dump = pmxcfs.parse_rrd(rrd_text)
    entries = []
    for vmid, info in pmxcfs.parse_vmlist(vmlist_text).items():
        if info["node"] != node:
            continue
        entry: dict[str, Any] = {"vmid": vmid, "type": info["type"], "node": node}
        fields = dump.guests.get(vmid)
        if fields is not None:
            entry.update(_from_status_line(vmid, fields))
        else:
            config = load_config(vmid, info["type"]) if load_config else None
            entry.update(_from_config(info["type"], config))
        entries.append(entry)
    return summarize(entries, node)


def _from_status_line(vmid: int, fields: list[str | None]) -> dict[str, Any]:
    entry: dict[str, Any] = {"status": "unknown"}
    for key, index in _RRD_FIELDS.items():
        value = pmxcfs.field_at(fields, index)
        if value is None:
            continue
        if key in _TEXT_FIELDS:
            entry[key] = value
        elif key in _FLOAT_FIELDS:
            entry[key] = pmxcfs.number(value, f"guest {vmid}: {key}")
        else:  # bytes, seconds, 0/1: Perl may print a big one as 1.5e+15
            entry[key] = int(pmxcfs.number(value, f"guest {vmid}: {key}") or 0)
    return entry


def _from_config(guest_type: str, config: dict[str, str] | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"status": "unknown"}
    if config:
        name = config.get("name" if guest_type == "qemu" else "hostname")
        if name is not None:
            entry["name"] = name
        entry["template"] = config.get("template", "0")
    return entry


def _config_loader(machine: Machine, node: str) -> Callable[[int, str], dict[str, str] | None]:
    def load(vmid: int, guest_type: str) -> dict[str, str] | None:
        folder = "qemu-server" if guest_type == "qemu" else "lxc"
        try:
            return parse_config(machine.read(f"/etc/pve/nodes/{node}/{folder}/{vmid}.conf"))
        except (FileNotFoundError, SourceError):
            return None  # destroyed meanwhile, or unreadable: PVE's default name

    return load


def collect(machine: Machine) -> pmxcfs.Sourced:
    node = node_name(machine)
    try:
        rrd_text = pmxcfs.read(machine, pmxcfs.RRD_PATH)
        vmlist_text = pmxcfs.read(machine, pmxcfs.VMLIST_PATH)
    except pmxcfs.Unavailable:
        resources = pvesh_get(machine, "/cluster/resources", "--type", "vm", timeout=TIMEOUT_S)
        return pmxcfs.Sourced(summarize(resources, node), "pvesh")
    guests = from_pmxcfs(rrd_text, vmlist_text, node, _config_loader(machine, node))
    return pmxcfs.Sourced(guests, "pmxcfs")
