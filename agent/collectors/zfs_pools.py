"""ZFS pool health, space, errors and scrub state: two commands per cycle, whatever the pool count.

OpenZFS >= 2.3:

    zpool status -j --json-flat-vdevs --json-int
    zpool list -j --json-int

Older OpenZFS (PVE 7.4 / 8.x) rejects `-j`; that is noticed once per Machine (the first cycle
then spawns three processes) and from then on the text of `zpool status -p` and
`zpool list -Hp -o name,size,allocated,free,fragmentation,capacity,health` is parsed instead
(agent/collectors/zfs_text.py). Both paths give the same pool summary (PROTOCOL.md, fast tier).

Counting rules, the same for JSON and text:
- `errors` sums the read/write/checksum counters of every vdev of the pool (root, interior,
  leaves, every class), each vdev once: by guid, else by name (flat output repeats vdevs).
- `vdevs` counts top-level vdevs of every class: data, log, special, dedup, cache and spares.
  Removed-device placeholders (indirect, hole) are not counted.
- `degraded_vdevs` counts leaf devices in DEGRADED, FAULTED, OFFLINE, UNAVAIL or REMOVED. A leaf
  without a state (`-L` output) is not counted; AVAIL and INUSE spares are healthy.
- `health` is the pool state, `data_errors` the pool's `error_count`: a corrupted or degraded
  pool is never summarised as healthy.
- `scan`: function "scrub" | "resilver" (other kinds, e.g. error scrubs, and "never scanned"
  give all nulls); `end_time` is null while scanning; `progress_pct` is issued / to_examine, the
  figure `zpool status` prints as "% done" (examined when issued is missing), set only while
  scanning.
- `last_scrub_end` is the current scan's end when it is a finished scrub. While a scrub or a
  resilver runs, or after a canceled scrub, status no longer tells the last finished scrub:
  null (unknown, not "never").
Sizes are bytes; numbers ZFS prints human-readable ("62.6G") are read approximately, text that
is no number ("-") becomes null. A host with zpool but no pool gives `{"pools": []}`.
"""

from __future__ import annotations

from typing import Any

from agent.collectors.zfs_text import (
    VdevTally,
    load_json,
    no_scan,
    parse_list_text,
    parse_status_text,
    rfc3339,
    run_json,
    to_epoch,
    to_int,
    to_percent,
    to_str,
)
from agent.machine import Machine, SourceError

SOURCE = "zfs_pools"
TIER = "fast"

# Two commands must finish well inside the 30 s fast cycle, even when a pool hangs.
TIMEOUT_S = 10.0

STATUS_JSON_ARGV = ["zpool", "status", "-j", "--json-flat-vdevs", "--json-int"]
LIST_JSON_ARGV = ["zpool", "list", "-j", "--json-int"]
STATUS_TEXT_ARGV = ["zpool", "status", "-p"]
LIST_TEXT_ARGV = [
    "zpool",
    "list",
    "-Hp",
    "-o",
    "name,size,allocated,free,fragmentation,capacity,health",
]

# In the nested layout (no --json-flat-vdevs) the classes sit beside `vdevs`; walking them in
# flat output too costs nothing, since each vdev is counted once.
_VDEV_SECTIONS = ("vdevs", "logs", "dedup", "special", "l2cache", "spares")
_GROUPING_TYPES = frozenset({"root", "mirror", "raidz", "draid", "spare", "replacing"})
_PLACEHOLDER_TYPES = frozenset({"indirect", "hole", "missing"})
_FUNCTIONS = {"SCRUB": "scrub", "RESILVER": "resilver"}
_STATES = {"SCANNING": "scanning", "FINISHED": "finished", "CANCELED": "canceled"}
_SPACE_PROPERTIES = ("size", "allocated", "free", "fragmentation", "capacity", "health")
_MAX_DEPTH = 32  # real vdev trees are about five levels deep


def parse_json(status_text: str, list_text: str) -> dict[str, Any]:
    """The source's data from the output of the two JSON commands (see the module docstring)."""
    status_doc = load_json(status_text, "zpool status")
    list_doc = load_json(list_text, "zpool list")
    return {
        "pools": _merge(_status_parts(status_doc), _space_parts(list_doc)),
        "raw": {"status": status_doc, "list": list_doc},
    }


def parse_text(status_text: str, list_text: str) -> dict[str, Any]:
    """The source's data from `zpool status -p` and `zpool list -Hp -o ...` (OpenZFS < 2.3)."""
    return {
        "pools": _merge(parse_status_text(status_text), parse_list_text(list_text)),
        "raw": {"status_text": status_text, "list_text": list_text},
    }


def parse_status_json(text: str) -> dict[str, dict[str, Any]]:
    """Health, errors, vdev counts and scan per pool from `zpool status -j --json-flat-vdevs
    --json-int` (the nested layout without --json-flat-vdevs and string numbers work too)."""
    return _status_parts(load_json(text, "zpool status"))


def parse_list_json(text: str) -> dict[str, dict[str, Any]]:
    """Size, allocated, free, fragmentation, capacity per pool from `zpool list -j --json-int`."""
    return _space_parts(load_json(text, "zpool list"))


def collect(machine: Machine, *, timeout: float = TIMEOUT_S) -> dict[str, Any]:
    status_text = run_json(machine, STATUS_JSON_ARGV, timeout)
    if status_text is not None:
        list_text = machine.run(LIST_JSON_ARGV, timeout=timeout)
        if _no_pools(status_text, list_text):
            return {"pools": [], "raw": {"status": None, "list": None}}
        return parse_json(status_text, list_text)
    status_text = machine.run(STATUS_TEXT_ARGV, timeout=timeout)
    list_text = machine.run(LIST_TEXT_ARGV, timeout=timeout)
    if _no_pools(status_text, list_text):
        return {"pools": [], "raw": {"status_text": status_text, "list_text": list_text}}
    return parse_text(status_text, list_text)


def _no_pools(status_text: str, list_text: str) -> bool:
    # With no pool imported zpool exits 0, says "no pools available" on stderr and prints
    # nothing; empty output from both commands means exactly that.
    return not status_text.strip() and not list_text.strip()


def _merge(
    status: dict[str, dict[str, Any]], space: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """One summary per pool zpool status reports, in its order. Space is null for a pool that
    zpool list did not show; a pool only zpool list shows (imported between the two commands)
    waits for the next cycle."""
    pools = []
    for name, part in status.items():
        room = space.get(name, {})
        pools.append(
            {
                "name": name,
                "health": part["health"],
                "size": room.get("size"),
                "allocated": room.get("allocated"),
                "free": room.get("free"),
                "fragmentation_pct": room.get("fragmentation_pct"),
                "capacity_pct": room.get("capacity_pct"),
                "errors": part["errors"],
                "data_errors": part["data_errors"],
                "vdevs": part["vdevs"],
                "degraded_vdevs": part["degraded_vdevs"],
                "scan": part["scan"],
                "last_scrub_end": part["last_scrub_end"],
            }
        )
    return pools


def _pools_of(doc: Any, command: str) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise SourceError(f"{command}: expected a JSON object, got {type(doc).__name__}")
    pools = doc.get("pools")
    if pools is None and "output_version" in doc:
        return {}  # a well-formed document about no pools
    if not isinstance(pools, dict):
        raise SourceError(f"{command}: 'pools' is missing or not an object")
    for key, pool in pools.items():
        if not isinstance(pool, dict):
            raise SourceError(f"{command}: pool {key}: expected an object")
    return pools


def _status_parts(doc: Any) -> dict[str, dict[str, Any]]:
    parts = {}
    for key, pool in _pools_of(doc, "zpool status").items():
        name = to_str(pool.get("name"), f"zpool status: pool {key}: name") or key
        what = f"zpool status: pool {name}"
        health = to_str(pool.get("state"), f"{what}: state")
        if not health:
            raise SourceError(f"{what}: no state")
        tally = VdevTally()
        for section in _VDEV_SECTIONS:
            entries = pool.get(section)
            if entries is None:
                continue
            if not isinstance(entries, dict):
                raise SourceError(f"{what}: {section}: expected an object")
            for vdev_key, vdev in entries.items():
                _visit(name, vdev_key, vdev, None, tally, 0)
        scan, last_scrub_end = _scan(pool.get("scan_stats"), what)
        parts[name] = {
            "name": name,
            "health": health,
            **tally.summary(),
            "data_errors": to_int(pool.get("error_count"), f"{what}: error_count"),
            "scan": scan,
            "last_scrub_end": last_scrub_end,
        }
    return parts


def _visit(
    pool: str, key: str, vdev: Any, held_by: str | None, tally: VdevTally, depth: int
) -> None:
    """Count one vdev and, recursively, the children it carries (flat output repeats them)."""
    what = f"zpool status: pool {pool}: vdev {key}"
    if not isinstance(vdev, dict):
        raise SourceError(f"{what}: expected an object")
    if depth > _MAX_DEPTH:
        raise SourceError(f"{what}: vdev tree nested too deeply")
    name = to_str(vdev.get("name"), f"{what}: name") or key
    kind = to_str(vdev.get("vdev_type"), f"{what}: vdev_type")
    parent = to_str(vdev.get("parent"), f"{what}: parent") or held_by
    children = vdev.get("vdevs", {})
    if not isinstance(children, dict):
        raise SourceError(f"{what}: vdevs: expected an object")
    # The nested layout's root carries no vdev_type in some versions; it is named after the pool.
    root = kind == "root" or (kind is None and parent is None and name == pool)
    guid = vdev.get("guid")
    if guid is not None and not isinstance(guid, (int, str)):
        raise SourceError(f"{what}: guid: expected a number or string")
    tally.add(
        ("guid", str(guid)) if guid is not None else ("name", name),
        name=name,
        state=to_str(vdev.get("state"), f"{what}: state"),
        errors=(
            to_int(vdev.get("read_errors"), f"{what}: read_errors") or 0,
            to_int(vdev.get("write_errors"), f"{what}: write_errors") or 0,
            to_int(vdev.get("checksum_errors"), f"{what}: checksum_errors") or 0,
        ),
        # Log, cache, spare and special top-levels carry no parent in flat output.
        top=not root and kind not in _PLACEHOLDER_TYPES and parent in (None, pool),
        interior=root or bool(children) or kind in _GROUPING_TYPES or kind in _PLACEHOLDER_TYPES,
        parent=parent,
    )
    for child_key, child in children.items():
        _visit(pool, child_key, child, name, tally, depth + 1)


def _scan(stats: Any, what: str) -> tuple[dict[str, Any], str | None]:
    """The pool's `scan_stats` (absent when the pool was never scanned) and the last scrub's end."""
    if stats is None:
        return no_scan(), None
    if not isinstance(stats, dict):
        raise SourceError(f"{what}: scan_stats: expected an object")
    function = _FUNCTIONS.get(str(stats.get("function", "")).upper())
    if function is None:
        return no_scan(), None
    state = _STATES.get(str(stats.get("state", "")).upper())
    end = rfc3339(to_epoch(stats.get("end_time"), f"{what}: scan end_time"))
    progress = None
    if state == "scanning":
        end = None
        total = to_int(stats.get("to_examine"), f"{what}: scan to_examine")
        done = to_int(stats.get("issued"), f"{what}: scan issued")
        if done is None:
            done = to_int(stats.get("examined"), f"{what}: scan examined")
        if total and done is not None:
            progress = round(min(100.0, max(0.0, done * 100 / total)), 2)
    scan = {
        "function": function,
        "state": state,
        "start_time": rfc3339(to_epoch(stats.get("start_time"), f"{what}: scan start_time")),
        "end_time": end,
        "errors": to_int(stats.get("errors"), f"{what}: scan errors"),
        "progress_pct": progress,
    }
    finished_scrub = function == "scrub" and state == "finished"
    return scan, (end if finished_scrub else None)


def _space_parts(doc: Any) -> dict[str, dict[str, Any]]:
    parts = {}
    for key, pool in _pools_of(doc, "zpool list").items():
        name = to_str(pool.get("name"), f"zpool list: pool {key}: name") or key
        what = f"zpool list: pool {name}"
        properties = pool.get("properties")
        if not isinstance(properties, dict):
            raise SourceError(f"{what}: 'properties' is missing or not an object")
        value = {prop: _value(properties.get(prop)) for prop in _SPACE_PROPERTIES}
        parts[name] = {
            "size": to_int(value["size"], f"{what}: size"),
            "allocated": to_int(value["allocated"], f"{what}: allocated"),
            "free": to_int(value["free"], f"{what}: free"),
            "fragmentation_pct": to_percent(value["fragmentation"], f"{what}: fragmentation"),
            "capacity_pct": to_percent(value["capacity"], f"{what}: capacity"),
            "health": to_str(value["health"], f"{what}: health"),
        }
    return parts


def _value(entry: Any) -> Any:
    """A property's value: `{"value": ..., "source": {...}}` in zpool list JSON."""
    return entry.get("value") if isinstance(entry, dict) else entry
