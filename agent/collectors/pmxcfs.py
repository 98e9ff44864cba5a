"""Files of pmxcfs (/etc/pve) that hold what `pvesh` would otherwise compute: no process needed.

    /etc/pve/.rrd         `cat /etc/pve/.rrd`: the live status lines pvestatd broadcasts every
                          10 s (pmxcfs status.c, cfs_rrd_dump), one per node, guest and storage,
                          dropped by pmxcfs when older than 5 minutes
    /etc/pve/.vmlist      `cat /etc/pve/.vmlist`: JSON, every guest of the cluster with its node
                          and type (status.c, cfs_create_vmlist_msg)
    /etc/pve/storage.cfg  `cat /etc/pve/storage.cfg`: the storage definitions (SectionConfig)

`/cluster/resources` is computed by PVE from exactly the first two (PVE/API2/Cluster.pm with
PVE::API2Tools::extract_vm_stats), so reading them gives what `pvesh` gave, without starting
a Perl interpreter.

.rrd lines are `key:field:field:...`; `U` (or an empty field) is "unknown". Keys and field
order as pvestatd writes them (pve-manager PVE/Service/pvestatd.pm):

    pve2-node/<node>, pve-node-9.0/<node>    uptime:sublevel:ctime:loadavg:maxcpu:cpu:iowait:
                                             memtotal:memused:swaptotal:swapused:roottotal:
                                             rootused:netin:netout[:memavailable:arcsize:psi x5]
    pve2.3-vm/<vmid>, pve-vm-9.0/<vmid>      uptime:name:status:template:ctime:maxcpu:cpu:
                                             maxmem:mem:maxdisk:disk:netin:netout:diskread:
                                             diskwrite[:memhost:psi x6]
    pve2-storage/<node>/<id>, pve-storage-9.0/<node>/<id>    ctime:total:used

Newer generations (`pve-<type>-<version>/`) only ever append columns (pve-cluster status.c,
update_rrd_data), so an unknown newer version is read by the known leading columns. `cpu` is a
fraction of the guest's own `maxcpu`; net and disk values are counters since guest start.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from agent.collectors.pve import parse_json
from agent.machine import Machine, SourceError

RRD_PATH = "/etc/pve/.rrd"
VMLIST_PATH = "/etc/pve/.vmlist"
STORAGE_CFG_PATH = "/etc/pve/storage.cfg"

# `pve2-node/x`, `pve2.3-vm/100`, `pve2-storage/node/id`, `pve-vm-9.0/100`, `pve-node-9.2/x`
_KEY = re.compile(
    r"^(?:pve(?P<old>2(?:\.\d+)?)-(?P<old_type>node|vm|storage)"
    r"|pve-(?P<new_type>node|vm|storage)-(?P<new>\d+(?:\.\d+)*))/(?P<id>.+)$"
)
GUEST_TYPES = ("qemu", "lxc")

# pve-storage's PVE::Storage::Plugin: types that are shared whatever the config says, and the
# default content of each type when the config names none (plugindata content->[1]).
SHARED_TYPES = frozenset(
    {"iscsi", "nfs", "cifs", "rbd", "cephfs", "iscsidirect", "zfs", "drbd", "pbs"}
)
DEFAULT_CONTENT = {
    "btrfs": "images,rootdir",
    "cifs": "images",
    "cephfs": "backup",
    "dir": "images,rootdir",
    "esxi": "import",
    "iscsi": "images",
    "iscsidirect": "images",
    "lvm": "images",
    "lvmthin": "images,rootdir",
    "nfs": "images",
    "pbs": "backup",
    "rbd": "images",
    "zfs": "images",
    "zfspool": "images,rootdir",
}
# PVE always has a `local` dir storage, even when storage.cfg does not define one.
DEFAULT_LOCAL = {
    "type": "dir",
    "path": "/var/lib/vz",
    "content": "backup,images,iso,rootdir,snippets,vztmpl",
}


class Unavailable(Exception):
    """A pmxcfs file is missing or cannot be read: the caller falls back to `pvesh`."""


class Sourced(NamedTuple):
    """A collector's value and where it came from ("pmxcfs" or "pvesh"): the sample says so."""

    value: Any
    via: str


@dataclass
class RrdDump:
    """The parsed .rrd: fields per node, per vmid and per (node, storage), newest generation."""

    nodes: dict[str, list[str | None]] = field(default_factory=dict)
    guests: dict[int, list[str | None]] = field(default_factory=dict)
    storages: dict[tuple[str, str], list[str | None]] = field(default_factory=dict)
    # Which generation each entry came from, to keep the newest when a cluster mid-upgrade
    # broadcasts both (PVE's get_rrd_key prefers pve-*-9.0 too).
    _generation: dict[tuple[str, Any], tuple[int, ...]] = field(default_factory=dict, repr=False)

    def _put(self, kind: str, key: Any, generation: tuple[int, ...], fields: list[Any]) -> None:
        seen = self._generation.get((kind, key))
        if seen is not None and seen > generation:
            return
        self._generation[(kind, key)] = generation
        getattr(self, kind)[key] = fields


def parse_rrd(text: str) -> RrdDump:
    """The status lines of `cat /etc/pve/.rrd` (both key generations).

    Lines PVE itself would skip (no key, fewer than two fields) are skipped, as are keys of a
    type this parser does not know; a vmid that is not a number is skipped too. pmxcfs ends the
    dump with a NUL byte, which is ignored.
    """
    dump = RrdDump()
    for line in text.replace("\0", "").splitlines():
        key, *values = line.split(":")
        match = _KEY.match(key)
        if match is None or len(values) < 2:
            continue
        kind = match.group("old_type") or match.group("new_type")
        version = match.group("old") or match.group("new")
        generation = tuple(int(part) for part in version.split("."))
        fields = [None if value in ("U", "") else value for value in values]
        ident = match.group("id")
        if kind == "node" and "/" not in ident:
            dump._put("nodes", ident, generation, fields)
        elif kind == "vm" and ident.isdigit():
            dump._put("guests", int(ident), generation, fields)
        elif kind == "storage" and ident.count("/") == 1:
            node, storage = ident.split("/")
            if node and storage:
                dump._put("storages", (node, storage), generation, fields)
    return dump


def parse_vmlist(text: str) -> dict[int, dict[str, str]]:
    """`cat /etc/pve/.vmlist`: `{vmid: {"node", "type"}}` for every qemu and lxc guest.

    An empty cluster has only `{"version": N}`. Anything that is not this JSON shape is a
    SourceError naming the file.
    """
    value = parse_json(text.replace("\0", ""), VMLIST_PATH)
    if not isinstance(value, dict):
        raise SourceError(f"{VMLIST_PATH}: expected an object")
    ids = value.get("ids", {})
    if not isinstance(ids, dict):
        raise SourceError(f"{VMLIST_PATH}: `ids` is not an object")
    guests: dict[int, dict[str, str]] = {}
    for vmid, entry in ids.items():
        if not (isinstance(vmid, str) and vmid.isdigit() and isinstance(entry, dict)):
            raise SourceError(f"{VMLIST_PATH}: bad entry {vmid!r:.40}")
        node, kind = entry.get("node"), entry.get("type")
        if not isinstance(node, str) or kind not in GUEST_TYPES:
            continue  # a guest type this agent does not know is not one of ours
        guests[int(vmid)] = {"node": node, "type": kind}
    return guests


_SECTION = re.compile(r"^(\S+):\s*(\S+)\s*$")
_PROPERTY = re.compile(r"^\s+(\S+)(?:\s+(.*\S))?\s*$")


def parse_storage_cfg(text: str) -> list[dict[str, str]]:
    """`cat /etc/pve/storage.cfg`: one dict per section, `type` and `storage` plus its properties.

    The SectionConfig format: `<type>: <id>` at the start of a line, then indented
    `<key> <value>` lines up to a blank line; a key without a value is a flag (`1`). `#` lines
    are comments. A property line outside a section is skipped, as PVE skips it.
    """
    sections: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    for line in text.splitlines():
        if not line.strip():
            current = None
            continue
        if line.lstrip().startswith("#"):
            continue
        header = _SECTION.match(line)
        if header:
            current = {"type": header.group(1).lower(), "storage": header.group(2)}
            sections.append(current)
            continue
        prop = _PROPERTY.match(line)
        if prop and current is not None:
            key, value = prop.group(1), prop.group(2)
            if key not in ("type", "storage"):
                current[key] = "1" if value is None else value
    return sections


def split_list(value: str) -> list[str]:
    """PVE's split_list: items separated by commas, semicolons or whitespace."""
    return [item for item in re.split(r"[,;\s]+", value) if item]


def read(machine: Machine, path: str) -> str:
    """A pmxcfs file, or Unavailable (missing, or pmxcfs not mounted/answering)."""
    try:
        return machine.read(path)
    except FileNotFoundError:
        raise Unavailable(f"{path}: missing") from None
    except SourceError as exc:
        raise Unavailable(str(exc)) from None


def number(value: str | None, what: str) -> float | None:
    """A field as a number (Perl prints large values as `1.5e+15`); None stays None."""
    if value is None:
        return None
    try:
        result = float(value)
    except ValueError:
        result = math.nan
    if not math.isfinite(result):  # also `nan` and `1e999`, which Python's float() takes
        raise SourceError(f"{RRD_PATH}: {what}: expected a number, got {value!r:.40}")
    return result


def field_at(fields: list[str | None], index: int) -> str | None:
    """Field `index`, or None when the line is shorter (Perl's split drops trailing empties)."""
    return fields[index] if index < len(fields) else None
