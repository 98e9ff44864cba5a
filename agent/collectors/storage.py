"""Proxmox storages of this node, read from pmxcfs without starting a process.

/etc/pve/storage.cfg gives every storage with its type, content, shared flag, `disable` and
`nodes`; pvestatd's status lines in /etc/pve/.rrd give `used` and `total` of each storage that
was active on this node within the last 5 minutes (agent/collectors/pmxcfs.py). That is what
`/nodes/<node>/storage` computes (PVE::Storage::storage_info), with pvestatd doing the
measuring every 10 s instead of a Perl interpreter every 30 s. Fallback, one `pvesh get
/nodes/<node>/storage` per cycle: when those files are missing or unreadable, or when the .rrd
holds no line of this node at all (pvestatd not running: `pvesh` measures live).

`used` and `total` are null for a storage that is disabled or not active: PVE lists those with
0/0 (placeholders it never measured) or without the keys, and "0 of 0 bytes" would read as an
empty storage instead of an unknown one.
"""

from __future__ import annotations

from typing import Any

from agent.collectors import pmxcfs
from agent.collectors.pve import load_json, node_name, pvesh_get, to_bool, to_int, to_str
from agent.machine import Machine, SourceError

SOURCE = "storage"
TIER = "fast"

TIMEOUT_S = 20.0


def parse(text: str) -> list[dict[str, Any]]:
    """Storages from `pvesh get /nodes/<node>/storage --output-format json`.

    Accepts pvesh's bare list and the HTTP API body `{"data": [...]}`.
    """
    return summarize(load_json(text, "pvesh get /nodes/<node>/storage"))


def summarize(entries: Any) -> list[dict[str, Any]]:
    """Protocol entries from the decoded `/nodes/<node>/storage` data, sorted by storage name."""
    if not isinstance(entries, list):
        raise SourceError(f"storage list: expected a list, got {type(entries).__name__}")
    storages = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise SourceError(f"storage list: expected objects, got {type(entry).__name__}")
        if "storage" not in entry or "type" not in entry:
            raise SourceError("storage list: entry without storage or type")
        name = to_str(entry["storage"], "storage")
        enabled = to_bool(entry.get("enabled", 1), f"storage {name}: enabled")
        active = to_bool(entry.get("active", 0), f"storage {name}: active")
        measured = enabled and active
        storages.append(
            {
                "storage": name,
                "type": to_str(entry["type"], f"storage {name}: type"),
                "enabled": enabled,
                "active": active,
                "shared": to_bool(entry.get("shared", 0), f"storage {name}: shared"),
                "content": _content(entry.get("content", ""), name),
                "used": _bytes(entry, "used", name) if measured else None,
                "total": _bytes(entry, "total", name) if measured else None,
            }
        )
    return sorted(storages, key=lambda storage: storage["storage"])


def _content(value: Any, name: str) -> list[str]:
    text = to_str(value, f"storage {name}: content")
    return sorted({part.strip() for part in text.split(",") if part.strip()})


def _bytes(entry: dict[str, Any], key: str, name: str) -> int | None:
    if entry.get(key) is None:
        return None
    return to_int(entry[key], f"storage {name}: {key}")


def from_pmxcfs(cfg_text: str, rrd_text: str, node: str) -> list[dict[str, Any]]:
    """Protocol entries from `cat /etc/pve/storage.cfg` and `cat /etc/pve/.rrd` for `node`.

    As PVE reads the config (PVE::Storage::Plugin::parse_config): `local` is always a dir
    storage on /var/lib/vz, available on every node; a type's default content applies when the
    config names none; network types are shared whatever `shared` says. A storage is enabled
    unless `disable` is set or `nodes` leaves this node out; active when pvestatd reported it.
    """
    dump = pmxcfs.parse_rrd(rrd_text)
    ids: dict[str, dict[str, str]] = {}
    for section in pmxcfs.parse_storage_cfg(cfg_text):
        ids.setdefault(section["storage"], section)  # PVE rejects a repeated id: first wins
    local = ids.get("local")
    if local is None or local["type"] != "dir" or local.get("path", "/var/lib/vz") != "/var/lib/vz":
        ids["local"] = {"storage": "local", **pmxcfs.DEFAULT_LOCAL}
    ids["local"] = {key: value for key, value in ids["local"].items() if key != "nodes"}
    entries = []
    for name, section in ids.items():
        kind = section["type"]
        nodes = pmxcfs.split_list(section.get("nodes", ""))
        disabled = to_bool(section.get("disable", "0"), f"storage {name}: disable")
        enabled = not disabled and (not nodes or node in nodes)
        fields = dump.storages.get((node, name)) if enabled else None
        shared = kind in pmxcfs.SHARED_TYPES or to_bool(
            section.get("shared", "0"), f"storage {name}: shared"
        )
        entry: dict[str, Any] = {
            "storage": name,
            "type": kind,
            "enabled": enabled,
            "active": fields is not None,
            "shared": shared,
            "content": section.get("content") or pmxcfs.DEFAULT_CONTENT.get(kind, ""),
        }
        if fields is not None:
            for key, index in (("total", 1), ("used", 2)):
                value = pmxcfs.number(pmxcfs.field_at(fields, index), f"storage {name}: {key}")
                entry[key] = int(value or 0)
        entries.append(entry)
    return summarize(entries)


def collect(machine: Machine) -> pmxcfs.Sourced:
    node = node_name(machine)
    try:
        cfg_text = pmxcfs.read(machine, pmxcfs.STORAGE_CFG_PATH)
        rrd_text = pmxcfs.read(machine, pmxcfs.RRD_PATH)
        if node not in pmxcfs.parse_rrd(rrd_text).nodes:
            raise pmxcfs.Unavailable(f"{pmxcfs.RRD_PATH}: no status of {node} (pvestatd?)")
    except pmxcfs.Unavailable:
        storages = pvesh_get(machine, f"/nodes/{node}/storage", timeout=TIMEOUT_S)
        return pmxcfs.Sourced(summarize(storages), "pvesh")
    return pmxcfs.Sourced(from_pmxcfs(cfg_text, rrd_text, node), "pmxcfs")
