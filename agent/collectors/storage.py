"""Proxmox storages of this node, from one `pvesh` call per cycle.

`used` and `total` are null for a storage that is disabled or not active: PVE lists those with
0/0 (placeholders it never measured) or without the keys, and "0 of 0 bytes" would read as an
empty storage instead of an unknown one.
"""

from __future__ import annotations

from typing import Any

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


def collect(machine: Machine) -> list[dict[str, Any]]:
    node = node_name(machine)
    return summarize(pvesh_get(machine, f"/nodes/{node}/storage", timeout=TIMEOUT_S))
